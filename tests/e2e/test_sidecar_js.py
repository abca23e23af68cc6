"""`taskhub sidecar` with the JavaScript SDK (@microsoft/durabletask-js 0.4.0 from npm, installed into
tests/js by scripts/js-sdk, which `make test` runs) beside the Python one on one hub: a JavaScript
orchestration calls a JavaScript and a Python activity, a Python orchestration calls a JavaScript
activity. Both workers send work-item filters, so each gets only its own functions."""

from __future__ import annotations

import asyncio
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
    assert (JS / "node_modules" / "@microsoft" / "durabletask-js").is_dir(), "scripts/js-sdk installed nothing"
    return JS


def hello(ctx: task.ActivityContext, name: str) -> str:
    return f"Hello {name}!"


def py_calls_js(ctx: task.OrchestrationContext, name: str) -> Iterator[task.Task[Any]]:
    return (yield ctx.call_activity("js_hello", input=name))


def py_calls_js_entity(ctx: task.OrchestrationContext, amount: int) -> Iterator[task.Task[Any]]:
    return (yield ctx.call_entity(entities.EntityInstanceId("js_counter", "c"), "add", input=amount))


@pytest.fixture
async def both(e2e: E2E, js_sdk: Path) -> AsyncIterator[dt.TaskHubGrpcClient]:
    async with Sidecar(e2e.settings, port=0) as sidecar:
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
