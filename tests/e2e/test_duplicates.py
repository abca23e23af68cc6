"""At-least-once delivery: a completion that arrives twice is recorded once (runtime.md 7.7)."""

from __future__ import annotations

from taskhub.format.history import EventType, OrchestrationInstance, OrchestrationStatus, TaskCompletedEvent
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from tests.e2e.conftest import E2E

app = App()


@app.activity
def once(ctx: ActivityContext, _: None) -> str:
    return "first"


@app.orchestrator
def activity_then_event(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    result = yield ctx.call_activity(once)
    go = yield ctx.wait_for_external_event("go")
    return [result, go]


async def test_a_duplicate_task_completed_message_is_dropped(e2e: E2E) -> None:
    iid = await e2e.client.schedule_new_orchestration(activity_then_event)
    [completed] = await e2e.wait_for_event(iid, EventType.TaskCompleted)
    # as if the activity had run again after a crash: a second answer for task 0, with another result
    queues = e2e.client.service.hub.queues
    duplicate = TaskCompletedEvent(task_scheduled_id=completed.task_scheduled_id, result='"second"')
    await queues.send_to_instance(queues.envelope(duplicate, OrchestrationInstance(iid, None), episode=1))
    await e2e.client.raise_orchestration_event(iid, "go", data="go")  # sent after: processed after it
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=20)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output == ["first", "go"]
    types = await e2e.event_types(iid)
    assert types.count("TaskCompleted") == 1
