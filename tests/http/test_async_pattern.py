"""The async HTTP pattern with plain HTTP requests: start -> 202 + Location -> poll -> 200 + output."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.http.conftest import Api

MANAGEMENT_KEYS = {
    "id",
    "statusQueryGetUri",
    "sendEventPostUri",
    "terminatePostUri",
    "purgeHistoryDeleteUri",
    "restartPostUri",
    "suspendPostUri",
    "resumePostUri",
}


async def poll_until_done(api: Api, url: str, *, timeout: float = 30) -> tuple[int, dict]:
    """Poll a status URL the way a client does, honouring 202 until it turns 200."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen_202 = 0
    while True:
        async with api.session.get(url) as r:
            body = await r.json()
            if r.status != 202:
                return r.status, body | {"_polls_202": seen_202}
            assert r.headers["Retry-After"] == "5"
            assert r.headers["Location"] == url
            seen_202 += 1
        assert loop.time() < deadline, f"still running after {timeout} s: {body}"
        await asyncio.sleep(0.2)


@pytest.mark.front_door
async def test_http_start_route_then_poll_to_the_output(api: Api):
    async with api.session.post(api.base + "/api/orchestrators/chaining", json=5) as r:
        assert r.status == 202
        payload = await r.json()
        assert set(payload) == MANAGEMENT_KEYS
        assert r.headers["Location"] == payload["statusQueryGetUri"]
        assert r.headers["Retry-After"] == "10"
        assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    iid = payload["id"]
    assert payload["statusQueryGetUri"].startswith(f"{api.hooks}/instances/{iid}?taskHub=")
    assert payload["sendEventPostUri"].startswith(f"{api.hooks}/instances/{iid}/raiseEvent/{{eventName}}?")
    assert "/terminate?reason={text}&taskHub=" in payload["terminatePostUri"]

    status, body = await poll_until_done(api, payload["statusQueryGetUri"])
    assert status == 200
    assert body["runtimeStatus"] == "Completed"
    assert body["output"] == 81  # ((5 + 1) * 2 - 3) ** 2
    assert body["input"] == 5
    assert body["instanceId"] == iid and body["name"] == "chaining"
    # whole seconds, no fraction, Z
    assert len(body["createdTime"]) == 20 and body["createdTime"].endswith("Z")


async def test_approval_by_send_event_uri_and_terminate_then_purge(api: Api):
    start = api.hooks + "/orchestrators/approval_workflow"
    approve_input = {"proposal": {"project": "bridge"}, "timeout_seconds": 600}
    async with api.session.post(start, json=approve_input) as r:
        assert r.status == 202
        approval = await r.json()
    async with api.session.post(start, json=approve_input) as r:
        other = await r.json()

    # wait until the first one waits for its event (history shows the timer)
    status_url = approval["statusQueryGetUri"] + "&showHistory=true"
    for _ in range(100):
        async with api.session.get(status_url) as r:
            body = await r.json()
        if any(e["EventType"] == "TimerCreated" for e in body.get("historyEvents", [])):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"never reached the wait: {body}")

    send = approval["sendEventPostUri"].replace("{eventName}", "ApprovalEvent")
    async with api.session.post(send, data="true", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 202
        assert await r.read() == b""
    status, body = await poll_until_done(api, approval["statusQueryGetUri"])
    assert (status, body["runtimeStatus"], body["output"]) == (200, "Completed", "approved: bridge")

    terminate = other["terminatePostUri"].replace("{text}", "no%20longer%20needed")
    async with api.session.post(terminate) as r:
        assert r.status == 202
    status, body = await poll_until_done(api, other["statusQueryGetUri"])
    assert (status, body["runtimeStatus"], body["output"]) == (200, "Terminated", "no longer needed")

    async with api.session.delete(other["purgeHistoryDeleteUri"]) as r:
        assert r.status == 200
        assert await r.json() == {"instancesDeleted": 1}
    async with api.session.get(other["statusQueryGetUri"]) as r:
        assert r.status == 404
    assert await api.client.get_orchestration_state(other["id"]) is None
    assert await api.client.service.hub.tracking.history_row_keys(other["id"]) == []


async def test_history_projection_in_status(api: Api):
    async with api.session.post(api.hooks + "/orchestrators/chaining/proj-1", json=1) as r:
        payload = await r.json()
    await poll_until_done(api, payload["statusQueryGetUri"])
    url = payload["statusQueryGetUri"] + "&showHistory=true&showHistoryOutput=true"
    async with api.session.get(url) as r:
        body = await r.json()
    events = body["historyEvents"]
    kinds = [e["EventType"] for e in events]
    assert kinds == [
        "ExecutionStarted",
        "TaskCompleted",
        "TaskCompleted",
        "TaskCompleted",
        "TaskCompleted",
        "ExecutionCompleted",
    ]
    first = events[1]
    assert first["FunctionName"] == "F1" and first["Result"] == 2 and "ScheduledTime" in first
    assert not any(k in first for k in ("EventId", "IsPlayed", "TaskScheduledId"))
    assert events[0]["FunctionName"] == "chaining"
    assert events[-1]["OrchestrationStatus"] == "Completed" and events[-1]["Result"] == 1  # ((1+1)*2-3)**2


async def test_start_and_wait_returns_the_output(api: Api):
    url = api.hooks + "/orchestrators/chaining?timeout=20&pollingInterval=1"
    async with api.session.post(url, json=2) as r:
        assert r.status == 200
        assert json.loads(await r.text()) == 9  # ((2+1)*2-3)**2
