"""Sub-orchestrations: deterministic child ids, start messages, completion and failure both ways."""

from __future__ import annotations

from typing import Any

from taskhub.errors import TaskFailedError
from taskhub.format.history import (
    ExecutionStartedEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    ParentInstance,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceFailedEvent,
)
from taskhub.model.app import App
from tests.builders import (
    Driver,
    at,
    orchestrator_started,
    replay,
    started,
    sub_completed,
    sub_created,
    sub_failed,
    terminated,
)
from worker.engine.state import CreateSubOrchestration

app = App()
errors: list[TaskFailedError] = []


@app.orchestrator
def child(ctx: Any, n: int) -> int:
    if n < 0:
        raise ValueError(f"negative: {n}")
    return n * n


@app.orchestrator
def parent(ctx: Any, numbers: list[int]) -> Any:
    first = yield ctx.call_sub_orchestrator(child, input=numbers[0])
    named = yield ctx.call_sub_orchestrator("child", input=numbers[1], instance_id="fixed-child")
    return [first, named]


@app.orchestrator
def guarded(ctx: Any, n: int) -> Any:
    try:
        return (yield ctx.call_sub_orchestrator(child, input=n))
    except TaskFailedError as exc:
        errors.append(exc)
        return "child failed"


def test_default_child_id_is_instance_and_action_id_in_hex() -> None:
    result = replay(app, [], [orchestrator_started(), started("parent", [2, 3])])

    assert result.actions == [CreateSubOrchestration(0, "child", "inst1:0000", "2")]


def test_explicit_child_id_and_completion() -> None:
    past = [orchestrator_started(), started("parent", [2, 3]), sub_created(0, "child", "inst1:0000", 2)]
    second = replay(app, past, [orchestrator_started(at(1)), sub_completed(0, 4)])
    assert second.actions == [CreateSubOrchestration(1, "child", "fixed-child", "3")]

    done = replay(
        app,
        [*past, orchestrator_started(at(1)), sub_completed(0, 4), sub_created(1, "child", "fixed-child", 3)],
        [orchestrator_started(at(2)), sub_completed(1, 9)],
    )
    assert done.completion is not None and done.completion.result == "[4,9]"


def test_failed_child_reaches_the_parent_as_task_failed_error() -> None:
    errors.clear()
    result = replay(
        app,
        [orchestrator_started(), started("guarded", -1), sub_created(0, "child", "inst1:0000", -1)],
        [sub_failed(0, "negative: -1", "ValueError")],
    )

    assert result.completion is not None and result.completion.result == '"child failed"'
    assert errors[0].details.error_type == "ValueError"
    assert "inst1:0000" in str(errors[0])


def test_parent_episode_sends_an_execution_started_to_the_child() -> None:
    driver = Driver(app)
    episode = driver.start("parent", [2, 3], tags={"team": "blue"})

    [message] = episode.outbound
    assert message.kind == "orchestrator"
    assert message.target.instance_id == "inst1:0000"
    event = message.event
    assert isinstance(event, ExecutionStartedEvent)
    assert event.event_id == -1
    assert event.name == "child" and event.input == "2" and event.version == ""
    assert event.orchestration_instance == OrchestrationInstance("inst1:0000", message.target.execution_id)
    assert len(event.orchestration_instance.execution_id or "") == 32
    assert event.parent_instance == ParentInstance(
        name="parent",
        orchestration_instance=OrchestrationInstance("inst1", "e1"),
        task_schedule_id=0,
        version="",
    )
    assert event.generation == 0
    assert event.tags == {"team": "blue"}


PARENT = ParentInstance(
    name="guarded", orchestration_instance=OrchestrationInstance("p1", "pe1"), task_schedule_id=5, version=""
)


def test_child_completion_is_reported_to_the_parent() -> None:
    driver = Driver(app, instance_id="p1:0005")
    episode = driver.start("child", 7, parent=PARENT)

    assert episode.runtime_status is OrchestrationStatus.COMPLETED
    [notice] = episode.outbound
    assert notice.kind == "orchestrator"
    assert notice.target == OrchestrationInstance("p1", "pe1")
    assert isinstance(notice.event, SubOrchestrationInstanceCompletedEvent)
    assert notice.event.task_scheduled_id == 5 and notice.event.result == "49"


def test_child_failure_is_reported_to_the_parent() -> None:
    driver = Driver(app, instance_id="p1:0005")
    episode = driver.start("child", -2, parent=PARENT)

    [notice] = episode.outbound
    assert isinstance(notice.event, SubOrchestrationInstanceFailedEvent)
    assert notice.event.task_scheduled_id == 5
    assert notice.event.failure_details is not None
    assert notice.event.failure_details.error_type == "ValueError"
    assert notice.event.failure_details.message == "negative: -2"


def test_terminated_child_reports_a_failure_to_the_parent() -> None:
    local = App()

    @local.orchestrator
    def waiter(ctx: Any, _: Any) -> Any:
        yield ctx.wait_for_external_event("never")

    driver = Driver(local, instance_id="p1:0005")
    driver.start("waiter", parent=PARENT)
    episode = driver.run(terminated("no longer needed"), now=at(5))

    assert episode.runtime_status is OrchestrationStatus.TERMINATED
    [notice] = episode.outbound
    assert isinstance(notice.event, SubOrchestrationInstanceFailedEvent)
    assert notice.event.task_scheduled_id == 5
    assert notice.event.reason == '"no longer needed"'


def test_fire_and_forget_child_does_not_report() -> None:
    driver = Driver(app, instance_id="p1:0005")
    episode = driver.start("child", 3, parent=PARENT, tags={"FireAndForget": "true"})

    assert episode.runtime_status is OrchestrationStatus.COMPLETED
    assert episode.outbound == []
