"""Is a code change safe to deploy? Replay stored histories against the current orchestrator code.

Pure: no storage, no clock. ``replay_history(app, history)`` runs the orchestrator over a recorded
history exactly as the worker would on its next episode and reports ``ok``, or the non-determinism
error with the history event where the code went another way. The history can come from
``TaskHubClient.get_orchestration_history`` or from a JSON file written by
``taskhub get-history --id ID --raw`` (:func:`load_history_json`). In a user's own tests::

    from worker.replay_check import assert_replays, load_history_json
    from myapp import app

    def test_orders_still_replay():
        assert_replays(app, load_history_json("tests/histories/order-42.json"))

``taskhub replay MODULE:APP --id ID`` / ``--all`` (``worker.cli``) does the same for stored instances.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskhub.errors import FormatError, NonDeterminismError
from taskhub.format.history import (
    ContinueAsNewEvent,
    EventType,
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    HistoryEvent,
    OrchestrationStatus,
)
from taskhub.format.messages import event_from_json_obj
from taskhub.model.app import App
from taskhub.model.versioning import Versioning, admit
from worker.replay import ReplayResult, execute

__all__ = ["ReplayCheck", "assert_replays", "load_history_json", "replay_history"]

_NON_DETERMINISM = f"{NonDeterminismError.__module__}.{NonDeterminismError.__qualname__}"


@dataclass(frozen=True)
class ReplayCheck:
    """The outcome of replaying one history."""

    instance_id: str
    name: str | None
    ok: bool
    error: str | None = None
    """The non-determinism error (None when ok)."""
    event: HistoryEvent | None = None
    """The first history event the current code does not reproduce (None when ok)."""
    skipped: str | None = None
    """Why the history was not replayed (its orchestrator is not in the app, or a worker of the checked
    version would not run its version); ``ok`` is then True."""
    version: str = ""
    """The instance's version (``ExecutionStarted.Version``): the replay's ``ctx.version``."""

    def summary(self) -> dict[str, Any]:
        """JSON for the CLI: instanceId, name, result ("ok", "diverged", "skipped"), error, event."""
        out: dict[str, Any] = {
            "instanceId": self.instance_id,
            "name": self.name,
            "version": self.version,
            "result": "skipped" if self.skipped else "ok" if self.ok else "diverged",
        }
        if self.skipped:
            out["reason"] = self.skipped
        if self.error:
            out["error"] = self.error
        if self.event is not None:
            out["divergingEvent"] = _describe(self.event)
        return out


def _describe(event: HistoryEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"EventType": event.event_type.name, "EventId": event.event_id}
    for attr, key in (("name", "Name"), ("task_scheduled_id", "TaskScheduledId"), ("timer_id", "TimerId")):
        value = getattr(event, attr, None)
        if value is not None:
            out[key] = value
    return out


def load_history_json(source: str | Path | Sequence[Any]) -> list[HistoryEvent]:
    """History events from ``taskhub get-history --raw`` output: a file path, JSON text or parsed list."""
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("[")):
        source = Path(source).read_text(encoding="utf-8")
    items = json.loads(source) if isinstance(source, str) else list(source)
    if not isinstance(items, list):
        raise FormatError("a stored history is a JSON array of events (taskhub get-history --id ID --raw)")
    events = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "EventType" not in item:
            raise FormatError(f"history item {i} is not an event object with an EventType")
        kind = item["EventType"]
        if isinstance(kind, str):
            if kind not in EventType.__members__:
                raise FormatError(f"history item {i}: unknown EventType {kind!r}")
            item = {**item, "EventType": EventType[kind].value}
        events.append(event_from_json_obj(item, where=f"history item {i}"))
    return events


@contextmanager
def _quiet_replay() -> Iterator[None]:
    logger = logging.getLogger("worker.replay")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the divergence is reported here, not logged as a worker warning
    try:
        yield
    finally:
        logger.setLevel(level)


def _diverged(app: App, events: Sequence[HistoryEvent], instance_id: str) -> tuple[ReplayResult, str | None]:
    result = execute(app, events, [], instance_id=instance_id)
    c = result.completion
    details = c.failure_details if c is not None and c.status is OrchestrationStatus.FAILED else None
    if details is not None and details.error_type == _NON_DETERMINISM:
        return result, details.message
    return result, None


def _ending(events: Sequence[HistoryEvent]) -> HistoryEvent | None:
    return next(
        (e for e in reversed(events) if isinstance(e, ExecutionCompletedEvent | ContinueAsNewEvent)), None
    )


def replay_history(
    app: App,
    history: Sequence[HistoryEvent],
    *,
    instance_id: str | None = None,
    versioning: Versioning | None = None,
) -> ReplayCheck:
    """Replay ``history`` against ``app``'s current code; see the module docstring. The code sees the
    instance's version as ``ctx.version``; with ``versioning`` (a worker's version settings) an
    instance that worker would not run is skipped."""
    events = list(history)
    started = next((e for e in events if isinstance(e, ExecutionStartedEvent)), None)
    if started is None:
        raise FormatError("the history has no ExecutionStarted event")
    inst = started.orchestration_instance
    iid: str = instance_id or (inst.instance_id if inst is not None and inst.instance_id else "?")
    name, version = started.name, started.version or ""
    if name not in app.orchestrator_names:
        why = f"orchestrator {name!r} is not registered in this app"
        return ReplayCheck(iid, name, True, skipped=why, version=version)
    verdict = admit(version, versioning) if versioning is not None else None
    if verdict is not None and verdict.verdict != "run":
        return ReplayCheck(iid, name, True, skipped=f"a worker would {verdict.verdict} it: {verdict.reason}", version=version)
    with _quiet_replay():
        result, error = _diverged(app, events, iid)
        if error is not None:
            lo, hi = 1, len(events)  # the shortest prefix that diverges ends with the diverging event
            while lo < hi:
                mid = (lo + hi) // 2
                if _diverged(app, events[:mid], iid)[1] is not None:
                    hi = mid
                else:
                    lo = mid + 1
            return ReplayCheck(iid, name, False, error, events[lo - 1], version=version)
    ending = _ending(events)
    if isinstance(ending, ExecutionCompletedEvent) and (result.completion is None or result.actions):
        made = ", ".join(type(a).__name__ for a in result.actions) or "waits for more events"
        error = (
            f"orchestrator {name!r} (instance {iid!r}) is not deterministic: history ends with "
            f"ExecutionCompleted ({ending.orchestration_status.value}) at EventId {ending.event_id}, but the "
            f"code now goes on ({made})"
        )
        return ReplayCheck(iid, name, False, error, ending, version=version)
    return ReplayCheck(iid, name, True, version=version)


def assert_replays(app: App, history: Sequence[HistoryEvent], *, instance_id: str | None = None) -> None:
    """Raise ``NonDeterminismError`` (naming the diverging event) unless ``history`` replays cleanly."""
    check = replay_history(app, history, instance_id=instance_id)
    if not check.ok:
        event = f" (diverging event: {_describe(check.event)})" if check.event is not None else ""
        raise NonDeterminismError(f"{check.error}{event}")
