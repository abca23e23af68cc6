"""`taskhub sidecar`, client half: the official durabletask client (PyPI durabletask 1.12.0) drives
instances on this hub through the sidecar; a worker of this project's own API runs them. Every hub the
tests leave passes the format check (the e2e fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from durabletask import client as dt
from durabletask.entities import EntityInstanceId

from taskhub import EntityContext
from taskhub.format.history import EventType
from taskhub.model.app import App
from taskhub.model.context import OrchestrationContext
from tests.e2e.conftest import E2E
from worker.sidecar.proto import pb
from worker.sidecar.server import Sidecar

app = App()
SDK_KEY = "sidecar-test-key-0123456789"
ADDRESS: list[str] = []
"""The address of the current test's sidecar (set by the ``sdk`` fixture)."""


@app.orchestrator
def greet(ctx: OrchestrationContext, who: Any) -> Any:
    ctx.set_custom_status({"greeting": who})
    return {"hello": who}


@app.orchestrator
def waits(ctx: OrchestrationContext, _: None):  # type: ignore[no-untyped-def]
    return (yield ctx.wait_for_external_event("go"))


@app.orchestrator
def fails(ctx: OrchestrationContext, _: None) -> Any:
    raise ValueError("no such thing")


FLAKY: dict[str, int] = {}


@app.activity
def fails_once(ctx: Any, key: str) -> str:
    FLAKY[key] = FLAKY.get(key, 0) + 1
    if FLAKY[key] == 1:
        raise RuntimeError("first attempt fails")
    return f"ok on attempt {FLAKY[key]}"


@app.orchestrator
def needs_rewind(ctx: OrchestrationContext, key: str):  # type: ignore[no-untyped-def]
    return (yield ctx.call_activity(fails_once, input=key))


@app.entity
def counter(ctx: EntityContext, input: Any) -> Any:
    if ctx.operation_name == "add":
        ctx.set_state(ctx.get_state(0) + input)
    return ctx.get_state(0)


@pytest.fixture
async def sdk(e2e: E2E) -> AsyncIterator[dt.TaskHubGrpcClient]:
    """The SDK's synchronous client on a sidecar of the test's hub (called through a thread)."""
    async with Sidecar(e2e.settings, port=0, app=app) as sidecar:
        ADDRESS[:] = [f"localhost:{sidecar.port}"]
        client = dt.TaskHubGrpcClient(host_address=ADDRESS[0])
        try:
            yield client
        finally:
            client.close()


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_start_wait_and_read_an_instance(e2e: E2E, sdk: dt.TaskHubGrpcClient) -> None:
    iid = await call(sdk.schedule_new_orchestration, "greet", input="ada", tags={"team": "blue"})
    done = await call(sdk.wait_for_orchestration_completion, iid, timeout=30)
    assert done.runtime_status is dt.OrchestrationStatus.COMPLETED
    assert done.get_output() == {"hello": "ada"}
    assert done.get_custom_status() == {"greeting": "ada"}
    assert done.get_input() == "ada"
    again = await call(sdk.get_orchestration_state, iid)
    assert again.name == "greet" and again.get_output() == {"hello": "ada"}
    # the same instance as this project's own client and history see it
    ours = await e2e.client.get_orchestration_state(iid)
    assert ours is not None and ours.tags == {"team": "blue"} and ours.output == {"hello": "ada"}
    assert "ExecutionCompleted" in await e2e.event_types(iid)
    assert await call(sdk.get_orchestration_state, "nobody-here") is None


