"""Tasks an orchestrator yields, their combinators, and ``RetryPolicy``.

An orchestrator yields a :class:`Task`; the replay engine resumes it with the task's result
(``generator.send``) or failure (``generator.throw``) once the task is complete. Tasks here hold no
I/O: the engine completes them from history events.

- :func:`when_all`: completes when every child has finished; results in input order. If children fail,
  it fails with the failure of the child that failed *first* (in the order completions were replayed),
  and only after all children have finished, as .NET ``Task.WhenAll`` waits for all.
- :func:`when_any`: completes with the first child that finishes (successfully or not); its result is
  that child task.
- A timer or external-event task can be ``cancel()``-ed: it then never completes and nothing it later
  receives resumes the orchestrator (the usual use: cancel the losing timer after ``when_any``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

__all__ = [
    "Task",
    "CompletableTask",
    "CancellableTask",
    "TimerTask",
    "ExternalEventTask",
    "CompositeTask",
    "WhenAllTask",
    "WhenAnyTask",
    "when_all",
    "when_any",
    "RetryPolicy",
]

T = TypeVar("T")


class Task(Generic[T]):
    """Something an orchestrator waits for by yielding it."""

    def __init__(self) -> None:
        self._is_complete = False
        self._result: T | None = None
        self._exception: BaseException | None = None
        self._parents: list[CompositeTask[Any]] = []

    @property
    def is_complete(self) -> bool:
        """True once the task has a result or a failure."""
        return self._is_complete

    @property
    def is_failed(self) -> bool:
        """True when the task completed with a failure."""
        return self._exception is not None

    def get_result(self) -> T:
        """The result; raises the task's failure if it failed, ``RuntimeError`` if it is not complete."""
        if not self._is_complete:
            raise RuntimeError("the task is not complete yet; yield it to wait for it")
        if self._exception is not None:
            raise self._exception
        return self._result  # type: ignore[return-value]

    def get_exception(self) -> BaseException | None:
        """The failure (for activities and sub-orchestrations a ``TaskFailedError``), or ``None``."""
        return self._exception

    def _finish(self, result: T | None, exception: BaseException | None) -> None:
        if self._is_complete:
            return
        self._is_complete = True
        self._result = result
        self._exception = exception
        for parent in list(self._parents):
            parent._on_child_done(self)


class CompletableTask(Task[T]):
    """A task the replay engine completes from a history event."""

    def complete(self, result: T) -> None:
        """Complete with ``result`` (ignored if already complete)."""
        self._finish(result, None)

    def fail(self, exception: BaseException) -> None:
        """Complete with a failure (ignored if already complete)."""
        self._finish(None, exception)


class CancellableTask(CompletableTask[T]):
    """A task whose waiting can be abandoned with :meth:`cancel`."""

    def __init__(self) -> None:
        super().__init__()
        self._is_cancelled = False
        self._on_cancel: Callable[[], None] | None = None

    @property
    def is_cancelled(self) -> bool:
        return self._is_cancelled

    def cancel(self) -> None:
        """Stop waiting. A complete task is left as it is; a cancelled one never completes."""
        if self._is_complete or self._is_cancelled:
            return
        self._is_cancelled = True
        if self._on_cancel is not None:
            self._on_cancel()

    def set_cancel_handler(self, handler: Callable[[], None]) -> None:
        """Called once by :meth:`cancel` (the engine uses it to forget a waiter)."""
        self._on_cancel = handler

    def _finish(self, result: T | None, exception: BaseException | None) -> None:
        if self._is_cancelled:
            return
        super()._finish(result, exception)


class TimerTask(CancellableTask[None]):
    """A durable timer; completes (with ``None``) at ``fire_at`` in orchestration time."""

    def __init__(self, fire_at: datetime) -> None:
        super().__init__()
        self.fire_at = fire_at

    def __repr__(self) -> str:
        return f"TimerTask(fire_at={self.fire_at.isoformat()})"


