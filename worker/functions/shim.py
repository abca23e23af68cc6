"""The SDK's actions replayed through our ``ReplayContext``, as the extension's
``OutOfProcOrchestrationShim`` replays them through DTFx (functions-host.md 2, 4).

An SDK orchestrator is registered in our ``App`` as :class:`SdkOrchestrator`. When the replay engine
starts it, it calls the SDK once with the whole history (``worker.functions.history_json``) and gets the
full, append-only action list. It then walks that list the way the extension does: set the custom status;
for schema V2/V3, await each top-level action in order (a failed one is ignored: the SDK has already
seen the failure in the history), invoking the children of WhenAll/WhenAny all at once; for the original
schema, invoke each set and await any of it. Our engine assigns the action ids, matches them against
``TaskScheduled`` / ``TimerCreated`` / ``SubOrchestrationInstanceCreated`` / ``EventSent`` and fails the
execution with a non-determinism error naming the action and the history event; new actions are written
and sent as for any orchestrator. After the walk: the SDK's ``error`` fails the orchestration
(``Orchestrator function '<name>' failed: <error>``), ``isDone`` completes it with ``output``, anything
else waits.

Encodings kept from the extension (functions-host.md 3): an activity's input is stored as ``[T]`` (DTFx
``ScheduleTask`` takes an ``object[]``), sub-orchestration, continue-as-new and entity inputs as the JSON
string literal of the SDK's JSON text ``T``; outputs and custom status as the JSON values the SDK gives.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Generator, Iterable
from datetime import UTC, datetime
from typing import Any

from taskhub.errors import FunctionAppError
from taskhub.model.entities import EntityId
from taskhub.model.tasks import CompletableTask, Task, TimerTask, when_all, when_any
from worker.context import ReplayContext
from worker.functions.history_json import orchestrator_context
from worker.functions.reply import ACTION_TYPES, SdkReply, invoke_orchestrator
from worker.functions.retry import RetryOptions, RetryTask
from worker.functions.runlog import RunLog

__all__ = ["SdkOrchestrator", "OrchestrationFailureException", "FunctionNames"]

log = logging.getLogger(__name__)


class OrchestrationFailureException(Exception):
    """How an SDK orchestrator's own failure is recorded (the extension's exception of that name)."""


class FunctionNames:
    """The app's function names per kind, matched case-insensitively as the extension does."""

    def __init__(
        self, orchestrators: Iterable[str], activities: Iterable[str], entities: Iterable[str]
    ) -> None:
        self._kinds = {
            "orchestrator": {n.lower(): n for n in orchestrators},
            "activity": {n.lower(): n for n in activities},
            "entity": {n.lower(): n for n in entities},
        }

    def check(self, kind: str, name: Any, caller: str) -> str:
        """``name`` if the app has such a function, else FunctionAppError listing those it has."""
        known = self._kinds[kind]
        if isinstance(name, str) and name.lower() in known:
            return name
        listed = ", ".join(sorted(known.values())) or "none"
        raise FunctionAppError(
            f"orchestrator {caller!r} calls {kind} {name!r}, which is not a function of this app; "
            f"its {kind} functions: {listed}"
        )


def _done() -> Task[Any]:
    """What a fire-and-forget action or a cancelled timer counts as: already complete."""
    task: CompletableTask[Any] = CompletableTask()
    task.complete(None)
    return task


class _Walk:
    """Invokes actions on one ``ReplayContext`` (the extension's ``InvokeAPIFromAction``)."""

    def __init__(self, ctx: ReplayContext, names: FunctionNames) -> None:
        self.ctx = ctx
        self.names = names
        self.state = ctx.replay_state

    def invoke(self, action: dict[str, Any]) -> Task[Any]:
        kind = action["actionType"]
        handler = _INVOKE.get(kind)
        if handler is None:
            raise FunctionAppError(
                f"orchestrator {self.ctx.name!r} used {ACTION_TYPES[kind]} (actionType {kind}), which "
                "taskhub func start does not support"
            )
        return handler(self, action)

    # --- one method per action type --------------------------------------------------------------

    def _activity(self, action: dict[str, Any]) -> Task[Any]:
        name = self.names.check("activity", action.get("functionName"), self.ctx.name)
        return self.ctx.call_activity(name, input=[action.get("input")])

    def _activity_retry(self, action: dict[str, Any]) -> Task[Any]:
        options = RetryOptions.from_json(action.get("retryOptions"))
        return self._retry(options, lambda: self._activity(action))

    def _sub_orchestrator(self, action: dict[str, Any]) -> Task[Any]:
        name = self.names.check("orchestrator", action.get("functionName"), self.ctx.name)
        instance_id = action.get("instanceId") or f"{self.ctx.execution_id}:{self.state.sequence}"
        version = action.get("version")  # the SDK's version=; without it the child inherits this version
        return self.ctx.call_sub_orchestrator(
            name,
            input=action.get("input"),
            instance_id=instance_id,
            version=version if isinstance(version, str) else None,
        )

    def _sub_orchestrator_retry(self, action: dict[str, Any]) -> Task[Any]:
        options = RetryOptions.from_json(action.get("retryOptions"))
        return self._retry(options, lambda: self._sub_orchestrator(action))

    def _retry(self, options: RetryOptions, attempt: Callable[[], Task[Any]]) -> Task[Any]:
        return RetryTask(options, attempt, self.ctx.create_timer, lambda: self.ctx.current_utc_datetime)

    def _continue_as_new(self, action: dict[str, Any]) -> Task[Any]:
        self.ctx.continue_as_new(action.get("input"))
        return _done()

    def _timer(self, action: dict[str, Any]) -> Task[Any]:
        raw = action.get("fireAt")
        try:
            fire_at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            fire_at = None
        if fire_at is None:
            raise FunctionAppError(f"orchestrator {self.ctx.name!r}: a CreateTimer action has fireAt {raw!r}")
        fire_at = fire_at.replace(tzinfo=UTC) if fire_at.tzinfo is None else fire_at.astimezone(UTC)
        timer: TimerTask = self.ctx.create_timer(fire_at)
        if action.get("isCanceled"):
            timer.cancel()
            return _done()  # awaiting a cancelled .NET task ends at once
        return timer

    def _external_event(self, action: dict[str, Any]) -> Task[Any]:
        return self.ctx.wait_for_external_event(str(action.get("externalEventName") or ""))

    def _entity_id(self, action: dict[str, Any]) -> EntityId:
        entity = EntityId.parse(str(action.get("instanceId") or ""))
        self.names.check("entity", entity.name, self.ctx.name)
        return entity

    def _call_entity(self, action: dict[str, Any]) -> Task[Any]:
        entity = self._entity_id(action)
        return self.ctx.call_entity(entity, str(action.get("operation")), input=action.get("input"))

    def _signal_entity(self, action: dict[str, Any]) -> Task[Any]:
        entity = self._entity_id(action)
        self.ctx.signal_entity(entity, str(action.get("operation")), input=action.get("input"))
        return _done()

    def _when_all(self, action: dict[str, Any]) -> Task[Any]:
        return when_all([self.invoke(child) for child in action["compoundActions"]])

    def _when_any(self, action: dict[str, Any]) -> Task[Any]:
        return when_any([self.invoke(child) for child in action["compoundActions"]])


