"""CLI verbs on orchestration instances, named and flagged like ``func durable``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from taskhub.cli.registry import verb
from taskhub.client.async_client import TaskHubClient
from taskhub.client.status import history_projection
from taskhub.config.settings import Settings
from taskhub.errors import OrchestrationNotFoundError
from taskhub.format.messages import event_to_json_obj


def _json_arg(text: str | None, flag: str) -> Any:
    """A JSON value given inline or as ``@file``."""
    if text is None:
        return None
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ValueError(f"{flag}: cannot read {path}: {err.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{flag}: not valid JSON ({err.msg} at position {err.pos}); quote strings, e.g. '\"text\"'"
        ) from None


def _time_arg(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not an ISO 8601 time such as 2024-05-01T12:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _id(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", required=True, help="instance id")


def _start_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--function-name", required=True, help="orchestrator name")
    p.add_argument("--id", help="instance id (default: a new GUID)")
    p.add_argument("--input", help="input as JSON, or @file")
    p.add_argument("--version", help="the instance's version (default: host.json defaultVersion)")


WORKER_GRACE_S = 3.0
"""How long start-new looks for a worker's lease before warning (a worker started a moment ago may not
hold one yet)."""


async def _worker_seen(client: TaskHubClient) -> bool:
    """True when some worker serves the hub now (``HubAdmin.worker_seen``); looks again for up to
    WORKER_GRACE_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WORKER_GRACE_S
    while True:
        if await client.service.admin.worker_seen():
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.5)


