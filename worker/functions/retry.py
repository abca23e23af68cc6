"""DTFx's ``RetryInterceptor``, the pattern Durable Functions retries follow (functions-host.md 4.2).

Attempt, and after a failure a durable timer, then the next attempt, each under its own action id.
After the **last** failed attempt one more timer is created, due at once ("Dummy timer for
back-compat" in DTFx): the SDK counts that id, so it must be there. The delay before retry n (0-based)
is ``first * backoff ** n``, at most ``maxRetryInterval``; none once ``retryTimeout`` has passed since
the first attempt (then the failure surfaces at once, without the extra timer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from taskhub.errors import FunctionAppError, TaskFailedError
from taskhub.model.tasks import CompositeTask, Task

__all__ = ["RetryOptions", "RetryTask"]

_FOREVER = timedelta(days=3_650_000)


@dataclass(frozen=True)
class RetryOptions:
    """The action's ``retryOptions`` (milliseconds in JSON)."""

    first: timedelta
    max_attempts: int
    backoff: float = 1.0
    max_interval: timedelta = _FOREVER
    timeout: timedelta = _FOREVER

    @classmethod
    def from_json(cls, raw: Any) -> RetryOptions:
        if not isinstance(raw, dict):
            raise FunctionAppError(f"retryOptions must be a JSON object, got {raw!r:.80}")

        def ms(key: str, default: timedelta) -> timedelta:
            value = raw.get(key)
            if value is None:
                return default
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise FunctionAppError(f"retryOptions.{key} must be milliseconds >= 0, got {value!r}")
            return timedelta(milliseconds=value)

        first = ms("firstRetryIntervalInMilliseconds", timedelta(0))
        if first <= timedelta(0):
            raise FunctionAppError("retryOptions.firstRetryIntervalInMilliseconds must be greater than 0")
        attempts = raw.get("maxNumberOfAttempts")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise FunctionAppError(
                f"retryOptions.maxNumberOfAttempts must be an integer >= 1, got {attempts!r}"
            )
        backoff = raw.get("backoffCoefficient", 1.0)
        if isinstance(backoff, bool) or not isinstance(backoff, int | float) or backoff <= 0:
            raise FunctionAppError(f"retryOptions.backoffCoefficient must be a number > 0, got {backoff!r}")
        return cls(
            first,
            attempts,
            float(backoff),
            ms("maxRetryIntervalInMilliseconds", _FOREVER),
            ms("retryTimeoutInMilliseconds", _FOREVER),
        )

    def delay(self, retry: int, first_attempt: datetime, now: datetime) -> timedelta:
        """The wait before attempt ``retry + 2``; zero means: give up now."""
        if self.timeout != _FOREVER and now >= first_attempt + self.timeout:
            return timedelta(0)
        try:
            seconds = self.first.total_seconds() * self.backoff**retry
            return min(timedelta(seconds=seconds), self.max_interval)
        except OverflowError:
            return self.max_interval


class RetryTask(CompositeTask[Any]):
    """Completes with the first successful attempt, or fails after the pattern above.

    ``attempt()`` schedules one attempt (a new action id each time); ``timer(fire_at)`` a durable timer;
    ``now()`` is the orchestration time. Children are watched as they are made.
    """

    def __init__(
        self,
        options: RetryOptions,
        attempt: Callable[[], Task[Any]],
        timer: Callable[[datetime], Task[Any]],
        now: Callable[[], datetime],
    ) -> None:
        super().__init__([])
        self.options = options
        self._attempt, self._timer, self._now = attempt, timer, now
        self._first_attempt = now()
        self._retry = 0
        self._timer_task: Task[Any] | None = None
        self._give_up = False
        self._failure: BaseException | None = None
        self._watch(attempt())

    def _watch(self, task: Task[Any]) -> None:
        self._tasks.append(task)
        task._parents.append(self)
        if task.is_complete:
            self._on_child_done(task)

    def _on_child_done(self, child: Task[Any]) -> None:
        if self.is_complete:
            return
        if child is self._timer_task:
            self._timer_task = None
            if self._give_up:
                self._finish(None, self._failure)
            else:
                self._watch(self._attempt())
            return
        failure = child.get_exception()
        if failure is None:
            self._finish(child.get_result(), None)
            return
        self._failure = failure
        details = failure.details if isinstance(failure, TaskFailedError) else None
        if details is not None and details.is_non_retriable:
            self._finish(None, failure)
            return
        now = self._now()
        if self._retry + 1 == self.options.max_attempts:
            self._give_up = True
            fire_at = now
        else:
            delay = self.options.delay(self._retry, self._first_attempt, now)
            if delay <= timedelta(0):
                self._finish(None, failure)
                return
            fire_at = now + delay
        self._retry += 1
        self._timer_task = self._timer(fire_at)
        self._watch(self._timer_task)
