"""Replay: a pure function from an execution's history to the orchestrator's next actions.

``execute(app, past_events, new_events, instance_id=...)`` runs the orchestrator's generator over the
past events (``is_replaying`` true), then over the new ones, and returns the actions the code made that
history does not hold yet, plus how the execution ended if it did. No clock, no I/O: time comes from
``OrchestratorStarted`` events.

Each history event kind has one short handler in the ``_HANDLERS`` table: lifecycle events here
(``_on_execution_started``, ``_on_execution_terminated``, ...), decisions and completions in
``worker.engine.handlers`` (``_on_task_completed``, ``_on_timer_fired``, ...); a kind without a handler raises. The generator is resumed (``send``/``throw``)
only when the task it yielded is complete.

Decision events in history (``TaskScheduled``, ``TimerCreated``, ``SubOrchestrationInstanceCreated``,
``EventSent``) must match, by ``EventId``, an action of the same kind and name made by the code;
otherwise the execution fails with ``NonDeterminismError``.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from taskhub.errors import NonDeterminismError, TaskFailedError
from taskhub.format.history import (
    ContinueAsNewEvent,
    EventRaisedEvent,
    ExecutionCompletedEvent,
    ExecutionResumedEvent,
    ExecutionRewoundEvent,
    ExecutionStartedEvent,
    ExecutionSuspendedEvent,
    ExecutionTerminatedEvent,
    FailureDetails,
    GenericEvent,
    HistoryEvent,
    HistoryStateEvent,
    OrchestrationStatus,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceFailedEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TimerFiredEvent,
)
from taskhub.model.app import App
from taskhub.model.tasks import CancellableTask, Task
from taskhub.model.values import from_json, to_json
from worker.engine.context import ReplayContext
from worker.engine.entity_calls import release_locks
from worker.engine.handlers import STATE_HANDLERS
from worker.engine.state import Action, Completion, ReplayState

__all__ = ["execute", "Replay", "ReplayResult", "failure_details_of"]

logger = logging.getLogger(__name__)

_HELD_WHILE_SUSPENDED = (
    TaskCompletedEvent,
    TaskFailedEvent,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceFailedEvent,
    TimerFiredEvent,
    EventRaisedEvent,
)
"""Inputs that wait while the instance is suspended (decision events never do: they were made earlier)."""
_IGNORED_AFTER_COMPLETION = _HELD_WHILE_SUSPENDED[:-1]
"""Completions that arrive after the code finished; events raised are still buffered (continue_as_new)."""


@dataclass(frozen=True)
class ReplayResult:
    """What one replay produced."""

    actions: list[Action]
    """The actions the code made that history does not hold yet, by id."""
    completion: Completion | None
    """How the execution ended, or ``None`` while it waits."""
    custom_status: str | None
    """JSON text of the custom status the code set, or ``None`` if it set none."""
    started: ExecutionStartedEvent
    is_suspended: bool

    @property
    def is_waiting(self) -> bool:
        """True while the orchestrator has not completed (it waits for a task or is suspended)."""
        return self.completion is None


def execute(
    app: App,
    past_events: Sequence[HistoryEvent],
    new_events: Sequence[HistoryEvent],
    *,
    instance_id: str,
) -> ReplayResult:
    """Replay ``past_events`` then process ``new_events``; see the module docstring.

    Raises ``ValueError`` if neither holds an ``ExecutionStarted`` and ``TypeError`` for an event kind
    without a handler. Everything the orchestrator does wrong ends the execution as Failed instead.
    """
    return Replay.start(app, past_events, new_events, instance_id=instance_id)[1]


class Replay:
    """One execution's orchestrator after a replay, able to carry on where it stopped (an extended session).

    ``Replay.start`` replays the whole history. ``resume(history, new_events)`` then takes the history as it
    stands after the checkpoint: the events it has not seen yet (the decisions and ``OrchestratorCompleted``
    the episode appended, which confirm the actions the code made) are replayed, then ``new_events`` are
    processed, without running the code again from its start. That gives the same result as a replay of
    the whole history for an orchestrator that is deterministic, as every orchestrator must be, in a
    fraction of the time. Only a replay from history detects non-determinism; a resumed orchestrator
    meets history again when its session is dropped (idle, another worker, a failed checkpoint).
    """

    def __init__(self, executor: _Executor) -> None:
        self._executor = executor
        self.seen = 0
        """How many events of the execution the orchestrator has been through."""

    @classmethod
    def start(
        cls,
        app: App,
        past_events: Sequence[HistoryEvent],
        new_events: Sequence[HistoryEvent],
        *,
        instance_id: str,
    ) -> tuple[Replay, ReplayResult]:
        started = next((e for e in (*past_events, *new_events) if isinstance(e, ExecutionStartedEvent)), None)
        if started is None:
            raise ValueError(
                f"instance {instance_id!r}: no ExecutionStarted event in the history or the new events"
            )
        state = ReplayState(instance_id=instance_id, current_utc_datetime=_utc(started.timestamp))
        replay = cls(_Executor(app, state))
        return replay, replay._run(past_events, new_events)

    @property
    def can_resume(self) -> bool:
        """True while the orchestrator waits in its generator and may carry on from here."""
        executor = self._executor
        return executor.generator is not None and executor.state.completion is None and not executor.diverged

    def resume(self, history: Sequence[HistoryEvent], new_events: Sequence[HistoryEvent]) -> ReplayResult:
        """Carry on over the rest of ``history`` (which must begin with what was seen) and ``new_events``."""
        if not self.can_resume or len(history) < self.seen:
            raise ValueError("this replay cannot carry on over that history; start a new one")
        return self._run(history, new_events)

    def _run(self, history: Sequence[HistoryEvent], new_events: Sequence[HistoryEvent]) -> ReplayResult:
        executor = self._executor
        state = executor.state
        state.history = (tuple(history), tuple(new_events))
        state.is_replaying = True
        for event in history[self.seen :]:
            executor.process(event)
        state.is_replaying = False
        for event in new_events:
            executor.process(event)
        self.seen = len(history) + len(new_events)
        return executor.result()


def failure_details_of(exc: BaseException) -> FailureDetails:
    """FailureDetails for an exception: type (``module.QualName`` unless builtin), message, traceback."""
    cls = type(exc)
    error_type = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    return FailureDetails(
        error_type=error_type,
        message=str(exc),
        stack_trace="".join(traceback.format_exception(exc)),
        inner_failure=exc.details if isinstance(exc, TaskFailedError) else None,
    )


class _Executor:
    """Drives one orchestrator generator over events; all state lives in ``self.state``."""

    def __init__(self, app: App, state: ReplayState) -> None:
        self.app = app
        self.state = state
        self.ctx = ReplayContext(app, state)
        self.generator: Generator[Any, Any, Any] | None = None
        self.awaiting: Task[Any] | None = None
        self.diverged = False

    # --- the loop -------------------------------------------------------------------------------

    def process(self, event: HistoryEvent) -> None:
        state = self.state
        if self.diverged:
            return
        if state.suspended and isinstance(event, _HELD_WHILE_SUSPENDED):
            state.held_events.append(event)
            return
        if state.completion is not None and isinstance(event, _IGNORED_AFTER_COMPLETION):
            return
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise TypeError(f"no replay handler for history event {type(event).__name__}")
        try:
            handler(self, event)
        except NonDeterminismError as exc:
            self._diverge(exc)
            return
        self._resume()

    def _resume(self) -> None:
        while self.generator is not None and self.awaiting is not None and self.awaiting.is_complete:
            task, self.awaiting = self.awaiting, None
            failure = task.get_exception()
            if failure is not None:
                self._step(throw=failure)
            else:
                self._step(send=task.get_result())

    def _step(self, *, send: Any = None, throw: BaseException | None = None) -> None:
        """Advance the generator by one yield (``send(None)`` also starts it)."""
        assert self.generator is not None
        try:
            yielded = self.generator.throw(throw) if throw is not None else self.generator.send(send)
        except StopIteration as stop:
            self.generator = None
            self._finish(stop.value)
            return
        except Exception as exc:
            self.generator = None
            self._fail(exc)
            return
        if self.state.continue_as_new is not None:
            self._close()
            self._finish(None)
        elif not isinstance(yielded, Task):
            self._close()
            self._fail(
                TypeError(
                    f"orchestrator {self.state.name!r} yielded {type(yielded).__name__} {_short_repr(yielded)}; "
                    "orchestrators may only yield tasks (from ctx.call_activity, ctx.create_timer, "
                    "ctx.wait_for_external_event, when_all, when_any, ...)"
                )
            )
        elif isinstance(yielded, CancellableTask) and yielded.is_cancelled:
            self._close()
            self._fail(
                ValueError(
                    f"orchestrator {self.state.name!r} yielded a cancelled task ({yielded!r}); it would never complete"
                )
            )
        else:
            self.awaiting = yielded

    # --- endings --------------------------------------------------------------------------------

    def _finish(self, output: Any) -> None:
        state = self.state
        if state.completion is not None:
            return
        release_locks(state)  # an orchestrator that ends holding locks releases them (entities.md 3)
        if state.continue_as_new is not None:
            request = state.continue_as_new
            state.complete(
                OrchestrationStatus.CONTINUED_AS_NEW, new_input=request.input, save_events=request.save_events
            )
            return
        try:
            result = to_json(output, what=f"output of orchestrator {state.name!r}")
        except TypeError as exc:
            self._fail(exc)
            return
        state.complete(OrchestrationStatus.COMPLETED, result=result)

    def _fail(self, exc: BaseException) -> None:
        if self.state.completion is None:
            release_locks(self.state)
            self.state.complete(OrchestrationStatus.FAILED, failure_details=failure_details_of(exc))

    def _diverge(self, exc: NonDeterminismError) -> None:
        state = self.state
        self.diverged = True
        if state.completion is not None and state.completion.status is OrchestrationStatus.TERMINATED:
            return
        logger.warning("replay.non_determinism instance_id=%s: %s", state.instance_id, exc)
        self._close()
        state.pending_actions.clear()
        state.completion = None
        self._fail(exc)

    def _close(self) -> None:
        generator, self.generator, self.awaiting = self.generator, None, None
        if generator is None:
            return
        try:
            generator.close()
        except Exception:
            logger.warning(
                "replay.generator_close_failed instance_id=%s", self.state.instance_id, exc_info=True
            )

    def result(self) -> ReplayResult:
        state = self.state
        assert state.started is not None
        # A generator left waiting is closed when it is garbage-collected, running its ``finally``
        # blocks later; replay-safe loggers stay silent then.
        state.is_replaying = True
        completion = state.completion
        actions = state.new_actions()
        if completion is not None:
            actions = [action for action in actions if action.id < completion.action_id]
            if completion.status is OrchestrationStatus.CONTINUED_AS_NEW and completion.save_events:
                completion = replace(completion, carried_events=tuple(state.unconsumed_events()))
        return ReplayResult(actions, completion, state.custom_status, state.started, state.suspended)

    # --- lifecycle events -----------------------------------------------------------------------

    def _on_orchestrator_started(self, event: OrchestratorStartedEvent) -> None:
        self.state.current_utc_datetime = _utc(event.timestamp)

    def _on_execution_started(self, event: ExecutionStartedEvent) -> None:
        state = self.state
        if state.started is not None:
            logger.warning("replay.duplicate_execution_started instance_id=%s", state.instance_id)
            return
        state.started = event
        name = event.name or ""
        orchestrator = self.app.get_orchestrator(name)
        if orchestrator is None:
            registered = ", ".join(repr(n) for n in self.app.orchestrator_names) or "none"
            self._fail(
                ValueError(
                    f"orchestrator {name!r} is not registered with this App; registered orchestrators: {registered}"
                )
            )
            return
        try:
            value = from_json(event.input)
        except ValueError as exc:
            self._fail(ValueError(f"input of orchestrator {name!r} is not valid JSON: {exc}"))
            return
        try:
            output = orchestrator(self.ctx, value)
        except Exception as exc:
            self._fail(exc)
            return
        if inspect.isgenerator(output):
            self.generator = output
            self._step()
        else:
            self._finish(output)

    def _on_execution_terminated(self, event: ExecutionTerminatedEvent) -> None:
        state = self.state
        if (
            state.completion is not None
            and state.completion.status is not OrchestrationStatus.CONTINUED_AS_NEW
        ):
            return
        self._close()
        state.pending_actions.clear()
        state.completion = None
        state.complete(OrchestrationStatus.TERMINATED, result=event.input)

    def _on_execution_suspended(self, event: ExecutionSuspendedEvent) -> None:
        if self.state.completion is None:
            self.state.suspended = True

    def _on_execution_resumed(self, event: ExecutionResumedEvent) -> None:
        state = self.state
        if not state.suspended:
            return
        state.suspended = False
        held, state.held_events = state.held_events, []
        for held_event in held:
            self.process(held_event)

    def _ignore(self, event: HistoryEvent) -> None:
        """Events that change nothing in a replay (bookkeeping, or written after completion)."""


def _state_only(handler: Callable[[ReplayState, Any], None]) -> Callable[[_Executor, Any], None]:
    return lambda executor, event: handler(executor.state, event)


_HANDLERS: dict[type[HistoryEvent], Callable[[_Executor, Any], None]] = {
    OrchestratorStartedEvent: _Executor._on_orchestrator_started,
    OrchestratorCompletedEvent: _Executor._ignore,
    ExecutionStartedEvent: _Executor._on_execution_started,
    ExecutionCompletedEvent: _Executor._ignore,
    ContinueAsNewEvent: _Executor._ignore,
    ExecutionTerminatedEvent: _Executor._on_execution_terminated,
    ExecutionSuspendedEvent: _Executor._on_execution_suspended,
    ExecutionResumedEvent: _Executor._on_execution_resumed,
    ExecutionRewoundEvent: _Executor._ignore,
    GenericEvent: _Executor._ignore,
    HistoryStateEvent: _Executor._ignore,
    **{kind: _state_only(handler) for kind, handler in STATE_HANDLERS.items()},
}
"""One handler per event kind; decisions and completions live in ``worker.engine.handlers``."""


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _short_repr(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