async def test_external_event_suspend_resume_and_terminate(e2e: E2E, sdk: dt.TaskHubGrpcClient) -> None:
    iid = await call(sdk.schedule_new_orchestration, "waits", instance_id="w-1")
    started = await call(sdk.wait_for_orchestration_start, iid, timeout=30)
    assert started.runtime_status is dt.OrchestrationStatus.RUNNING
    await call(sdk.raise_orchestration_event, iid, "go", data={"n": 7})
    done = await call(sdk.wait_for_orchestration_completion, iid, timeout=30)
    assert done.get_output() == {"n": 7}

    other = await call(sdk.schedule_new_orchestration, "waits", instance_id="w-2")
    await call(sdk.wait_for_orchestration_start, other, timeout=30)
    await call(sdk.suspend_orchestration, other)
    await e2e.wait_for_event(other, EventType.ExecutionSuspended)
    assert (await call(sdk.get_orchestration_state, other)).runtime_status is dt.OrchestrationStatus.SUSPENDED
    await call(sdk.resume_orchestration, other)
    await e2e.wait_for_event(other, EventType.ExecutionResumed)
    await call(sdk.terminate_orchestration, other, output="enough")
    ended = await call(sdk.wait_for_orchestration_completion, other, timeout=30)
    assert ended.runtime_status is dt.OrchestrationStatus.TERMINATED
    assert ended.get_output() == "enough"


async def test_failure_details_rewind_and_restart(e2e: E2E, sdk: dt.TaskHubGrpcClient) -> None:
    iid = await call(sdk.schedule_new_orchestration, "fails", instance_id="f-1")
    done = await call(sdk.wait_for_orchestration_completion, iid, timeout=30)
    assert done.runtime_status is dt.OrchestrationStatus.FAILED
    assert done.failure_details is not None
    assert "no such thing" in done.failure_details.message
    assert done.failure_details.error_type.endswith("ValueError")
    with pytest.raises(dt.OrchestrationFailedError):
        done.raise_if_failed()

    first = await call(sdk.schedule_new_orchestration, "greet", input="bob", instance_id="r-1")
    await call(sdk.wait_for_orchestration_completion, first, timeout=30)
    new_id = await call(sdk.restart_orchestration, first, restart_with_new_instance_id=True)
    assert new_id != first
    restarted = await call(sdk.wait_for_orchestration_completion, new_id, timeout=30)
    assert restarted.get_output() == {"hello": "bob"}


async def test_query_and_purge(e2e: E2E, sdk: dt.TaskHubGrpcClient) -> None:
    ids = [
        await call(sdk.schedule_new_orchestration, "greet", input=i, instance_id=f"q-{i}") for i in range(3)
    ]
    for i in ids:
        await call(sdk.wait_for_orchestration_completion, i, timeout=30)
    await call(sdk.schedule_new_orchestration, "waits", instance_id="other")
    query = dt.OrchestrationQuery(instance_id_prefix="q-", fetch_inputs_and_outputs=True)
    found = await call(sdk.get_all_orchestration_states, query)
    assert sorted(s.instance_id for s in found) == ids
    assert {s.get_output()["hello"] for s in found} == {0, 1, 2}
    running = dt.OrchestrationQuery(runtime_status=[dt.OrchestrationStatus.COMPLETED])
    assert "other" not in {s.instance_id for s in await call(sdk.get_all_orchestration_states, running)}
    finished = await call(sdk.list_instance_ids, page_size=2)
    ids_seen = list(finished.items)
    while finished.continuation_token:
        finished = await call(
            sdk.list_instance_ids, page_size=2, continuation_token=finished.continuation_token
        )
        ids_seen += finished.items
    assert sorted(ids_seen) == ids  # finished ones only

    purged = await call(sdk.purge_orchestration, "q-0")
    assert purged.deleted_instance_count == 1
    assert await call(sdk.get_orchestration_state, "q-0") is None
    by_filter = await call(sdk.purge_orchestrations_by, runtime_status=[dt.OrchestrationStatus.COMPLETED])
    assert by_filter.deleted_instance_count == 2
    assert await call(sdk.get_orchestration_state, "q-1") is None
    assert await call(sdk.get_orchestration_state, "other") is not None  # still running: kept


