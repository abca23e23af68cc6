"""when_all and when_any over real activities."""

from __future__ import annotations

import time

from taskhub.errors import TaskFailedError
from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from taskhub.model.tasks import when_all, when_any
from tests.e2e.conftest import E2E

app = App()


@app.activity
def work(ctx: ActivityContext, spec: dict[str, object]) -> str:
    time.sleep(float(spec.get("sleep", 0)))  # type: ignore[arg-type]
    if spec.get("fail"):
        raise RuntimeError(f"{spec['name']} broke")
    return str(spec["name"])


@app.orchestrator
def all_of(ctx: OrchestrationContext, specs: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    tasks = [ctx.call_activity(work, input=s) for s in specs]
    try:
        return {"results": (yield when_all(tasks))}
    except TaskFailedError as err:
        return {
            "error": err.details.message,
            "finished": [t.is_complete for t in tasks],
            "results": [t.get_result() for t in tasks if t.is_complete and not t.is_failed],
        }


@app.orchestrator
def any_of(ctx: OrchestrationContext, specs: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    tasks = [ctx.call_activity(work, input=s) for s in specs]
    winner = yield when_any(tasks)
    return {"winner": tasks.index(winner), "result": winner.get_result()}


async def test_when_all_returns_results_in_input_order(e2e: E2E) -> None:
    specs = [{"name": "a", "sleep": 0.3}, {"name": "b"}, {"name": "c", "sleep": 0.1}]
    iid = await e2e.client.schedule_new_orchestration(all_of, input=specs)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert state.output == {"results": ["a", "b", "c"]}


async def test_when_all_with_one_failing_child_fails_after_all_have_finished(e2e: E2E) -> None:
    specs = [{"name": "a"}, {"name": "b", "fail": True}, {"name": "c", "sleep": 1.0}]
    iid = await e2e.client.schedule_new_orchestration(all_of, input=specs)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output["error"] == "b broke"
    assert state.output["finished"] == [True, True, True]  # it waited for the slow one too
    assert state.output["results"] == ["a", "c"]
    types = await e2e.event_types(iid)
    assert types.count("TaskCompleted") == 2 and types.count("TaskFailed") == 1


async def test_when_any_completes_with_the_first_task_to_finish(e2e: E2E) -> None:
    specs = [{"name": "slow", "sleep": 2.0}, {"name": "fast"}]
    iid = await e2e.client.schedule_new_orchestration(any_of, input=specs)
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output == {"winner": 1, "result": "fast"}
    history = await e2e.history(iid)
    completed = [e for e in history if e.event_type is EventType.TaskCompleted]
    assert [e.task_scheduled_id for e in completed] == [1]  # done before the slow one reported
