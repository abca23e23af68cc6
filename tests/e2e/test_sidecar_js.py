"""`taskhub sidecar` with the JavaScript SDK (@microsoft/durabletask-js 0.4.0 from npm, installed into
tests/js by scripts/js-sdk, which `make test` runs) beside the Python one on one hub: a JavaScript
orchestration calls a JavaScript and a Python activity, a Python orchestration calls a JavaScript
activity. Both workers send work-item filters, so each gets only its own functions."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from durabletask import client as dt
from durabletask import entities, task
from durabletask.worker import TaskHubGrpcWorker

from taskhub.format.history import EventType
from tests.e2e.conftest import E2E
from tests.helpers import REPO_ROOT, wait_for
from worker.sidecar.server import Sidecar

pytestmark = pytest.mark.app(None)
JS = REPO_ROOT / "tests" / "js"


@pytest.fixture(scope="session")
def js_sdk() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js with npm is not installed (the JavaScript SDK tests need it)")
    # `make test` has run it already; run here too (a no-op then) for a bare pytest. The script holds a
    # lock, so two test processes never install at once: one running `npm ci` while the other starts
    # a Node.js worker was how a clean clone's CI run lost the module.
    subprocess.run([str(REPO_ROOT / "scripts" / "js-sdk")], check=True, timeout=300)
    assert (JS / "node_modules" / "@microsoft" / "durabletask-js").is_dir(), (
        "scripts/js-sdk installed nothing"
    )
    return JS


def hello(ctx: task.ActivityContext, name: str) -> str:
    return f"Hello {name}!"


def py_calls_js(ctx: task.OrchestrationContext, name: str) -> Iterator[task.Task[Any]]:
    return (yield ctx.call_activity("js_hello", input=name))


def py_calls_js_entity(ctx: task.OrchestrationContext, amount: int) -> Iterator[task.Task[Any]]:
    return (yield ctx.call_entity(entities.EntityInstanceId("js_counter", "c"), "add", input=amount))


@pytest.fixture
async def sidecar(e2e: E2E) -> AsyncIterator[Sidecar]:
    async with Sidecar(e2e.settings, port=0) as s:
        yield s


@pytest.fixture
async def both(sidecar: Sidecar, js_sdk: Path) -> AsyncIterator[dt.TaskHubGrpcClient]:
    address = f"localhost:{sidecar.port}"
    py = TaskHubGrpcWorker(host_address=address)
    py.add_orchestrator(py_calls_js)
    py.add_orchestrator(py_calls_js_entity)
    py.add_activity(hello)
    py.use_work_item_filters()
    py.start()
    node = await asyncio.to_thread(
        subprocess.Popen,
        ["node", str(js_sdk / "worker.js"), address],
        cwd=js_sdk,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = dt.TaskHubGrpcClient(host_address=address)
    try:
        yield client
    finally:
        client.close()
        node.terminate()
        try:
            out, _ = await asyncio.to_thread(node.communicate, timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()
            out, _ = node.communicate()
        print(out[-3000:])
        await asyncio.to_thread(py.stop)


async def test_a_javascript_orchestration_calls_javascript_and_python_activities(
    e2e: E2E, both: dt.TaskHubGrpcClient
) -> None:
    iid = await asyncio.to_thread(both.schedule_new_orchestration, "js_chain", input="Ada")
    done = await asyncio.to_thread(both.wait_for_orchestration_completion, iid, timeout=60)
    assert done.runtime_status is dt.OrchestrationStatus.COMPLETED, done.failure_details
    assert done.get_output() == ["Hi Ada from JavaScript", "Hello Ada!"]


async def test_a_python_orchestration_calls_a_javascript_activity(
    e2e: E2E, both: dt.TaskHubGrpcClient
) -> None:
    done = await asyncio.to_thread(
        both.wait_for_orchestration_completion,
        await asyncio.to_thread(both.schedule_new_orchestration, py_calls_js, input="Bob"),
        timeout=60,
    )
    assert done.runtime_status is dt.OrchestrationStatus.COMPLETED, done.failure_details
    assert done.get_output() == "Hi Bob from JavaScript"


async def _run(client: dt.TaskHubGrpcClient, name: str, input: Any, instance_id: str | None = None) -> Any:
    iid = await asyncio.to_thread(
        client.schedule_new_orchestration, name, input=input, instance_id=instance_id
    )
    return await asyncio.to_thread(client.wait_for_orchestration_completion, iid, timeout=60)


async def test_javascript_fan_out_sub_orchestration_and_continue_as_new(
    e2e: E2E, both: dt.TaskHubGrpcClient
) -> None:
    fan = await _run(both, "js_fan", 5)
    assert fan.get_output() == [f"Hi {i} from JavaScript" for i in range(5)]
    parent = await _run(both, "js_parent", 3)
    assert parent.runtime_status is dt.OrchestrationStatus.COMPLETED, parent.failure_details
    assert parent.get_output() == 3
    counts = await _run(both, "js_counts", 0, instance_id="js-c")
    assert counts.get_output() == 3
    assert (await e2e.event_types("js-c")).count("ExecutionStarted") == 1


async def test_javascript_external_event_timer_and_custom_status(
    e2e: E2E, both: dt.TaskHubGrpcClient
) -> None:
    iid = await asyncio.to_thread(both.schedule_new_orchestration, "js_approval", input=60)
    await e2e.wait_for_event(iid, EventType.TimerCreated)
    waiting = await asyncio.to_thread(both.get_orchestration_state, iid)
    assert waiting.get_custom_status() == {"waiting": True}
    await asyncio.to_thread(both.raise_orchestration_event, iid, "approve", data={"by": "ada"})
    done = await asyncio.to_thread(both.wait_for_orchestration_completion, iid, timeout=60)
    assert done.get_output() == {"by": "ada"}
    late = await _run(both, "js_approval", 1)
    assert late.get_output() == "timed out"


async def test_a_javascript_entity_signalled_by_the_client_and_called_from_python(
    e2e: E2E, both: dt.TaskHubGrpcClient
) -> None:
    counter = entities.EntityInstanceId("js_counter", "c")
    await asyncio.to_thread(both.signal_entity, counter, "add", input=5)

    async def signalled() -> bool:
        meta = await asyncio.to_thread(both.get_entity, counter)
        return meta is not None and meta.get_state(int) == 5

    await wait_for(signalled, 30, 0.2, message="the JavaScript entity took the signal")
    done = await _run(both, "py_calls_js_entity", 2)
    assert done.runtime_status is dt.OrchestrationStatus.COMPLETED, done.failure_details
    assert done.get_output() == 7
    meta = await asyncio.to_thread(both.get_entity, counter)
    assert meta is not None and meta.get_state(int) == 7


async def test_a_javascript_activity_is_retried_by_its_retry_policy(
    e2e: E2E, both: dt.TaskHubGrpcClient
) -> None:
    done = await _run(both, "js_retries", {"key": "r1", "attempts": 3}, instance_id="js-r1")
    assert done.runtime_status is dt.OrchestrationStatus.COMPLETED, done.failure_details
    assert done.get_output() == "ok after 3"
    kinds = await e2e.event_types("js-r1")
    assert (
        kinds.count("TaskFailed") == 2 and kinds.count("TimerFired") == 2
    )  # two retries, a timer before each
    short = await _run(both, "js_retries", {"key": "r2", "attempts": 2})
    assert short.runtime_status is dt.OrchestrationStatus.FAILED
    assert "attempt 2 of r2 fails" in short.failure_details.message


async def test_a_javascript_orchestration_signals_calls_and_locks_entities(
    e2e: E2E, both: dt.TaskHubGrpcClient
) -> None:
    done = await _run(both, "js_uses_entities", "k")
    assert done.runtime_status is dt.OrchestrationStatus.COMPLETED, done.failure_details
    assert done.get_output() == 7  # the signal's 3 before the call's 4
    runs = await asyncio.gather(*(_run(both, "js_transfer", 5, instance_id=f"js-t{i}") for i in range(3)))
    assert all(r.runtime_status is dt.OrchestrationStatus.COMPLETED for r in runs), [
        r.failure_details for r in runs
    ]
    outputs = [r.get_output() for r in runs]
    assert sorted(o["have"] for o in outputs) == [-15, -10, -5]  # one critical section at a time
    assert all(o["inside"] for o in outputs)
    to, from_ = await e2e.client.get_entity("@js_counter@to"), await e2e.client.get_entity("@js_counter@from")
    assert to is not None and to.state == 15
    assert from_ is not None and from_.state == -15 and from_.locked_by is None  # released


async def test_the_javascript_client_starts_waits_raises_suspends_and_terminates(
    e2e: E2E, sidecar: Sidecar, both: dt.TaskHubGrpcClient, js_sdk: Path
) -> None:
    run = await asyncio.create_subprocess_exec(
        "node",
        str(js_sdk / "client.js"),
        f"localhost:{sidecar.port}",
        "jsc",
        cwd=js_sdk,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(run.communicate(), 90)
    assert run.returncode == 0, err.decode()[-3000:]
    seen = json.loads(out.decode().strip().splitlines()[-1])  # the last line: what it saw
    assert seen["approve"] == {"id": "jsc-approve", "status": "COMPLETED", "output": {"by": "javascript"}}
    assert seen["suspended"] == "SUSPENDED"
    assert seen["stop"] == {"id": "jsc-stop", "status": "TERMINATED", "output": "stopped by javascript"}
    assert seen["entity"] == 5 and seen["missing"] is None
    assert "EventRaised" in await e2e.event_types("jsc-approve")
    kinds = await e2e.event_types("jsc-stop")
    assert "ExecutionSuspended" in kinds and "ExecutionResumed" in kinds and "ExecutionTerminated" in kinds