@verb("start-new", "start a new orchestration instance", _start_args)
async def start_new(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    data = _json_arg(ns.input, "--input")
    async with TaskHubClient(settings) as c:
        iid = await c.schedule_new_orchestration(
            ns.function_name, input=data, instance_id=ns.id, version=ns.version
        )
        served = await _worker_seen(c)
    if not served:
        seconds = int(settings.storage.lease_interval.total_seconds())
        print(
            f"taskhub: warning: no worker has held a lease on hub {settings.hub_name}'s control queues in the "
            f"last {seconds} s; the instance stays Pending until one runs (taskhub worker MODULE:APP)",
            file=sys.stderr,
        )
    return {"instanceId": iid}


def _status_args(p: argparse.ArgumentParser) -> None:
    _id(p)
    p.add_argument(
        "--show-input",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="include the instance's input (the default, as in the HTTP status; --no-show-input leaves it out)",
    )
    p.add_argument("--show-output", action="store_true", help="include the output of a finished instance")
    p.add_argument(
        "--wait", type=float, metavar="SECONDS", help="wait up to SECONDS for the instance to finish first"
    )


@verb("get-runtime-status", "show an instance's status", _status_args)
async def get_runtime_status(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHubClient(settings) as c:
        if ns.wait is not None:
            if ns.wait <= 0:
                raise ValueError(f"--wait must be a number of seconds > 0, got {ns.wait:g}")
            try:
                await c.wait_for_orchestration_completion(ns.id, timeout=ns.wait)
            except TimeoutError as err:
                print(f"taskhub: {err}", file=sys.stderr)
        state = await c.get_orchestration_state(ns.id)
    if state is None:
        raise OrchestrationNotFoundError(ns.id)
    out = state.to_dict(show_input=ns.show_input)
    if not ns.show_output:
        out["output"] = None if state.runtime_status.value != "Failed" else out["output"]
    return out


def _history_args(p: argparse.ArgumentParser) -> None:
    _id(p)
    p.add_argument(
        "--raw",
        action="store_true",
        help="every event with its EventId, as stored (what `taskhub replay` and replay_history read)",
    )


@verb("get-history", "show an instance's history", _history_args)
async def get_history(ns: argparse.Namespace, settings: Settings) -> list[dict[str, Any]]:
    async with TaskHubClient(settings) as c:
        events = await c.get_orchestration_history(ns.id)
    if ns.raw:
        return [{**event_to_json_obj(e, typed=False), "EventType": e.event_type.name} for e in events]
    return history_projection(events, show_output=True, show_input=True)


def _query_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--created-after", help="ISO 8601 time")
    p.add_argument("--created-before", help="ISO 8601 time")
    p.add_argument("--runtime-status", nargs="*", help="Running Completed Failed ...")
    p.add_argument("--top", type=int, default=100, help="page size (1-1000)")
    p.add_argument("--continuation-token")


@verb("get-instances", "list instances (one page)", _query_args)
async def get_instances(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHubClient(settings) as c:
        page = await c.query_orchestrations(
            created_from=_time_arg(ns.created_after, "--created-after"),
            created_to=_time_arg(ns.created_before, "--created-before"),
            statuses=ns.runtime_status or None,
            page_size=ns.top,
            continuation_token=ns.continuation_token,
        )
    return {"instances": [s.to_dict() for s in page.items], "continuationToken": page.continuation_token}


def _event_args(p: argparse.ArgumentParser) -> None:
    _id(p)
    p.add_argument("--event-name", required=True)
    p.add_argument("--event-data", help="JSON, or @file")


@verb("raise-event", "send an external event to an instance", _event_args)
async def raise_event(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    data = _json_arg(ns.event_data, "--event-data")
    async with TaskHubClient(settings) as c:
        await c.raise_orchestration_event(ns.id, ns.event_name, data=data)
    return {"instanceId": ns.id, "raised": ns.event_name}


def _reason_args(p: argparse.ArgumentParser) -> None:
    _id(p)
    p.add_argument("--reason")


@verb("terminate", "terminate an instance", _reason_args)
async def terminate(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHubClient(settings) as c:
        await c.terminate_orchestration(ns.id, output=ns.reason)
    return {"instanceId": ns.id, "terminated": True}


@verb("suspend", "suspend an instance", _reason_args)
async def suspend(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHubClient(settings) as c:
        await c.suspend_orchestration(ns.id, reason=ns.reason)
    return {"instanceId": ns.id, "suspended": True}


@verb("resume", "resume a suspended instance", _reason_args)
async def resume(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHubClient(settings) as c:
        await c.resume_orchestration(ns.id, reason=ns.reason)
    return {"instanceId": ns.id, "resumed": True}


@verb("rewind", "rewind a Failed instance: its failed activities and sub-orchestrations run again", _reason_args)
async def rewind(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHubClient(settings) as c:
        await c.rewind_orchestration(ns.id, reason=ns.reason)
        state = await c.get_orchestration_state(ns.id, fetch_payloads=False)
    return {"instanceId": ns.id, "rewound": True, "runtimeStatus": state.runtime_status.value if state else None}


def _restart_args(p: argparse.ArgumentParser) -> None:
    _id(p)
    p.add_argument(
        "--restart-with-new-instance-id",
        choices=["true", "false"],
        default="true",
        help="true (default): run under a new id; false: the same id (the instance must have finished)",
    )


@verb("restart", "start an instance's orchestrator again with the same input", _restart_args)
async def restart(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHubClient(settings) as c:
        iid = await c.restart_orchestration(ns.id, new_instance_id=ns.restart_with_new_instance_id == "true")
    return {"instanceId": iid, "restartedFrom": ns.id}


def _purge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", help="purge this instance only")
    p.add_argument("--created-after", help="ISO 8601 time (default: the beginning)")
    p.add_argument("--created-before", help="ISO 8601 time")
    p.add_argument("--runtime-status", nargs="*", help="Completed Failed Terminated Canceled")


@verb("purge-history", "delete finished instances' history, status and blobs", _purge_args)
async def purge_history(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHubClient(settings) as c:
        if ns.id:
            result = await c.purge_orchestration(ns.id)
        else:
            result = await c.purge_orchestrations_by(
                created_from=_time_arg(ns.created_after, "--created-after")
                or datetime(1601, 1, 1, tzinfo=UTC),
                created_to=_time_arg(ns.created_before, "--created-before"),
                statuses=ns.runtime_status or None,
            )
    return {"instancesDeleted": result.deleted_instance_count}
