"""One line when a function of a hosted app starts and one when it ends, as Core Tools prints them::

    [2026-12-07T08:30:00.123Z] Executing 'Functions.say_hello' (Reason='activity of instance 8f2c', Id=8f2c:0)
    [2026-12-07T08:30:00.131Z] Executed 'Functions.say_hello' (Failed, Id=8f2c:0, Duration=8ms): AttributeError: ...

A failure's line ends with the first line of the error. ``taskhub func start`` prints these on stdout;
``RunLog()`` without an ``emit`` prints nothing (a worker of this project's own API hosting the app).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

__all__ = ["Run", "RunLog", "first_line"]

Emit = Callable[[str], None]


def first_line(error: BaseException | str) -> str:
    """``Type: message`` of an exception (or the text given), cut at its first line break."""
    if not isinstance(error, str):
        error = f"{type(error).__name__}: {error}" if str(error).strip() else type(error).__name__
    lines = error.strip().splitlines()
    return lines[0] if lines else error


def _stamp() -> str:
    now = datetime.now(UTC)
    return f"[{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z]"


class Run:
    """One function run; ``fail(error)`` marks it Failed before it ends."""

    def __init__(self, name: str, invocation_id: str) -> None:
        self.name = name
        self.id = invocation_id
        self.error: str | None = None
        self._start = time.monotonic()

    def fail(self, error: BaseException | str) -> None:
        self.error = first_line(error)

    def ended(self) -> str:
        ms = round((time.monotonic() - self._start) * 1000)
        outcome = "Succeeded" if self.error is None else "Failed"
        line = f"Executed 'Functions.{self.name}' ({outcome}, Id={self.id}, Duration={ms}ms)"
        return line if self.error is None else f"{line}: {self.error}"


class RunLog:
    """Writes the two lines of each run through ``emit`` (one call per line); None writes nothing."""

    def __init__(self, emit: Emit | None = None) -> None:
        self.emit = emit

    @contextmanager
    def run(self, name: str, reason: str, invocation_id: str | None = None) -> Iterator[Run]:
        """Around one execution: an exception escaping the block marks it Failed (and goes on up)."""
        current = Run(name, invocation_id or str(uuid.uuid4()))
        if self.emit is None:
            yield current
            return
        self.emit(f"{_stamp()} Executing 'Functions.{name}' (Reason='{reason}', Id={current.id})")
        try:
            yield current
        except Exception as exc:
            current.fail(exc)
            raise
        finally:
            self.emit(f"{_stamp()} {current.ended()}")