class ExternalEventTask(CancellableTask[Any]):
    """Waits for an external event; completes with the event's data."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __repr__(self) -> str:
        return f"ExternalEventTask(name={self.name!r})"


class CompositeTask(Task[T]):
    """A task made of child tasks."""

    def __init__(self, tasks: Iterable[Task[Any]]) -> None:
        super().__init__()
        self._tasks: list[Task[Any]] = list(tasks)
        for task in self._tasks:
            if not isinstance(task, Task):
                raise TypeError(f"expected tasks, got {type(task).__name__}: {task!r:.80}")
        for task in self._tasks:
            task._parents.append(self)

    @property
    def tasks(self) -> list[Task[Any]]:
        return list(self._tasks)

    def _on_child_done(self, child: Task[Any]) -> None:
        raise NotImplementedError


class WhenAllTask(CompositeTask[list[Any]]):
    """See :func:`when_all`."""

    def __init__(self, tasks: Iterable[Task[Any]]) -> None:
        super().__init__(tasks)
        self._done = 0
        already = [task for task in self._tasks if task.is_complete]
        if not self._tasks:
            self._finish([], None)
        for task in already:
            self._on_child_done(task)

    def _on_child_done(self, child: Task[Any]) -> None:
        self._done += 1
        if self._done < len(self._tasks):
            return
        # .NET Task.WhenAll: awaiting it surfaces the first failed task in input order.
        failed = next((task for task in self._tasks if task.is_failed), None)
        if failed is not None:
            self._finish(None, failed.get_exception())
        else:
            self._finish([task.get_result() for task in self._tasks], None)


class WhenAnyTask(CompositeTask[Task[Any]]):
    """See :func:`when_any`."""

    def __init__(self, tasks: Iterable[Task[Any]]) -> None:
        super().__init__(tasks)
        if not self._tasks:
            raise ValueError("when_any needs at least one task")
        for task in self._tasks:
            if task.is_complete:
                self._finish(task, None)
                break

    def _on_child_done(self, child: Task[Any]) -> None:
        self._finish(child, None)


def when_all(tasks: Iterable[Task[Any]]) -> WhenAllTask:
    """A task completing when all ``tasks`` have finished, with their results in input order.

    If any failed, it fails once every task has finished, with the failure of the first failed task
    in input order (the .NET ``Task.WhenAll`` rule).
    """
    return WhenAllTask(tasks)


def when_any(tasks: Iterable[Task[Any]]) -> WhenAnyTask:
    """A task completing as soon as one of ``tasks`` finishes; its result is that task."""
    return WhenAnyTask(tasks)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How an activity or sub-orchestration is retried after a failure.

    The delay before retry *n* (1-based) is ``first_retry_interval * backoff_coefficient ** (n - 1)``,
    at most ``max_retry_interval``. No retry happens after ``max_number_of_attempts`` attempts, nor once
    ``retry_timeout`` has passed since the first attempt. Waits are durable timers; all times are
    orchestration times (never the wall clock).
    """

    first_retry_interval: timedelta
    max_number_of_attempts: int
    backoff_coefficient: float = 1.0
    max_retry_interval: timedelta | None = None
    retry_timeout: timedelta | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.first_retry_interval, timedelta) or self.first_retry_interval <= timedelta(0):
            raise ValueError(
                f"first_retry_interval must be a positive timedelta, got {self.first_retry_interval!r}"
            )
        attempts = self.max_number_of_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"max_number_of_attempts must be an integer >= 1, got {attempts!r}")
        coefficient = self.backoff_coefficient
        if isinstance(coefficient, bool) or not isinstance(coefficient, int | float) or coefficient < 1:
            raise ValueError(f"backoff_coefficient must be a number >= 1.0, got {coefficient!r}")
        cap = self.max_retry_interval
        if cap is not None and (not isinstance(cap, timedelta) or cap < self.first_retry_interval):
            raise ValueError(
                f"max_retry_interval must be a timedelta no shorter than first_retry_interval "
                f"({self.first_retry_interval}), got {cap!r}"
            )
        timeout = self.retry_timeout
        if timeout is not None and (not isinstance(timeout, timedelta) or timeout <= timedelta(0)):
            raise ValueError(f"retry_timeout must be a positive timedelta, got {timeout!r}")

    def next_delay(self, attempts: int, elapsed: timedelta) -> timedelta | None:
        """The wait before the next attempt, after ``attempts`` failed attempts; ``None``: give up.

        ``elapsed`` is the orchestration time since the first attempt was scheduled.
        """
        if attempts >= self.max_number_of_attempts:
            return None
        if self.retry_timeout is not None and elapsed >= self.retry_timeout:
            return None
        seconds = self.first_retry_interval.total_seconds() * float(self.backoff_coefficient) ** (
            attempts - 1
        )
        cap = self.max_retry_interval if self.max_retry_interval is not None else _LONGEST_DELAY
        if seconds >= cap.total_seconds():
            return cap
        return timedelta(seconds=seconds)


_LONGEST_DELAY = timedelta(days=365_000)
"""Backoff beyond this (about a thousand years) is clamped, so a large coefficient cannot overflow."""
