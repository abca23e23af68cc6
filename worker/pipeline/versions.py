"""Worker versioning where a work item is admitted (host.json ``defaultVersion``, ``versionMatchStrategy``,
``versionFailureStrategy``; docs/research/versioning.md 3-4).

The check runs on every orchestration work item (the messages of one instance from a control-queue
batch) before any orchestrator code runs, against the instance's version: the running execution's
``ExecutionStarted.Version``, or that of the start message in the batch. A work item that runs no code
(an instance that does not exist or has finished) is not checked.

- **Reject**: the messages go back to the queue (the backend's ``OrchestrationWorkItems.reject``:
  hidden for 2^DequeueCount seconds, at most 600, as DTFx abandons them, and not counted toward
  ``poisonMessageThreshold``); nothing is written. The session ends at once, so the partition's other
  instances go on.
- **Fail**: the instance fails without running its code (``worker.engine.version_failure``).
"""

from __future__ import annotations

from collections.abc import Sequence

from taskhub.format.history import ExecutionStartedEvent
from worker.backends.base import WorkMessage

__all__ = ["work_item_version"]


def work_item_version(
    started: ExecutionStartedEvent | None, terminal: bool, messages: Sequence[WorkMessage]
) -> str | None:
    """The version a work item is checked against (``""`` when the instance has none), or ``None`` when
    it would run no orchestrator code (no running execution and no start message)."""
    if started is not None and not terminal:
        return started.version or ""
    start = next((m.event for m in messages if isinstance(m.event, ExecutionStartedEvent)), None)
    return (start.version or "") if start is not None else None
