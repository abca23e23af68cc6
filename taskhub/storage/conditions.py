"""One readable line per known storage condition, not a traceback per failed call (no I/O here).

A worker's loops all meet the same outage at once: every control-queue listener, the activity loop,
the lease loop, the renewals of held messages. Each of them hands the :class:`~taskhub.errors.StorageError`
it got to :meth:`StorageConditions.report` with what it does about it; the condition it belongs to is
logged once, with that action, then at most once per :data:`REPEAT_S` with the number of failures
since, and once more when it ends::

    WARNING storage.unreachable op=receive_messages failures=1 for_s=0: receive_messages: cannot reach the
        storage service (...); is Azurite running? -- control queue h-control-00: receives again in up to 30 s
    WARNING storage.unreachable op=renew_lease failures=212 for_s=60: ... (still)
    INFO storage.reachable_again after_s=62 failures=230: the storage answers again; the worker goes on

Conditions: ``unreachable`` (no connection, no answer), ``throttled`` (429/503: server busy),
``hub_missing`` (a queue, table or container of the hub is gone: the hook :attr:`on_hub_missing` recreates
it), ``lease_lost``, ``not_found`` and ``error`` (any other status, by operation and status). Anything
that is not a ``StorageError`` is not known: :meth:`report` returns False and the caller logs the
traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from taskhub.errors import StorageError, StorageErrorKind

__all__ = ["StorageConditions", "HUB_GONE_CODES", "REPEAT_S", "condition_of"]

log = logging.getLogger(__name__)

REPEAT_S = 60.0
"""A condition that lasts is logged again at most this often (with the failures since)."""
HUB_GONE_CODES = frozenset({"QueueNotFound", "TableNotFound", "ContainerNotFound"})
"""Error codes that mean a resource of the hub itself is gone (the storage was wiped, say)."""
_LASTING = ("unreachable", "throttled")
"""Conditions that end when a storage call succeeds again (and say so); the others are events, each
kind logged at most once per :data:`REPEAT_S` with the count since."""


def condition_of(err: StorageError) -> str:
    """The condition a storage error belongs to (see the module docstring)."""
    if err.kind is StorageErrorKind.UNREACHABLE:
        return "unreachable"
    if err.kind is StorageErrorKind.THROTTLED:
        return "throttled"
    if err.code in HUB_GONE_CODES:
        return "hub_missing"
    if err.kind is StorageErrorKind.LEASE_LOST:
        return "lease_lost"
    if err.kind is StorageErrorKind.NOT_FOUND:
        return "not_found"
    return "error"


@dataclass
class _State:
    since: float
    failures: int = 0
    logged_at: float | None = None
    failures_logged: int = 0


class StorageConditions:
    """The conditions one storage seam is in, and their lines (one instance per ``Storage``)."""

    def __init__(
        self, logger: logging.Logger = log, *, repeat_s: float = REPEAT_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log = logger
        self._repeat_s = repeat_s
        self._clock = clock
        self._states: dict[str, _State] = {}
        self.on_hub_missing: Callable[[], None] | None = None
        """Called at each report of a resource of the hub that is gone: the worker recreates the hub."""

    @property
    def active(self) -> list[str]:
        """The lasting conditions reported that have not ended (``unreachable``, ``throttled``)."""
        return sorted(k for k in self._states if k in _LASTING)

    def report(self, err: BaseException, action: str) -> bool:
        """Log ``err`` as its condition (rate-limited), with ``action``: what the caller does about it and
        when it tries again. False when ``err`` is not a storage error (log the traceback yourself)."""
        if not isinstance(err, StorageError):
            return False
        name = condition_of(err)
        key = name if name != "error" else f"error:{err.operation}:{err.status}:{err.code}"
        now = self._clock()
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _State(since=now)
        state.failures += 1
        if name == "hub_missing" and self.on_hub_missing is not None:
            self.on_hub_missing()
        due = state.logged_at is None or now - state.logged_at >= self._repeat_s
        if due:
            still = " (still)" if state.logged_at is not None and name in _LASTING else ""
            level = logging.INFO if name in ("lease_lost", "not_found") else logging.WARNING
            self._log.log(
                level,
                "storage.%s op=%s failures=%d for_s=%.0f: %s -- %s%s",
                name,
                err.operation,
                state.failures - state.failures_logged if state.logged_at is not None else state.failures,
                now - state.since,
                err,
                action,
                still,
            )
            state.logged_at = now
            state.failures_logged = state.failures
            if name not in _LASTING:  # events, not states: the next line counts from here
                state.since = now
        return True

    def failing(self, err: StorageError) -> None:
        """A storage call failed (the seam says so before anyone reports it): an outage's time counts
        from its first failed call."""
        name = condition_of(err)
        if name in ("unreachable", "throttled") and name not in self._states:
            self._states[name] = _State(since=self._clock())

    def succeeded(self) -> None:
        """A storage call went through: the lasting conditions end (one line each that was logged)."""
        if "unreachable" not in self._states and "throttled" not in self._states:
            return
        now = self._clock()
        for key in [k for k in self._states if k in _LASTING]:
            state = self._states.pop(key)
            if state.logged_at is not None:
                what = "the storage answers again" if key == "unreachable" else "the storage is no longer busy"
                self._log.info(
                    "storage.%s after_s=%.0f failures=%d: %s; the worker goes on",
                    "reachable_again" if key == "unreachable" else "throttling_ended",
                    now - state.since,
                    state.failures,
                    what,
                )