_INVOKE: dict[int, Callable[[_Walk, dict[str, Any]], Task[Any]]] = {
    0: _Walk._activity,
    1: _Walk._activity_retry,
    2: _Walk._sub_orchestrator,
    3: _Walk._sub_orchestrator_retry,
    4: _Walk._continue_as_new,
    5: _Walk._timer,
    6: _Walk._external_event,
    7: _Walk._call_entity,
    9: _Walk._signal_entity,
    11: _Walk._when_any,
    12: _Walk._when_all,
}
_FIRE_AND_FORGET = (4, 9)
"""CallHttp (8) and ScheduledSignalEntity (10, never sent by the Python SDK) are not supported."""


class SdkOrchestrator:
    """Our orchestrator for one SDK orchestrator function: ``(ctx, input) -> generator``."""

    replays_whole_history = True
    """The SDK computes its actions from the whole history at once, so it never carries on in memory
    between episodes (``worker.replay.Replay``): every episode replays, as the extension does for
    out-of-process workers (Durable Functions forces extended sessions off for Python)."""

    def __init__(
        self, name: str, handle: Callable[[str], Any], names: FunctionNames, runlog: RunLog | None = None
    ) -> None:
        self.name = name
        self.handle = handle
        self.names = names
        self.runlog = runlog or RunLog()
        self.__name__ = name

    def __call__(self, ctx: ReplayContext, _input: Any) -> Generator[Task[Any], Any, Any]:
        state = ctx.replay_state
        past, new = state.history
        context = orchestrator_context(ctx.instance_id, past, new)
        name = ctx.name or self.name
        with self.runlog.run(self.name, f"instance {ctx.instance_id}") as run:
            reply = invoke_orchestrator(self.handle, context)
            problem = reply.error or _first_problem(reply.actions, self.names, name)
            if problem is not None:
                run.fail(problem)
        return _replay(ctx, reply, _Walk(ctx, self.names), name)


def _first_problem(actions: list[list[dict[str, Any]]], names: FunctionNames, caller: str) -> str | None:
    """What will fail the orchestration when its actions are walked (an unknown function, an unsupported
    action), for the run's line; the walk itself raises it."""
    pending = [action for batch in actions for action in batch]
    while pending:
        action = pending.pop(0)
        kind = action.get("actionType")
        pending.extend(action.get("compoundActions") or [])
        try:
            if kind not in _INVOKE:
                shown = (
                    ACTION_TYPES.get(kind, "an unknown action")
                    if isinstance(kind, int)
                    else "an unknown action"
                )
                return f"orchestrator {caller!r} used {shown} (actionType {kind}), which taskhub func start does not support"
            if kind in (0, 1):
                names.check("activity", action.get("functionName"), caller)
            elif kind in (2, 3):
                names.check("orchestrator", action.get("functionName"), caller)
            elif kind in (7, 9):
                names.check("entity", EntityId.parse(str(action.get("instanceId") or "")).name, caller)
        except (FunctionAppError, ValueError) as err:
            return str(err)
    return None


def _replay(ctx: ReplayContext, reply: SdkReply, walk: _Walk, name: str) -> Generator[Task[Any], Any, Any]:
    if reply.custom_status is not None:
        ctx.set_custom_status(reply.custom_status)
    if reply.schema_version > 0:
        for action in reply.actions[0] if reply.actions else []:
            task = walk.invoke(action)
            with contextlib.suppress(Exception):  # the SDK has seen the failure in the history
                yield task
    else:
        for batch in reply.actions:
            tasks = []
            for action in batch:
                task = walk.invoke(action)
                if action["actionType"] not in _FIRE_AND_FORGET:
                    tasks.append(task)
            if tasks:
                with contextlib.suppress(Exception):
                    yield when_any(tasks)
    if reply.error is not None:
        raise OrchestrationFailureException(f"Orchestrator function '{name}' failed: {reply.error}")
    if reply.is_done:
        return reply.output
    forever: CompletableTask[Any] = CompletableTask()
    yield forever  # the SDK waits for something the history does not hold yet
    return None
