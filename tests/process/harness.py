"""Real ``taskhub worker`` processes on the session's Azurite, and what the tests check afterwards.

* :func:`hub_env` / :class:`Fleet`: the environment of a hub (fast polling, short or default leases)
  and a set of worker processes, each logging to its own file (``<label>.log``; a restart of ``w1`` is
  ``w1#2``). :meth:`Fleet.kill` is SIGKILL, :meth:`Fleet.stop` SIGTERM (graceful drain), and
  :meth:`Fleet.close` kills whatever is left (call it in ``finally``).
* :func:`ownership` / :func:`wait_ownership`: who owns and who intends to own each control queue,
  read from the lease blobs, or from the Partitions table on a hub that uses it (``manager="table"``).
* Log analysis: :func:`parse_log` (strict: a line it cannot read fails the test),
  :func:`processing_intervals` (per control queue and worker process: from ``listen.start`` to the
  ownership hand-over, release or loss, or the process's death),
  :func:`overlaps` (two live processes on one queue at once) and :func:`checkpoints_outside`
  (a checkpoint written by a process that was not processing the instance's queue then).
* Storage checks: :func:`check_instance` (Instances row vs. history, one start, one completion,
  unique scheduled ids, contiguous row keys) and :func:`wait_terminal`.
* :func:`activity_runs`: the journal the test app writes, counted per (instance, task id).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from taskhub.config.settings import Settings
from taskhub.format.history import (
    EventType,
    ExecutionCompletedEvent,
    OrchestrationStatus,
)
from taskhub.format.names import SENTINEL_ROW_KEY, HubNames, row_key
from taskhub.format.rows import InstanceRow
from taskhub.hub.lifecycle import TaskHub
from tests.faults import CHECKPOINT_FAULT_ENV, STORAGE_FAULT_ENV
from tests.helpers import REPO_ROOT

APP = "tests.process.apps:app"
ENV_PREFIX = "AzureFunctionsJobHost__extensions__durableTask__"
STORAGE_PREFIX = ENV_PREFIX + "storageProvider__"
JOURNAL_ENV = "TASKHUB_PROCESS_JOURNAL"
FAULT_ENV = CHECKPOINT_FAULT_ENV
FAULT_LAUNCHER = "tests.process.fault_worker"
"""The ``taskhub`` command with the test faults of its environment installed (``tests.faults``)."""

FAST_LEASES = {
    "leaseInterval": "00:00:15",
    "leaseRenewInterval": "00:00:04",
    "leaseAcquireInterval": "00:00:03",
}
DEFAULT_LEASES: dict[str, str] = {}
"""The defaults: 30 s lease, renewed every 10 s, acquire round every 10 s."""

BASE_STORAGE = {
    "maxQueuePollingInterval": "00:00:01",
    "controlQueueVisibilityTimeout": "00:01:00",  # the minimum the settings allow
    "workItemQueueVisibilityTimeout": "00:00:20",
}


MANAGERS = ("blobs", "table")
"""The partition managers a test can run with: lease blobs (the default) or the Partitions table."""


def hub_env(
    connection_string: str,
    hub_name: str,
    *,
    leases: Mapping[str, str] = FAST_LEASES,
    storage: Mapping[str, str] | None = None,
    journal: Path | None = None,
    manager: str = "blobs",
) -> dict[str, str]:
    """The environment of a worker (and of the test's client) for ``hub_name``; ``manager="table"``
    sets ``useTablePartitionManagement``."""
    if manager not in MANAGERS:
        raise ValueError(f"manager {manager!r}: one of {MANAGERS}")
    if manager == "table":
        storage = {"useTablePartitionManagement": "true", **(storage or {})}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().startswith("azurefunctionsjobhost")
        and k not in (CHECKPOINT_FAULT_ENV, STORAGE_FAULT_ENV, JOURNAL_ENV)
    }
    env["AzureWebJobsStorage"] = connection_string
    env[ENV_PREFIX + "hubName"] = hub_name
    for key, value in {**BASE_STORAGE, **leases, **(storage or {})}.items():
        env[STORAGE_PREFIX + key] = value
    if journal is not None:
        env[JOURNAL_ENV] = str(journal)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def settings_of(env: Mapping[str, str]) -> Settings:
    """The settings the workers started with ``env`` read (no host.json)."""
    return Settings.load(None, env=dict(env))


# --------------------------------------------------------------------------------------------------
# worker processes


@dataclass
class WorkerProc:
    worker_id: str
    label: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    started: float
    ended: float | None = None
    killed_at: float | None = None

    @property
    def alive(self) -> bool:
        return self.ended is None

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode


class Fleet:
    """Worker processes of one hub. Always ``close()`` it (``finally``): it SIGKILLs what is left."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, *, app: str = APP) -> None:
        self.env = dict(env)
        self.log_dir = log_dir
        self.app = app
        log_dir.mkdir(parents=True, exist_ok=True)
        self.host_json = log_dir / "host.json"  # keeps the repository's demo host.json out of it
        self.host_json.write_text('{"version": "2.0"}\n')
        self.procs: list[WorkerProc] = []
        self._lock = threading.Lock()

    def start(self, worker_id: str, *, extra_env: Mapping[str, str] | None = None) -> WorkerProc:
        """Start ``taskhub worker``; through :data:`FAULT_LAUNCHER` when ``extra_env`` plans a fault."""
        n = sum(1 for p in self.procs if p.worker_id == worker_id) + 1
        label = worker_id if n == 1 else f"{worker_id}#{n}"
        log_path = self.log_dir / f"{label}.log"
        faulty = bool({CHECKPOINT_FAULT_ENV, STORAGE_FAULT_ENV} & set(extra_env or {}))
        cmd = [
            sys.executable,
            "-m",
            FAULT_LAUNCHER if faulty else "taskhub",
            "worker",
            self.app,
            "--worker-id",
            worker_id,
            "--host-json",
            str(self.host_json),
        ]
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                env={**self.env, **(extra_env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = WorkerProc(worker_id, label, popen, log_path, time.time())
        self.procs.append(proc)
        threading.Thread(target=self._reap, args=(proc,), daemon=True, name=f"reap-{label}").start()
        return proc

    @staticmethod
    def _reap(proc: WorkerProc) -> None:
        proc.popen.wait()
        if proc.ended is None:
            proc.ended = proc.killed_at or time.time()

    def current(self, worker_id: str) -> WorkerProc:
        return [p for p in self.procs if p.worker_id == worker_id][-1]

    def live(self) -> list[WorkerProc]:
        return [p for p in self.procs if p.alive]

    def live_ids(self) -> set[str]:
        return {p.worker_id for p in self.live()}

    def kill(self, worker_id: str) -> float:
        """SIGKILL the live process of ``worker_id``; returns the time of the kill."""
        proc = self.current(worker_id)
        assert proc.alive, f"{proc.label} is not running"
        os.kill(proc.popen.pid, signal.SIGKILL)
        proc.killed_at = time.time()
        proc.ended = proc.killed_at  # the process runs no code after this; its intervals end here
        return proc.killed_at

    async def stop(self, worker_id: str, timeout: float = 90.0) -> int:
        """SIGTERM (graceful: drain, then release the leases) and wait for the exit; its exit code."""
        proc = self.current(worker_id)
        if proc.alive:
            proc.popen.send_signal(signal.SIGTERM)
        await self.wait_exit(proc, timeout)
        assert proc.returncode is not None
        return proc.returncode

    async def wait_exit(self, proc: WorkerProc, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while proc.popen.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"worker {proc.label} did not exit within {timeout} s; log: {proc.log_path}"
                )
            await asyncio.sleep(0.1)
        while proc.ended is None:  # noqa: ASYNC110 - the reaper thread records the time
            await asyncio.sleep(0.01)
        return proc.popen.returncode

    def close(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.popen.pid, signal.SIGKILL)
                if proc.killed_at is None:
                    proc.killed_at = time.time()
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=10)

    def logs(self) -> list[LogLine]:
        lines: list[LogLine] = []
        for proc in self.procs:
            lines.extend(parse_log(proc))
        return sorted(lines, key=lambda line: line.t)

    def tail(self, n: int = 40) -> str:
        """The last lines of every log, for assertion messages."""
        out = []
        for proc in self.procs:
            text = proc.log_path.read_text(errors="replace").splitlines()
            out.append(f"--- {proc.label} (exit {proc.returncode}) ---\n" + "\n".join(text[-n:]))
        return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# logs

_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) (\w+) (\S+) (\S+)(.*)$")
_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_FIELD = re.compile(r"(\w+)=(\S+)")


@dataclass
class LogLine:
    t: float
    level: str
    logger: str
    event: str
    fields: dict[str, str]
    proc: WorkerProc = field(repr=False)
    more: list[str] = field(default_factory=list, repr=False)
    """The lines that continue this record (a traceback, a multi-line message)."""


def parse_log(proc: WorkerProc) -> list[LogLine]:
    """Every log record of ``proc``'s log, strictly: a line that starts with a timestamp must be a record
    (``time level logger event fields``), a line before the first record must be the ``taskhub``
    command's own output, and any other line continues the record above it (``LogLine.more``). A line
    that fits none of these fails the test, with the line: nothing is dropped unread."""
    out: list[LogLine] = []
    for number, text in enumerate(proc.log_path.read_text(errors="replace").splitlines(), 1):
        m = _LINE.match(text)
        if m:
            t = time.mktime(datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S").timetuple()) + int(m[2]) / 1000
            out.append(LogLine(t, m[3], m[4], m[5], dict(_FIELD.findall(m[6])), proc))
        elif text.startswith("taskhub"):
            continue  # the command's own lines (where it runs, warnings, how it stopped)
        elif out and not _STAMP.match(text):
            out[-1].more.append(text)
        else:
            raise AssertionError(f"{proc.log_path}:{number}: not a log record: {text!r}")
    return out


@dataclass(frozen=True)
class Interval:
    queue: str
    label: str
    start: float
    end: float


def processing_intervals(procs: Iterable[WorkerProc], lines: Iterable[LogLine]) -> dict[str, list[Interval]]:
    """Per control queue, when each worker process may have processed it.

    From ``listen.start`` (after the ownership lease was acquired) to the ``partitions.handover`` line
    (written before the ownership lease is released, once nothing of the queue is in memory), or the
    release / loss of the ownership lease, or the process's end (its kill time for a SIGKILL).
    """
    by_proc: dict[str, list[LogLine]] = {}
    for line in lines:
        by_proc.setdefault(line.proc.label, []).append(line)
    out: dict[str, list[Interval]] = {}
    for proc in procs:
        open_: dict[str, float] = {}
        for line in sorted(by_proc.get(proc.label, []), key=lambda x: x.t):
            queue = line.fields.get("queue")
            if queue is None:
                continue
            ends = line.event == "partitions.handover" or (
                line.event in ("partitions.released", "partitions.lost")
                and line.fields.get("kind") == "ownership"
            )
            if line.event == "listen.start":
                open_.setdefault(queue, line.t)
            elif ends and queue in open_:
                out.setdefault(queue, []).append(Interval(queue, proc.label, open_.pop(queue), line.t))
        end = proc.ended if proc.ended is not None else time.time()
        for queue, start in open_.items():
            out.setdefault(queue, []).append(Interval(queue, proc.label, start, end))
    return out


def overlaps(intervals: Mapping[str, list[Interval]]) -> list[tuple[Interval, Interval]]:
    """Pairs of intervals of two different processes on one queue that overlap in time."""
    bad = []
    for spans in intervals.values():
        spans = sorted(spans, key=lambda s: s.start)
        for i, a in enumerate(spans):
            for b in spans[i + 1 :]:
                if b.start >= a.end:
                    continue
                if a.label != b.label:
                    bad.append((a, b))
    return bad


def checkpoints(lines: Iterable[LogLine]) -> list[LogLine]:
    return [line for line in lines if line.event == "orchestration.checkpoint"]


def checkpoints_outside(
    lines: Iterable[LogLine], intervals: Mapping[str, list[Interval]], names: HubNames
) -> list[LogLine]:
    """Checkpoints logged by a process outside its processing interval of the instance's queue."""
    bad = []
    for line in checkpoints(lines):
        queue = names.control_queue_for(line.fields["instance_id"])
        spans = [s for s in intervals.get(queue, []) if s.label == line.proc.label]
        if not any(s.start <= line.t <= s.end for s in spans):
            bad.append(line)
    return bad


# --------------------------------------------------------------------------------------------------
# leases


async def ownership(hub: TaskHub) -> dict[str, tuple[str | None, str | None]]:
    """Per control queue: (owner of the live ownership lease, owner of the live intent lease); on a table
    hub, (the CurrentOwner whose row has not expired, NextOwner or else that owner)."""
    return {
        str(p["queue"]): (p["ownership"]["owner"], p["intent"]["owner"])  # type: ignore[index]
        for p in await hub.partitions()
    }


def owned_counts(view: Mapping[str, tuple[str | None, str | None]]) -> Counter[str]:
    return Counter(owner for owner, _ in view.values() if owner is not None)


def settled(view: Mapping[str, tuple[str | None, str | None]], live: set[str]) -> bool:
    """Every queue has exactly one owner, a live worker, that also holds its intent (no hand-over pending)."""
    return all(owner is not None and owner == intent and owner in live for owner, intent in view.values())


async def wait_ownership(
    hub: TaskHub,
    predicate: Any,
    timeout: float,
    *,
    interval: float = 0.25,
) -> tuple[float, dict[str, tuple[str | None, str | None]]]:
    """Poll the lease blobs until ``predicate(view)``; (seconds it took, the view)."""
    t0 = time.monotonic()
    view: dict[str, tuple[str | None, str | None]] = {}
    while time.monotonic() - t0 < timeout:
        view = await ownership(hub)
        if predicate(view):
            return time.monotonic() - t0, view
        await asyncio.sleep(interval)
    raise AssertionError(f"lease condition not met within {timeout} s; last view: {view}")


# --------------------------------------------------------------------------------------------------
# instances and histories


async def instance_rows(hub: TaskHub, prefix: str) -> dict[str, InstanceRow]:
    rows: dict[str, InstanceRow] = {}
    token: str | None = None
    while True:
        page, token = await hub.tracking.query_instances(
            instance_id_prefix=prefix, page_size=1000, continuation_token=token
        )
        rows.update({r.instance_id: r for r in page})
        if not token:
            return rows


def _terminal(status: OrchestrationStatus | None) -> bool:
    return status is not None and status.is_terminal and status is not OrchestrationStatus.CONTINUED_AS_NEW


async def wait_terminal(
    hub: TaskHub,
    prefix: str,
    ids: Iterable[str],
    timeout: float,
    *,
    progress: list[float] | None = None,
) -> dict[str, InstanceRow]:
    """Wait until every instance of ``ids`` is terminal; their rows. ``progress`` gets the time of
    each newly finished one (seconds since the call)."""
    wanted = set(ids)
    t0 = time.monotonic()
    done: set[str] = set()
    rows: dict[str, InstanceRow] = {}
    while True:
        rows = await instance_rows(hub, prefix)
        now_done = {i for i in wanted if i in rows and _terminal(rows[i].runtime_status)}
        if progress is not None:
            progress.extend(time.monotonic() - t0 for _ in now_done - done)
        done = now_done
        if done == wanted:
            return rows
        if time.monotonic() - t0 > timeout:
            left = sorted(wanted - done)
            detail = {
                i: getattr(rows[i].runtime_status, "value", None) if i in rows else "missing"
                for i in left[:10]
            }
            raise AssertionError(
                f"{len(left)} of {len(wanted)} orchestrations not finished in {timeout} s: {detail}"
            )
        await asyncio.sleep(1.0)


@dataclass
class HistoryFacts:
    instance_id: str
    execution_id: str | None
    episodes: int
    completed: int
    history_status: OrchestrationStatus | None
    problems: list[str]


async def check_instance(hub: TaskHub, instance_id: str, row: InstanceRow | None = None) -> HistoryFacts:
    """The history of one instance is well formed and agrees with its Instances row."""
    problems: list[str] = []
    loaded = await hub.tracking.load_history(instance_id)
    events = loaded.events
    keys = sorted(k for k in await hub.tracking.history_row_keys(instance_id) if k != SENTINEL_ROW_KEY)
    if keys != [row_key(i) for i in range(len(keys))]:
        problems.append(f"history row keys are not contiguous: {keys[:3]}..{keys[-3:]} ({len(keys)})")
    if len(keys) != len(events):
        problems.append(f"{len(keys)} history rows but {len(events)} events of the current execution")
    types = Counter(e.event_type for e in events)
    if types[EventType.ExecutionStarted] != 1:
        problems.append(f"{types[EventType.ExecutionStarted]} ExecutionStarted events")
    completions = [e for e in events if isinstance(e, ExecutionCompletedEvent)]
    if len(completions) > 1:
        problems.append(f"{len(completions)} ExecutionCompleted events")
    for kind in (EventType.TaskScheduled, EventType.TimerCreated, EventType.SubOrchestrationInstanceCreated):
        ids = [e.event_id for e in events if e.event_type is kind]
        if len(ids) != len(set(ids)):
            problems.append(f"{kind.name} event ids repeat: {sorted(ids)}")
    history_status = completions[0].orchestration_status if completions else None
    if row is None:
        row = await hub.tracking.get_instance(instance_id)
    if row is None:
        problems.append("no Instances row")
    elif history_status is not None and row.runtime_status is not history_status:
        problems.append(f"Instances says {row.runtime_status}, history says {history_status.value}")
    elif history_status is None and _terminal(row.runtime_status):
        problems.append(f"Instances says {row.runtime_status}, history has no ExecutionCompleted")
    episodes = types[EventType.OrchestratorStarted]
    return HistoryFacts(
        instance_id, loaded.execution_id, episodes, len(completions), history_status, problems
    )


def output_of(row: InstanceRow) -> Any:
    return json.loads(row.output) if row.output else None


# --------------------------------------------------------------------------------------------------
# the activity journal


@dataclass(frozen=True)
class ActivityRun:
    instance_id: str
    task_id: int
    name: str
    pid: int


def journal_entries(journal: Path) -> list[ActivityRun]:
    """Every activity run the app journaled: ``<instance id> <task id> <name> <pid>`` per line."""
    out = []
    if journal.exists():
        for line in journal.read_text().splitlines():
            parts = line.split(" ")
            if len(parts) == 4:
                out.append(ActivityRun(parts[0], int(parts[1]), parts[2], int(parts[3])))
    return out


def activity_runs(journal: Path) -> Counter[tuple[str, int]]:
    """How many times each (instance id, task id) activity ran, from the app's journal."""
    return Counter((r.instance_id, r.task_id) for r in journal_entries(journal))


async def wait_queue_empty(hub: TaskHub, queue: str, timeout: float) -> float:
    """Wait until ``queue`` holds no message, visible or not (every run that will happen has happened)."""
    t0 = time.monotonic()
    while await hub.storage.queue_length(queue) > 0:
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{queue} still holds messages after {timeout} s")
        await asyncio.sleep(0.5)
    return time.monotonic() - t0


def duplicates(runs: Counter[tuple[str, int]]) -> dict[tuple[str, int], int]:
    return {key: n for key, n in runs.items() if n > 1}


def write_figures(path: Path, figures: Mapping[str, Any]) -> str:
    text = json.dumps(figures, indent=2, sort_keys=True, default=str)
    path.write_text(text + "\n")
    return text


# --------------------------------------------------------------------------------------------------
# whole-run checks


async def start_all(client: Any, work: Iterable[tuple[str, str, Any]], *, concurrency: int = 16) -> None:
    """Schedule (instance id, orchestrator, input) triples, a few at a time."""
    sem = asyncio.Semaphore(concurrency)

    async def one(instance_id: str, name: str, value: Any) -> None:
        async with sem:
            await client.schedule_new_orchestration(name, input=value, instance_id=instance_id)

    await asyncio.gather(*(one(*w) for w in work))


async def feed(client: Any, work: list[tuple[str, str, Any]], per_second: float) -> None:
    """Schedule ``work`` at a steady rate, so that the load lasts while the test changes the fleet."""
    t0 = time.monotonic()
    for n, (instance_id, name, value) in enumerate(work):
        delay = t0 + n / per_second - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await client.schedule_new_orchestration(name, input=value, instance_id=instance_id)


async def verify_outcomes(
    hub: TaskHub, work: Iterable[tuple[str, str, Any]], prefix: str, expected: Any
) -> tuple[list[str], dict[str, HistoryFacts]]:
    """Every orchestration of ``work`` completed with ``expected(name, input)``, and every instance
    under ``prefix`` (sub-orchestrations too) has a well-formed history matching its Instances row."""
    problems: list[str] = []
    rows = await instance_rows(hub, prefix)
    for instance_id, name, value in work:
        row = rows.get(instance_id)
        if row is None:
            problems.append(f"{instance_id}: no Instances row")
            continue
        if row.runtime_status is not OrchestrationStatus.COMPLETED:
            problems.append(f"{instance_id}: {row.runtime_status} ({row.output})")
        elif output_of(row) != expected(name, value):
            problems.append(f"{instance_id}: output {output_of(row)!r}, expected {expected(name, value)!r}")
    sem = asyncio.Semaphore(10)

    async def one(instance_id: str) -> HistoryFacts:
        async with sem:
            return await check_instance(hub, instance_id, rows[instance_id])

    facts = {f.instance_id: f for f in await asyncio.gather(*(one(i) for i in rows))}
    problems += [f"{i}: {p}" for i, f in facts.items() for p in f.problems]
    return problems, facts


def check_logs(
    fleet: Fleet, names: HubNames, facts: Mapping[str, HistoryFacts] | None = None
) -> dict[str, Any]:
    """The single-owner checks on the workers' logs; a dict of findings (empty lists = all good)."""
    lines = fleet.logs()
    spans = processing_intervals(fleet.procs, lines)
    found: dict[str, Any] = {
        "overlaps": [
            f"{a.queue}: {a.label} [{a.start:.3f}, {a.end:.3f}] and {b.label} [{b.start:.3f}, {b.end:.3f}]"
            for a, b in overlaps(spans)
        ],
        "checkpoints_outside_ownership": [
            f"{c.proc.label} t={c.t:.3f} {c.fields.get('instance_id')}"
            for c in checkpoints_outside(lines, spans, names)
        ],
        "split_brain_aborts": sum(1 for line in lines if line.event == "checkpoint.split_brain"),
        "checkpoints": len(checkpoints(lines)),  # orchestration.checkpoint lines
        "errors": sorted(
            {f"{line.proc.label}: {line.event}" for line in lines if line.level in ("ERROR", "CRITICAL")}
        ),
    }
    # Two checkpoints that both committed rows from the same RowKey of one execution would mean the
    # sentinel fence let a second writer through (its rows would have replaced the first one's).
    by_rows = Counter(
        (c.fields.get("instance_id"), c.fields.get("execution_id"), c.fields.get("first_row"))
        for c in checkpoints(lines)
    )
    found["checkpoints_writing_the_same_rows"] = [
        f"{i} execution {e} from row {r}: {n} checkpoints" for (i, e, r), n in by_rows.items() if n > 1
    ]
    executions: dict[str, set[str | None]] = {}
    for c in checkpoints(lines):
        executions.setdefault(c.fields.get("instance_id", ""), set()).add(c.fields.get("execution_id"))
    found["instances_run_in_more_than_one_execution"] = sorted(i for i, e in executions.items() if len(e) > 1)
    if facts is not None:
        # episodes logged: a group commit's checkpoint line says how many it held (steps=)
        per_execution: Counter[tuple[str, str | None]] = Counter()
        for c in checkpoints(lines):
            per_execution[(c.fields.get("instance_id", ""), c.fields.get("execution_id"))] += int(
                c.fields.get("steps") or 1
            )
        found["more_checkpoints_than_episodes"] = [
            f"{i}: {n} episodes logged as checkpointed, {facts[i].episodes} episodes in history"
            for (i, e), n in per_execution.items()
            if i in facts and e == facts[i].execution_id and n > facts[i].episodes
        ]
        # every committed episode is logged, except by a process that died between its commit and the
        # log line: {instance id: episodes in history without an orchestration.checkpoint line}
        found["episodes_not_logged"] = {
            i: f.episodes - per_execution[(i, f.execution_id)]
            for i, f in facts.items()
            if per_execution[(i, f.execution_id)] < f.episodes
        }
    return found
