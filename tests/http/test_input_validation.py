"""Odd input (issue 19): validated before anything changes, refused with a sentence, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from yarl import URL

from taskhub.http.params import ApiError, strict_json
from taskhub.model.entities import EntityId
from taskhub.storage.types import decode_token, encode_token
from tests.http.conftest import Api


def _strict_loads(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


async def _ids(api: Api) -> set[str]:
    page = await api.client.query_orchestrations(page_size=1000)
    return {s.instance_id for s in page.items}


async def _message(r: Any) -> str:
    body = await r.json()
    return str(body.get("ExceptionMessage") or body.get("Message"))


async def test_bad_query_parameters_change_nothing(api: Api) -> None:
    await api.client.schedule_new_orchestration("chaining", input=1, instance_id="chain-1")
    await api.client.wait_for_orchestration_completion("chain-1", timeout=30)
    async with api.session.post(f"{api.hooks}/instances/chain-1/restart?timeout=abc") as r:
        assert r.status == 400 and "timeout" in await _message(r)
    async with api.session.post(
        f"{api.hooks}/orchestrators/chaining/pi-1?timeout=1&pollingInterval=2", json=1
    ) as r:
        assert r.status == 400 and "pollingInterval" in await _message(r)
    async with api.session.post(f"{api.hooks}/orchestrators/chaining/pi-2?timeout=nan", json=1) as r:
        assert r.status == 400
    assert await _ids(api) == {"chain-1"}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("NaN", "NaN is not a JSON number"),
        ('{"x": Infinity}', "Infinity is not a JSON number"),
        ("[-Infinity]", "-Infinity is not a JSON number"),
        ("1e400", "beyond the range"),
        ('"\\ud800"', "lone surrogate"),
        ('{"\\udfff": 1}', "lone surrogate"),
        ("[" * 10_000 + "]" * 10_000, "nested deeper than 100 levels"),
        ("[" * 101 + "]" * 101, "nested deeper than 100 levels"),
    ],
)
async def test_json_other_readers_cannot_read_is_refused(api: Api, body: str, words: str) -> None:
    headers = {"Content-Type": "application/json"}
    async with api.session.post(f"{api.hooks}/orchestrators/chaining/odd", data=body, headers=headers) as r:
        assert r.status == 400 and words in await _message(r)
    async with api.session.post(f"{api.hooks}/entities/counter/odd?op=add", data=body, headers=headers) as r:
        assert r.status == 400 and words in await _message(r)
    assert await _ids(api) == set()
    async with api.session.get(f"{api.hooks}/instances") as r:
        assert r.status == 200 and _strict_loads(await r.text()) == []


async def test_a_hundred_levels_are_still_taken(api: Api) -> None:
    body = "[" * 100 + "]" * 100
    async with api.session.post(
        f"{api.hooks}/orchestrators/chaining/deep", data=body, headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 202


async def test_out_of_range_times_and_forged_tokens_are_400(api: Api) -> None:
    for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        async with api.session.get(f"{api.hooks}/instances", params={"createdTimeFrom": value}) as r:
            assert r.status == 400 and "outside the years" in await _message(r), value
        async with api.session.delete(f"{api.hooks}/instances", params={"createdTimeFrom": value}) as r:
            assert r.status == 400, value
    nested = base64.urlsafe_b64encode(("[" * 3000).encode()).decode()
    for token in (nested, "x" * 5000, encode_token(["not", "a", "dict"]) or ""):
        for path in ("/instances", "/entities"):
            async with api.session.get(api.hooks + path, headers={"x-ms-continuation-token": token}) as r:
                assert r.status == 400 and "continuation token" in await _message(r), path


async def test_instance_routes_refuse_entity_ids(api: Api) -> None:
    await api.client.signal_entity(EntityId("counter", "k"), "add", input=1)
    for method, path in (
        ("POST", "/instances/@counter@k/raiseEvent/x"),
        ("POST", "/instances/@counter@k/restart"),
        ("POST", "/instances/@counter@k/terminate"),
        ("GET", "/instances/@counter@k"),
        ("DELETE", "/instances/@counter@k"),
    ):
        async with api.session.request(method, api.hooks + path, json=1) as r:
            assert r.status == 400, path
            assert "use the entity routes" in await _message(r)
    assert await _ids(api) <= {"@counter@k"}
    for steer in (
        api.client.raise_orchestration_event("@counter@k", "x"),
        api.client.terminate_orchestration("@counter@k"),
        api.client.restart_orchestration("@counter@k"),
    ):
        with pytest.raises(ValueError, match="is an entity's id"):
            await steer


async def test_entity_names_keys_and_operations_have_limits(api: Api) -> None:
    cases = [
        (f"/entities/counter/{'k' * 7000}?op=add", "entity key must be at most 400 characters"),
        (f"/entities/{'n' * 101}/k?op=add", "entity name must be at most 100 characters"),
        (f"/entities/counter/k?op={'o' * 101}", "operation name must be at most 100 characters"),
    ]
    for path, words in cases:
        async with api.session.post(api.hooks + path, json=1) as r:
            assert r.status == 400 and words in await _message(r), path
    async with api.session.post(f"{api.hooks}/entities/{'n' * 100}/{'k' * 400}?op={'o' * 100}", json=1) as r:
        assert r.status == 202
    with pytest.raises(ValueError, match="at most 400 characters"):
        EntityId("counter", "k" * 401)
    with pytest.raises(ValueError, match="operation name must be at most 100"):
        await api.client.signal_entity(EntityId("counter", "k"), "o" * 101)


async def test_dot_ids_and_undecodable_escapes_are_400(api: Api) -> None:
    for raw in (".", "..", "%2E", "%2E%2E", "a%FFb"):
        url = URL(f"{api.hooks}/orchestrators/chaining/{raw}", encoded=True)
        async with api.session.post(url, json=1) as r:
            assert r.status in (400, 404), raw
            if r.status == 400:
                assert "UTF-8" in await _message(r) or "not allowed" in await _message(r)
    async with api.session.post(
        URL(f"{api.hooks}/orchestrators/chaining/a%25FFb", encoded=True), json=1
    ) as r:
        assert r.status == 202 and (await r.json())["id"] == "a%FFb"
    assert await _ids(api) == {"a%FFb"}
    for dots in (".", ".."):
        with pytest.raises(ValueError, match="a URL path would resolve it away"):
            await api.client.schedule_new_orchestration("chaining", instance_id=dots)


def test_strict_json_pure() -> None:
    assert strict_json('{"a": [1, 2.5, "é"]}') == {"a": [1, 2.5, "é"]}
    for bad in ("NaN", "1e999", '"\\ud800"', "[" * 200 + "]" * 200):
        with pytest.raises(ApiError) as err:
            strict_json(bad)
        assert err.value.status == 400


def test_continuation_tokens_round_trip_and_forged_ones_are_refused() -> None:
    token = {"PartitionKey": "p", "RowKey": None}
    assert decode_token(encode_token(token)) == token
    for forged in (
        base64.urlsafe_b64encode(b"[" * 10_000).decode(),
        encode_token({"PartitionKey": {"x": 1}}),
        encode_token({"Other": "x"}),
        "A" * 5000,
    ):
        with pytest.raises(ValueError, match="is not one this hub issued"):
            decode_token(forged)


def test_entity_limits_apply_to_new_ids_not_to_stored_ones() -> None:
    long_key = "k" * 700
    with pytest.raises(ValueError, match="at most 400 characters"):
        EntityId.of(f"@counter@{long_key}")  # what user code passes
    stored = EntityId.parse(f"@counter@{long_key}")  # what the hub already holds (e.g. from Durable Functions)
    assert stored.key == long_key and str(stored) == f"@counter@{long_key}"


async def test_a_version_too_long_or_with_control_characters_is_400_and_starts_nothing(api: Api) -> None:
    long = "1." + "0" * 200
    async with api.session.post(f"{api.hooks}/orchestrators/chaining/v-1?version={long}", json=1) as r:
        assert r.status == 400 and "at most 100" in await _message(r)
    async with api.session.post(f"{api.hooks}/orchestrators/chaining/v-2?version=2%0A0", json=1) as r:
        assert r.status == 400 and "control character" in await _message(r)
    assert await _ids(api) == set()
    with pytest.raises(ValueError, match="at most 100"):
        await api.client.schedule_new_orchestration("chaining", input=1, version=long)
