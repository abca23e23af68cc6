"""Every status code of the management API (http-api.md), and bad input getting its documented answer."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from aiohttp.test_utils import TestServer

from taskhub.http import create_app
from tests.http.conftest import Api


async def started(api: Api, name: str, body: object, instance_id: str | None = None) -> dict:
    url = f"{api.hooks}/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
    async with api.session.post(url, json=body) as r:
        assert r.status == 202, await r.text()
        return await r.json()


async def finished(api: Api, iid: str) -> None:
    await api.client.wait_for_orchestration_completion(iid, timeout=30)


def assert_clean_error(text: str) -> None:
    assert "Traceback" not in text and "StackTrace" not in text and 'File "' not in text
    assert "AccountKey" not in text and "Eby8vdM02" not in text


async def test_202_while_running_then_200_when_finished(api: Api):
    p = await started(api, "approval_workflow", {"proposal": "x", "timeout_seconds": 600})
    async with api.session.get(p["statusQueryGetUri"]) as r:
        assert r.status == 202
        assert (await r.json())["runtimeStatus"] in ("Pending", "Running")
    await api.client.raise_orchestration_event(p["id"], "ApprovalEvent", data=False)
    await finished(api, p["id"])
    async with api.session.get(p["statusQueryGetUri"]) as r:
        assert r.status == 200
        assert (await r.json())["output"] == "rejected: x"


async def test_400_invalid_json_unknown_function_invalid_id(api: Api):
    async with api.session.post(
        api.hooks + "/orchestrators/chaining", data=b"{not json", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
        body = await r.json()
        assert body["ExceptionMessage"] == "Invalid JSON content"
        assert_clean_error(json.dumps(body))
    async with api.session.post(api.hooks + "/orchestrators/no_such_thing", json=1) as r:
        assert r.status == 400
        body = await r.json()
        assert "no_such_thing" in body["ExceptionMessage"] and "chaining" in body["ExceptionMessage"]
    for bad in ("@entity", "has%23hash", "a%3Fb", "x" * 257):
        async with api.session.post(f"{api.hooks}/orchestrators/chaining/{bad}", json=1) as r:
            assert r.status == 400, bad
            assert "instance id" in (await r.json())["ExceptionMessage"]
    page = await api.client.query_orchestrations()
    assert page.items == []  # nothing was started by the bad requests


async def test_404_unknown_instance_and_unknown_route(api: Api):
    for method, path in [
        ("GET", "/instances/nope"),
        ("POST", "/instances/nope/terminate"),
        ("POST", "/instances/nope/suspend"),
        ("DELETE", "/instances/nope"),
        ("GET", "/nonsense"),
        ("PUT", "/orchestrators/chaining"),  # wrong method: 404 like Durable Functions
        ("POST", "/instances/x/rewindx"),
    ]:
        async with api.session.request(method, api.hooks + path) as r:
            assert r.status == 404, (method, path)
            assert await r.read() == b""
    async with api.session.post(api.hooks + "/instances/nope/raiseEvent/E", json=1) as r:
        assert r.status == 404


async def test_410_for_finished_instances(api: Api):
    p = await started(api, "chaining", 1)
    await finished(api, p["id"])
    async with api.session.post(p["sendEventPostUri"].replace("{eventName}", "E"), json=1) as r:
        assert r.status == 410
    for op in ("terminate", "suspend", "resume"):
        async with api.session.post(f"{api.hooks}/instances/{p['id']}/{op}") as r:
            assert r.status == 410, op


async def test_raise_event_needs_application_json(api: Api):
    p = await started(api, "approval_workflow", {"proposal": "x", "timeout_seconds": 600})
    url = p["sendEventPostUri"].replace("{eventName}", "ApprovalEvent")
    async with api.session.post(url, data="true", headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 400
        assert (await r.json())["ExceptionMessage"] == "Only application/json request content is supported"
    async with api.session.post(url, data="{oops", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
        assert (await r.json())["ExceptionMessage"] == "Invalid JSON content"


async def test_409_when_the_id_is_still_running(api: Api):
    await started(api, "approval_workflow", {"proposal": "x", "timeout_seconds": 600}, "dup-1")
    async with api.session.post(api.hooks + "/orchestrators/approval_workflow/dup-1", json={}) as r:
        assert r.status == 409
        assert "dup-1" in (await r.json())["Message"]


async def test_413_for_a_too_large_body(fast_settings):
    server = TestServer(create_app(fast_settings, max_body_bytes=2048), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as s:
            big = json.dumps("x" * 5000)
            url = str(server.make_url("/runtime/webhooks/durabletask/orchestrators/chaining"))
            async with s.post(url, data=big, headers={"Content-Type": "application/json"}) as r:
                assert r.status == 413
                assert "too large" in (await r.json())["Message"]

            # a chunked body without Content-Length is cut off too
            async def chunks():
                for _ in range(10):
                    yield b"x" * 1000

            async with s.post(url, data=chunks(), headers={"Content-Type": "application/json"}) as r:
                assert r.status == 413
    finally:
        await server.close()


async def test_401_without_the_key_when_a_key_is_set(fast_settings):
    server = TestServer(create_app(fast_settings, key="s3cret-key-0123456789"), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as s:
            url = str(server.make_url("/runtime/webhooks/durabletask/instances"))
            async with s.get(url) as r:
                assert r.status == 401
                text = await r.text()
                assert "s3cret-key-0123456789" not in text
            async with s.get(url, params={"code": "wrong"}) as r:
                assert r.status == 401
            async with s.get(url, params={"code": "s3cret-key-0123456789"}) as r:
                assert r.status == 200
            async with s.get(url, headers={"x-functions-key": "s3cret-key-0123456789"}) as r:
                assert r.status == 200
    finally:
        await server.close()


async def test_500_for_a_failed_instance_only_when_asked(api: Api):
    # started through the client (the server would refuse the name): the worker fails it, naming what exists
    iid = await api.client.schedule_new_orchestration("not_registered_here")
    state = await api.client.wait_for_orchestration_completion(iid, timeout=30)
    assert state.runtime_status.value == "Failed"
    url = f"{api.hooks}/instances/{iid}"
    async with api.session.get(url) as r:
        assert r.status == 200
        body = await r.json()
        assert body["runtimeStatus"] == "Failed" and "not_registered_here" in body["output"]
    async with api.session.get(url + "?returnInternalServerErrorOnFailure=true") as r:
        assert r.status == 500
        body = await r.json()
        assert body["runtimeStatus"] == "Failed"
        assert_clean_error(json.dumps(body))


async def test_query_paging_filters_and_ignored_statuses(api: Api):
    ids = [(await started(api, "chaining", i, f"page-{i:02d}"))["id"] for i in range(7)]
    await asyncio.gather(*(finished(api, i) for i in ids))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        async with api.session.get(
            api.hooks + "/instances?top=3&runtimeStatus=Completed", headers=headers
        ) as r:
            assert r.status == 200
            assert "x-ms-continuation-token" in r.headers
            seen += [s["instanceId"] for s in await r.json()]
            token = r.headers["x-ms-continuation-token"]
            pages += 1
        if not token:
            break
    assert sorted(seen) == ids and pages >= 3
    async with api.session.get(api.hooks + "/instances?runtimeStatus=Running") as r:
        assert await r.json() == []
    # statuses are case-sensitive enum names; unknown ones are dropped (no filter left = all), as DF does
    async with api.session.get(
        api.hooks + "/instances?runtimeStatus=running,Bogus&instanceIdPrefix=page-0"
    ) as r:
        assert r.status == 200
        assert len(await r.json()) == 7
    async with api.session.get(api.hooks + "/instances?top=0") as r:
        assert r.status == 400
    async with api.session.get(
        api.hooks + "/instances", headers={"x-ms-continuation-token": "garbage!"}
    ) as r:
        assert r.status == 400


async def test_purge_by_filter(api: Api):
    async with api.session.delete(api.hooks + "/instances") as r:
        assert r.status == 400
        assert await r.json() == "Please provide value for 'createdTimeFrom' parameter."
    async with api.session.delete(api.hooks + "/instances?createdTimeFrom=2020-01-01T00:00:00Z") as r:
        assert r.status == 404  # nothing to purge
    p = await started(api, "chaining", 3)
    await finished(api, p["id"])
    async with api.session.delete(
        api.hooks + "/instances?createdTimeFrom=2020-01-01T00:00:00.000000Z&runtimeStatus=Completed"
    ) as r:
        assert r.status == 200
        assert await r.json() == {"instancesDeleted": 1}


async def test_restart_and_suspend_resume(api: Api):
    p = await started(api, "chaining", 4)
    await finished(api, p["id"])
    async with api.session.post(p["restartPostUri"]) as r:
        assert r.status == 202
        again = await r.json()
    assert again["id"] != p["id"]
    state = await api.client.wait_for_orchestration_completion(again["id"], timeout=30)
    assert state.output == 49  # ((4+1)*2-3)**2
    async with api.session.post(api.hooks + "/instances/never-was/restart") as r:
        assert r.status == 400

    w = await started(api, "approval_workflow", {"proposal": "s", "timeout_seconds": 600})
    await api.client.wait_for_orchestration_start(w["id"], timeout=30)
    async with api.session.post(w["suspendPostUri"].replace("{text}", "pause")) as r:
        assert r.status == 202
    for _ in range(100):
        if (await api.client.get_orchestration_state(w["id"])).runtime_status.value == "Suspended":
            break
        await asyncio.sleep(0.1)
    async with api.session.get(w["statusQueryGetUri"]) as r:
        assert r.status == 202 and (await r.json())["runtimeStatus"] == "Suspended"
    async with api.session.post(w["resumePostUri"].replace("{text}", "go")) as r:
        assert r.status == 202
