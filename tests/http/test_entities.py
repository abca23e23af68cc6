"""Entity routes of `taskhub serve` (entities.md 5), and the official azure-functions-durable client's
signal_entity / read_entity_state, unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

import azure.durable_functions as df
import azure.durable_functions.models.utils.http_utils as http_utils
import pytest

from taskhub.http import durable_client_binding
from tests.helpers import wait_for
from tests.http.conftest import Api

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def fresh_sdk_session() -> None:
    """azure-functions-durable keeps one module-global aiohttp session (and lock): bound to the event loop
    of the first test that used it, so a later test (a new loop) must start it afresh."""
    http_utils.__dict__["_client_session"] = None
    http_utils.__dict__["_session_lock"] = asyncio.Lock()


async def test_official_client_signals_and_reads_an_entity(api: Api) -> None:
    client = df.DurableOrchestrationClient(durable_client_binding(api.base, api.client.settings.hub_name))
    counter = df.EntityId("counter", "sdk")
    missing = await client.read_entity_state(counter)
    assert missing.entity_exists is False and missing.entity_state is None
    await client.signal_entity(counter, "add", 5)
    await client.signal_entity(counter, "add", 2)

    async def seven() -> Any:
        state = await client.read_entity_state(counter)
        return state.entity_exists and state.entity_state == 7 and state

    await wait_for(seven, 60, 0.2, message="the counter reaches 7")
    meta = await api.client.get_entity("@counter@sdk")
    assert meta is not None and meta.state == 7  # the SDK's double encoding was unwrapped once


async def test_entity_routes(api: Api) -> None:
    s, hooks = api.session, api.hooks
    url = f"{hooks}/entities/Counter/http"
    async with s.post(url, params={"op": "add"}, json=3) as r:
        assert r.status == 202
    async with s.post(url, params={"op": "add"}, data="4", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 202

    async def read() -> Any:
        async with s.get(url) as r:
            return r.status == 200 and (await r.text()) == "7"

    await wait_for(read, 60, 0.2, message="GET shows 7")
    async with s.get(f"{hooks}/entities/counter", params={"fetchState": "true"}) as r:
        assert r.status == 200
        body = await r.json()
    assert [(e["entityId"], e["state"]) for e in body] == [({"name": "counter", "key": "http"}, 7)]
    assert body[0]["lastOperationTime"].endswith("Z")
    async with s.post(url) as r:
        assert r.status == 400 and "op" in (await r.json())["ExceptionMessage"]
    async with s.post(url, params={"op": "add"}, data="{", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
    async with s.delete(url) as r:
        assert r.status == 202

    async def gone() -> bool:
        async with s.get(url) as r:
            return r.status == 404

    await wait_for(gone, 60, 0.2, message="GET answers 404 after DELETE")


async def test_text_bodies_are_string_inputs_and_dollar_is_the_empty_key(api: Api) -> None:
    s, hooks = api.session, api.hooks
    async with s.post(
        f"{hooks}/entities/aggregator/$",
        params={"op": "add"},
        data="1.5",
        headers={"Content-Type": "application/json"},
    ) as r:
        assert r.status == 202
    await asyncio.sleep(0)

    async def read() -> Any:
        async with s.get(f"{hooks}/entities/aggregator/$") as r:
            return r.status == 200 and await r.json()

    stats = await wait_for(read, 60, 0.2, message="the aggregator with the empty key has a state")
    assert stats == {"count": 1, "sum": 1.5, "min": 1.5, "max": 1.5}


async def test_listing_without_fetch_state_has_no_state_and_bad_json_says_why(api: Api) -> None:
    s, hooks = api.session, api.hooks
    async with s.post(f"{hooks}/entities/counter/list", params={"op": "add"}, json=1) as r:
        assert r.status == 202

    async def listed() -> Any:
        async with s.get(f"{hooks}/entities") as r:
            return r.status == 200 and await r.json()

    (entry,) = await wait_for(listed, 60, 0.2, message="the entity is listed")
    assert entry["entityId"] == {"name": "counter", "key": "list"} and "state" not in entry
    headers = {"Content-Type": "application/json"}
    async with s.post(
        f"{hooks}/entities/counter/list", params={"op": "add"}, data="{x", headers=headers
    ) as r:
        assert r.status == 400 and (await r.json())["ExceptionMessage"].startswith(
            "Could not parse JSON content"
        )
