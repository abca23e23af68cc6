"""One batch of entity operations, run one at a time, each rolled back alone when it fails (entities.md 4.4).

The runner drives it: for each request, ``begin(request)`` gives the operation's :class:`OperationContext`
(the ``taskhub.EntityContext`` user code sees) and the decoded input; the runner calls the user function
(awaiting it if it is async) and then ``succeed(ctx, value)`` or ``fail(ctx, exc)``. A failed operation
leaves the state as it was before it and drops the signals and orchestration starts it made; its caller
gets the failure. ``finish(now, window)`` labels the signals with the entity's sorter and returns every
message to send: responses to callers, signals, orchestration starts.

Without a function (the entity name is not registered) every call fails with a clear error.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from taskhub.format.entities import (
    RequestMessage,
    ResponseMessage,
    Stamp,
    stamp_datetime,
    stamp_of,
)
from taskhub.format.entity_state import SchedulerState
from taskhub.format.netjson import dumps
from taskhub.model.entities import EntityContext, EntityId
from taskhub.model.values import from_json, to_json
from worker.entities import sorter
from worker.entities.scheduler import OutMessage, request_to, response_to

__all__ = ["EntityBatch", "OperationContext", "StartOrchestration", "Outcome", "failure_response"]


@dataclass(frozen=True)
class StartOrchestration:
    """A fire-and-forget orchestration start requested by an operation."""

    name: str
    instance_id: str
    input: str | None


@dataclass
class Outcome:
    """What one operation did: its result (JSON text) or its failure."""

    request: RequestMessage
    result: str | None = None
    error: BaseException | None = None


class OperationContext(EntityContext):
    """The context of one operation, over the batch's working state."""

    def __init__(self, batch: EntityBatch, request: RequestMessage) -> None:
        self._batch = batch
        self._request = request
        self.signals: list[tuple[str, RequestMessage]] = []
        self.starts: list[StartOrchestration] = []
        self.state_deleted = False

    @property
    def entity_id(self) -> EntityId:
        return self._batch.entity_id

    @property
    def operation_name(self) -> str:
        return self._request.op or ""

    @property
    def has_state(self) -> bool:
        return self._batch.state.exists

    def get_state(self, default: Any = None) -> Any:
        s = self._batch.state
        if not s.exists or s.state is None:
            return default() if callable(default) else default
        return from_json(s.state)

    def set_state(self, value: Any) -> None:
        text = to_json(value, what=f"state of entity {str(self.entity_id)!r}")
        self._batch.state.exists, self._batch.state.state = True, text
        self.state_deleted = False

    def delete_state(self) -> None:
        self._batch.state.exists, self._batch.state.state = False, None
        self.state_deleted = True

    def signal_entity(
        self,
        entity_id: EntityId | str,
        operation: str,
        *,
        input: Any = None,
        signal_time: datetime | timedelta | None = None,
    ) -> None:
        target = EntityId.of(entity_id)
        if not isinstance(operation, str) or not operation:
            raise ValueError(f"operation must be a non-empty string, got {operation!r}")
        msg = RequestMessage(
            id=str(uuid.uuid4()),
            op=operation,
            signal=True,
            input=None if input is None else to_json(input, what=f"input of operation {operation!r}"),
            parent=str(self.entity_id),
        )
        if signal_time is not None:
            now = stamp_datetime(self._batch.now)
            due = now + signal_time if isinstance(signal_time, timedelta) else signal_time
            if not isinstance(due, datetime) or due.tzinfo is None:
                raise ValueError("signal_time must be a timedelta or a timezone-aware datetime")
            msg.due = stamp_of(due)
        self.signals.append((str(target), msg))

    def schedule_new_orchestration(
        self, name_or_fn: str | Callable[..., Any], *, input: Any = None, instance_id: str | None = None
    ) -> str:
        name = name_or_fn if isinstance(name_or_fn, str) else getattr(name_or_fn, "__taskhub_name__", None)
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"expected an orchestrator name or a registered orchestrator, got {name_or_fn!r}"
            )
        iid = instance_id or uuid.uuid4().hex
        text = None if input is None else to_json(input, what=f"input of orchestrator {name!r}")
        self.starts.append(StartOrchestration(name, iid, text))
        return iid


def failure_response(exc: BaseException) -> ResponseMessage:
    """A failed operation's answer: the error text as JSON (what Python 1.x callers decode), its type, and
    the native ``failureDetails`` (entities.md 2.3)."""
    cls = type(exc)
    error_type = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    details = {
        "ErrorType": error_type,
        "ErrorMessage": str(exc),
        "StackTrace": "".join(traceback.format_exception(exc)),
        "InnerFailure": None,
        "IsNonRetriable": False,
    }
    return ResponseMessage(result=dumps(str(exc)), exception_type=error_type, failure_details=details)


@dataclass
class EntityBatch:
    """The operations of one batch over ``state`` (changed in place)."""

    entity_id: EntityId
    state: SchedulerState
    now: Stamp
    outcomes: list[Outcome] = field(default_factory=list)
    signals: list[tuple[str, RequestMessage]] = field(default_factory=list)
    starts: list[StartOrchestration] = field(default_factory=list)
    _saved: tuple[bool, str | None] = (False, None)

    def begin(self, request: RequestMessage) -> tuple[OperationContext, Any]:
        """Snapshot the state; the context and the decoded input (a bad input fails at ``succeed``)."""
        self._saved = (self.state.exists, self.state.state)
        ctx = OperationContext(self, request)
        return ctx, from_json(request.input)

    def succeed(self, ctx: OperationContext, value: Any) -> None:
        try:
            text = (
                None if value is None else to_json(value, what=f"result of operation {ctx.operation_name!r}")
            )
        except TypeError as exc:
            self.fail(ctx, exc)
            return
        self.signals.extend(ctx.signals)
        self.starts.extend(ctx.starts)
        self.outcomes.append(Outcome(ctx._request, result=text))

    def fail(
        self, ctx: OperationContext | None, exc: BaseException, request: RequestMessage | None = None
    ) -> None:
        self.state.exists, self.state.state = self._saved
        req = request if ctx is None else ctx._request
        assert req is not None
        self.outcomes.append(Outcome(req, error=exc))

    def run_sync(self, fn: Callable[[EntityContext, Any], Any], requests: list[RequestMessage]) -> None:
        """Run ``requests`` with a synchronous function (for tests and sync entities)."""
        for request in requests:
            try:
                ctx, value = self.begin(request)
            except ValueError as exc:
                self.fail(None, exc, request)
                continue
            try:
                result = fn(ctx, value)
            except Exception as exc:
                self.fail(ctx, exc)
                continue
            self.succeed(ctx, result)

    def finish(self, *, window: int) -> list[OutMessage]:
        """Responses (in operation order), then labelled signals; orchestration starts are in ``starts``."""
        out: list[OutMessage] = []
        for o in self.outcomes:
            if o.request.signal or o.request.parent is None:
                continue
            response = failure_response(o.error) if o.error is not None else ResponseMessage(result=o.result)
            out.append(response_to(o.request, response))
        for target, msg in self.signals:
            if msg.due is None:
                sorter.label(self.state.sorter, msg, target, self.now, window)
            out.append(request_to(target, msg, int(self.now)))
        return out
