"""The demo (`make demo`): a project-design approval flow, run twice on a local Azurite.

1. a worker starts and takes the hub's control queues;
2. instance A asks for approval and the manager approves it with an external event;
3. instance B asks for approval and nobody answers: the durable timer fires and it escalates.

What happens is printed as it happens (read back from the History table), then each instance's final
status and history. Everything is real storage: open Azure Storage Explorer on the Azurite endpoints to
see the queues, the History and Instances tables and the lease blobs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from typing import Any

import taskhub
from examples.approval import app
from taskhub.client.async_client import TaskHubClient
from taskhub.client.status import decode_json_text
from taskhub.format.history import HistoryEvent
from worker import Worker

TIMEOUT_SECONDS = 6

_BOLD, _DIM, _END = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def say(text: str) -> None:
    print(text, flush=True)


def describe(e: HistoryEvent) -> str:
    """One readable line for a history event."""
    t = e.event_type.name
    name = getattr(e, "name", None)
    if t == "ExecutionStarted":
        return f"started {name} with {decode_json_text(getattr(e, 'input', None))}"
    if t == "TaskScheduled":
        return f"scheduled activity {name} (task {e.event_id})"
    if t == "TaskCompleted":
        return f"task {getattr(e, 'task_scheduled_id', '?')} returned {decode_json_text(getattr(e, 'result', None))!r}"
    if t == "TaskFailed":
        return f"task {getattr(e, 'task_scheduled_id', '?')} failed: {getattr(e, 'reason', '')}"
    if t == "TimerCreated":
        return f"durable timer {e.event_id} set for {getattr(e, 'fire_at', None):%H:%M:%S}"
    if t == "TimerFired":
        return f"timer {getattr(e, 'timer_id', '?')} fired"
    if t == "EventRaised":
        return f"external event {name!r} arrived with {decode_json_text(getattr(e, 'input', None))!r}"
    if t == "ExecutionCompleted":
        status = getattr(e, "orchestration_status", None)
        return (
            f"finished {getattr(status, 'value', status)}: {decode_json_text(getattr(e, 'result', None))!r}"
        )
    return t


async def follow(client: TaskHubClient, label: str, instance_id: str, seen: dict[str, int]) -> None:
    """Print history events of ``instance_id`` that appeared since the last call."""
    try:
        events = await client.get_orchestration_history(instance_id)
    except taskhub.OrchestrationNotFoundError:
        return
    start = seen.get(instance_id, 0)
    episode_time = None  # events from messages carry their send time; show when the worker processed them
    for i, e in enumerate(events):
        if e.event_type.name == "OrchestratorStarted":
            episode_time = e.timestamp
        if i < start or e.event_type.name in ("OrchestratorStarted", "OrchestratorCompleted"):
            continue
        when = episode_time or e.timestamp
        say(f"  {_DIM}{when:%H:%M:%S.%f}"[:-3] + f"{_END}  [{label}] {describe(e)}")
    seen[instance_id] = len(events)


async def run_until_done(
    client: TaskHubClient,
    label: str,
    iid: str,
    seen: dict[str, int],
    *,
    on_waiting: Any = None,
    timeout: float = 60,
) -> taskhub.OrchestrationState:
    deadline = time.monotonic() + timeout
    acted = False
    while True:
        await follow(client, label, iid, seen)
        state = await client.get_orchestration_state(iid)
        if state and state.runtime_status.is_terminal:
            await follow(client, label, iid, seen)
            return state
        if (
            on_waiting
            and not acted
            and state
            and state.runtime_status.value == "Running"
            and seen.get(iid, 0) > 3
        ):
            acted = True
            await on_waiting()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{label} did not finish within {timeout} s")
        await asyncio.sleep(0.25)


def print_summary(label: str, state: taskhub.OrchestrationState, history: list[HistoryEvent]) -> None:
    say(f"\n{_BOLD}{label}: {state.instance_id}{_END}")
    say(f"  status   {state.runtime_status.value}")
    say(f"  output   {state.output!r}")
    took = (
        (state.last_updated_at - state.created_at).total_seconds()
        if state.created_at and state.last_updated_at
        else 0
    )
    say(f"  created  {state.created_at:%Y-%m-%d %H:%M:%S} UTC, finished after {took:.1f} s")
    say("  history  (the History table, RowKey order)")
    for i, e in enumerate(history):
        say(
            f"    {i:016X}  {e.event_type.name:<22} EventId={e.event_id:<3} {describe(e) if e.event_type.name not in ('OrchestratorStarted', 'OrchestratorCompleted') else ''}"
        )


async def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    settings = taskhub.Settings.load("host.json")
    conn = settings.connection.endpoints()
    say(f"{_BOLD}taskhub demo{_END}: hub {settings.hub_name!r} on {conn.get('queue', '?')}")
    async with Worker(app, settings) as worker, TaskHubClient(settings) as client:
        say(f"worker {worker.worker_id} started; waiting for it to own the control queues ...")
        deadline = time.monotonic() + 40
        while len(worker.owned_queues) < settings.storage.partition_count and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        say(
            f"worker owns {', '.join(worker.owned_queues) or 'no queue yet (another worker may hold them)'}\n"
        )
        seen: dict[str, int] = {}
        run = uuid.uuid4().hex[:6]

        proposal = {"project": "Riverside bridge", "designer": "Ada", "budget": 1_200_000}
        a = await client.schedule_new_orchestration(
            "approval_workflow",
            input={"proposal": proposal, "timeout_seconds": 3600},
            instance_id=f"approval-{run}-A",
        )
        say(
            f"{_BOLD}A{_END}: asked for approval of {proposal['project']!r} ({a}); the manager will approve it"
        )

        async def approve() -> None:
            say(
                "  ........  [A] manager clicks 'approve' -> raise_orchestration_event('ApprovalEvent', true)"
            )
            await client.raise_orchestration_event(a, "ApprovalEvent", data=True)

        state_a = await run_until_done(client, "A", a, seen, on_waiting=approve)

        proposal_b = {"project": "Harbour tunnel", "designer": "Grace", "budget": 9_800_000}
        b = await client.schedule_new_orchestration(
            "approval_workflow",
            input={"proposal": proposal_b, "timeout_seconds": TIMEOUT_SECONDS},
            instance_id=f"approval-{run}-B",
        )
        say(
            f"\n{_BOLD}B{_END}: asked for approval of {proposal_b['project']!r} ({b}); "
            f"nobody answers, the {TIMEOUT_SECONDS}-second timer (72 hours in production) escalates it"
        )
        state_b = await run_until_done(client, "B", b, seen, timeout=TIMEOUT_SECONDS + 60)

        for label, st in (("A (approved)", state_a), ("B (escalated)", state_b)):
            print_summary(label, st, await client.get_orchestration_history(st.instance_id))
        ok = state_a.runtime_status.value == "Completed" and state_b.runtime_status.value == "Completed"
    say(
        f"\nInspect it: .venv/bin/taskhub get-runtime-status --id {a} --show-output  (or `source "
        f".venv/bin/activate` first, then the README's commands)\nAzurite keeps running; `make azurite-stop` stops it."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
