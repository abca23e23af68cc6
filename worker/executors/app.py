"""``AppExecutor``: runs a ``taskhub.App`` in this process, behind the executor seam
(``worker.executors.base``).

Orchestrations replay in this process (``worker.engine.in_process.decide``); with ``keeps_sessions``
the orchestrator itself is the session, carried on in the next episode instead of replayed. Activities:
``async`` functions on the event loop, the others in a thread pool of ``max_threads``. Entity
operations run one at a time, each recorded in the batch (its rollback is the batch's).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import traceback
from concurrent.futures import ThreadPoolExecutor

from taskhub.format.entities import parse_entity_instance_id
from taskhub.format.history import FailureDetails, TaskCompletedEvent, TaskFailedEvent
from taskhub.model.app import App
from taskhub.model.context import ActivityContext
from taskhub.model.entities import run_operation
from taskhub.model.values import from_json, to_json
from worker.engine.decisions import Decisions, OrchestrationWork
from worker.engine.in_process import decide
from worker.executors.base import ActivityOutcome, ActivityWork, EntityWork

__all__ = ["AppExecutor", "failure_of"]

log = logging.getLogger(__name__)


def failure_of(err: BaseException) -> FailureDetails:
    """FailureDetails for a Python exception (type name, message, stack trace)."""
    cls = type(err)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    stack = "".join(traceback.format_exception(cls, err, err.__traceback__))
    return FailureDetails(error_type=name, message=str(err), stack_trace=stack)


class AppExecutor:
    """The executor of a ``taskhub.App`` in this process."""

    keeps_sessions: bool = True

    def __init__(self, app: App, *, max_threads: int = 10, keeps_sessions: bool = True) -> None:
        self.app = app
        self.keeps_sessions = keeps_sessions
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="activity")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def decide(self, work: OrchestrationWork) -> Decisions:
        return decide(self.app, work, keeps_sessions=self.keeps_sessions)

    async def run_activity(self, work: ActivityWork) -> ActivityOutcome:
        event = work.event
        name = event.name or ""
        fn = self.app.get_activity(name)
        if fn is None:
            known = ", ".join(self.app.activity_names) or "(none)"
            err = LookupError(f"activity {name!r} is not registered with this worker; registered: {known}")
            failed = TaskFailedEvent(task_scheduled_id=event.event_id, reason=str(err), failure_details=failure_of(err))
            return ActivityOutcome(failed, ran=False)
        ctx = ActivityContext(orchestration_id=work.instance_id, task_id=event.event_id, name=name)
        log.debug("activity.start name=%s instance_id=%s task_id=%d", name, work.instance_id, event.event_id)
        try:
            value = from_json(event.input)
            if inspect.iscoroutinefunction(fn):
                output = await fn(ctx, value)
            else:
                loop = asyncio.get_running_loop()
                output = await loop.run_in_executor(self._pool, functools.partial(fn, ctx, value))
                if inspect.isawaitable(output):
                    output = await output
            result = to_json(output, what=f"output of activity {name!r}")
        except Exception as err:
            details = failure_of(err)
            failed = TaskFailedEvent(
                task_scheduled_id=event.event_id,
                reason=str(details),
                details=details.stack_trace,
                failure_details=details,
            )
            return ActivityOutcome(failed, ran=True)
        return ActivityOutcome(TaskCompletedEvent(task_scheduled_id=event.event_id, result=result), ran=True)

    async def run_entity_batch(self, work: EntityWork) -> None:
        name, _ = parse_entity_instance_id(work.instance_id)
        fn = self.app.get_entity(name)
        batch = work.batch
        for request in work.operations:
            try:
                ctx, value = batch.begin(request)
            except ValueError as exc:
                batch.fail(None, ValueError(f"input of operation {request.op!r} is not JSON: {exc}"), request)
                continue
            if fn is None:
                registered = ", ".join(repr(n) for n in self.app.entity_names) or "none"
                batch.fail(
                    ctx,
                    ValueError(f"entity {name!r} is not registered with this App; registered entities: {registered}"),
                )
                continue
            try:
                result = run_operation(fn, ctx, value)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:
                log.info(
                    "entity.operation_failed instance_id=%s operation=%s error=%s", work.instance_id, request.op, exc
                )
                batch.fail(ctx, exc)
                continue
            batch.succeed(ctx, result)
