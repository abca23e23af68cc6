"""The official azure-functions-durable client (1.7.x), unchanged, against `taskhub serve` + a worker."""

from __future__ import annotations

import asyncio
import json

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from taskhub.http import durable_client_binding
from tests.http.conftest import Api


async def wait_status(client: df.DurableOrchestrationClient, iid: str, wanted: str, timeout: float = 30):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = await client.get_status(iid)
        if status.runtime_status is not None and status.runtime_status.value == wanted:
            return status
        assert loop.time() < deadline, f"{iid} is {status.runtime_status}, wanted {wanted}"
        await asyncio.sleep(0.2)


async def test_official_client_drives_the_hub(api: Api):
    hub = api.client.settings.hub_name
    client = df.DurableOrchestrationClient(durable_client_binding(api.base, hub))

    # start_new + get_status with history
    iid = await client.start_new("chaining", client_input=3)
    assert iid
    done = await wait_status(client, iid, "Completed")
    assert done.output == 25  # ((3+1)*2-3)**2
    assert done.input_ == 3
    assert done.name == "chaining" and done.instance_id == iid
    with_history = await client.get_status(iid, show_history=True, show_history_output=True)
    kinds = [e["EventType"] for e in with_history.historyEvents]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionCompleted"
    assert with_history.historyEvents[1]["FunctionName"] == "F1"

    # start with an id, raise_event
    approval = await client.start_new(
        "approval_workflow",
        instance_id="sdk-approval",
        client_input={"proposal": "sdk", "timeout_seconds": 600},
    )
    assert approval == "sdk-approval"
    await wait_status(client, approval, "Running")
    for _ in range(100):  # wait until it waits for the event (TimerCreated in history)
        s = await client.get_status(approval, show_history=True)
        if any(e["EventType"] == "TimerCreated" for e in s.historyEvents or []):
            break
        await asyncio.sleep(0.1)
    await client.raise_event(approval, "ApprovalEvent", True)
    approved = await wait_status(client, approval, "Completed")
    assert approved.output == "approved: sdk"

    # suspend, resume, terminate
    victim = await client.start_new(
        "approval_workflow", client_input={"proposal": "v", "timeout_seconds": 600}
    )
    await wait_status(client, victim, "Running")
    await client.suspend(victim, "hold on")
    await wait_status(client, victim, "Suspended")
    await client.resume(victim, "carry on")
    await wait_status(client, victim, "Running")
    await client.terminate(victim, "stop it")
    terminated = await wait_status(client, victim, "Terminated")
    assert terminated.output == "stop it"

    # get_status_by with a runtime status filter
    completed = await client.get_status_by(runtime_status=[OrchestrationRuntimeStatus.Completed])
    assert {s.instance_id for s in completed} == {iid, approval}
    everything = await client.get_status_all()
    assert {s.instance_id for s in everything} == {iid, approval, victim}

    # purge
    purged = await client.purge_instance_history(victim)
    assert purged.instances_deleted == 1
    assert (await client.get_status(victim)).instance_id is None  # 404: an empty status

    # create_check_status_response builds the 202 from the binding's management URLs
    request = func.HttpRequest(method="POST", url=f"{api.base}/api/orchestrators/chaining", body=b"")
    response = client.create_check_status_response(request, iid)
    assert response.status_code == 202
    payload = json.loads(response.get_body())
    assert payload["id"] == iid
    assert response.headers["Location"] == payload["statusQueryGetUri"]
    async with api.session.get(payload["statusQueryGetUri"]) as r:  # the URL it built works
        assert r.status == 200
        assert (await r.json())["output"] == 25