async def test_entities_signal_get_query_and_clean(e2e: E2E, sdk: dt.TaskHubGrpcClient) -> None:
    entity = EntityInstanceId("counter", "k1")
    await call(sdk.signal_entity, entity, "add", input=5)
    await call(sdk.signal_entity, entity, "add", input=2)

    async def state() -> Any:
        meta = await call(sdk.get_entity, entity)
        return meta is not None and meta.get_state(int) == 7

    from tests.helpers import wait_for

    await wait_for(state, 30, 0.2, message="counter k1 reaches 7")
    listed = await call(sdk.get_all_entities, dt.EntityQuery(instance_id_starts_with="@counter@"))
    assert [str(m.id) for m in listed] == ["@counter@k1"]
    assert await call(sdk.get_entity, EntityInstanceId("counter", "nope")) is None
    cleaned = await call(sdk.clean_entity_storage)
    assert cleaned.empty_entities_removed == 0 and cleaned.orphaned_locks_released == 0


async def test_errors_are_status_codes_with_a_sentence(e2e: E2E, sdk: dt.TaskHubGrpcClient) -> None:
    with pytest.raises(grpc.RpcError) as missing:
        await call(sdk.raise_orchestration_event, "no-such-id", "go")
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND
    assert "no-such-id" in missing.value.details()

    await call(sdk.schedule_new_orchestration, "waits", instance_id="dup")
    with pytest.raises(grpc.RpcError) as dup:
        await call(sdk.schedule_new_orchestration, "waits", instance_id="dup")
    assert dup.value.code() is grpc.StatusCode.ALREADY_EXISTS

    with pytest.raises(TimeoutError):
        await call(sdk.wait_for_orchestration_completion, "dup", timeout=1)

    channel = grpc.insecure_channel(ADDRESS[0])
    try:
        unimplemented_rpc = channel.unary_unary(
            "/TaskHubSidecarService/DeleteTaskHub",
            request_serializer=pb.DeleteTaskHubRequest.SerializeToString,
            response_deserializer=pb.DeleteTaskHubResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as unimplemented:
            await call(unimplemented_rpc, pb.DeleteTaskHubRequest())
    finally:
        channel.close()
    assert unimplemented.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert "taskhub delete-hub" in unimplemented.value.details()


async def test_a_key_is_required_when_the_sidecar_has_one(e2e: E2E) -> None:
    async with Sidecar(e2e.settings, port=0, key=SDK_KEY, app=app) as sidecar:
        address = f"localhost:{sidecar.port}"
        without = dt.TaskHubGrpcClient(host_address=address)
        with_key = dt.TaskHubGrpcClient(host_address=address, metadata=[("x-functions-key", SDK_KEY)])
        try:
            with pytest.raises(grpc.RpcError) as refused:
                await call(without.get_orchestration_state, "x")
            assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
            assert "x-functions-key" in refused.value.details()
            assert await call(with_key.get_orchestration_state, "x") is None
        finally:
            without.close()
            with_key.close()


async def test_the_sdk_reads_an_instance_s_history(e2e: E2E, sdk: dt.TaskHubGrpcClient) -> None:
    iid = await call(sdk.schedule_new_orchestration, "greet", input="eve", instance_id="h-1")
    await call(sdk.wait_for_orchestration_completion, iid, timeout=30)
    events = await call(sdk.get_orchestration_history, iid)
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["OrchestratorStartedEvent", "ExecutionStartedEvent"]
    assert "ExecutionCompletedEvent" in kinds
    with pytest.raises(grpc.RpcError) as missing:
        await call(sdk.get_orchestration_history, "nobody")
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND


async def test_rewind_runs_the_failed_activity_again(e2e: E2E, sdk: dt.TaskHubGrpcClient) -> None:
    iid = await call(sdk.schedule_new_orchestration, "needs_rewind", input="rw", instance_id="rw-1")
    failed = await call(sdk.wait_for_orchestration_completion, iid, timeout=30)
    assert failed.runtime_status is dt.OrchestrationStatus.FAILED
    await call(sdk.rewind_orchestration, iid, reason="try again")
    done = await call(sdk.wait_for_orchestration_completion, iid, timeout=30)
    assert done.runtime_status is dt.OrchestrationStatus.COMPLETED, done.failure_details
    assert done.get_output() == "ok on attempt 2"
    with pytest.raises(grpc.RpcError) as not_failed:
        await call(sdk.rewind_orchestration, iid)
    assert not_failed.value.code() is grpc.StatusCode.FAILED_PRECONDITION
