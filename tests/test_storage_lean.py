"""The seam's own requests (``taskhub.storage.lean*``) against a real Azurite, side by side with the SDK
path (``Storage.lean_requests = False``): the same rows land, the same answers come back, the same
``StorageError`` kinds, statuses and codes are raised."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from typing import Any

import pytest
from azure.data.tables import EdmType, EntityProperty

from taskhub import StorageError, StorageErrorKind
from taskhub.storage import BatchOp, Storage
from taskhub.storage.lean_tables import entity_json, parse_batch_response
from taskhub.storage.sdk_internals import queue_policies, table_policies


class Color(Enum):
    RED = "red"


@pytest.fixture
async def both(settings):
    """(lean, sdk): two Storage objects on one account, the second through the SDK's operations."""
    async with Storage(settings) as lean, Storage(settings) as sdk:
        sdk.lean_requests = False
        yield lean, sdk


def _name(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:10]


def _every_type(pk: str, rk: str) -> dict[str, Any]:
    return {
        "PartitionKey": pk,
        "RowKey": rk,
        "Text": "quote \" apostrophe ' newline \n é ☃",
        "Empty": "",
        "Int": -(2**31),
        "Bool": False,
        "When": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "WhenOffset": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        "Float": 1.25,
        "NaN": float("nan"),
        "Inf": float("-inf"),
        "Guid": uuid.UUID(int=42),
        "Bytes": b"\x00\xffbin",
        "Long": EntityProperty(2**40, EdmType.INT64),
        "Int32Typed": EntityProperty(7, EdmType.INT32),
        "BoolTyped": EntityProperty(True, EdmType.BOOLEAN),
        "Enum": Color.RED,
        "Missing": None,
    }


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if isinstance(v, float) and v != v:
            v = "nan"
        out[k] = (type(v).__name__ if not isinstance(v, datetime) else "datetime", v)
    return out


def test_entity_json_is_what_the_sdk_sends_for_every_type():
    from azure.data.tables._serialize import _add_entity_properties  # the SDK's own, as the oracle

    row = _every_type("p'k", "r")
    assert entity_json(row) == _add_entity_properties(row) | {"NaN": "NaN"}
    assert list(entity_json(row)) == list(_add_entity_properties(row))
    with pytest.raises(TypeError, match=r"Edm\.Int32"):
        entity_json({"PartitionKey": "p", "RowKey": "r", "Big": 2**31})
    with pytest.raises(TypeError, match="cannot be stored"):
        entity_json({"PartitionKey": "p", "RowKey": "r", "Bad": [1]})


async def test_a_batch_built_here_lands_the_rows_the_sdk_batch_lands(both):
    lean, sdk = both
    table = _name("t")
    await lean.create_table(table)
    pk = "inst'1 é x"
    for storage, rk in ((lean, "lean"), (sdk, "sdk")):
        etags = await storage.submit_batch(
            table,
            [
                BatchOp("upsert_replace", _every_type(pk, rk)),
                BatchOp("upsert_merge", {"PartitionKey": pk, "RowKey": rk + "-m", "N": 1}),
                BatchOp("insert", {"PartitionKey": pk, "RowKey": rk + "-sentinel", "Done": False}),
            ],
        )
        assert len(etags) == 3 and all(e and e.startswith('W/"datetime') for e in etags)
        stored = await lean.get_entity(table, pk, rk + "-sentinel")
        assert stored is not None and stored.etag == etags[2]
    got_lean = await lean.get_entity(table, pk, "lean")
    got_sdk = await sdk.get_entity(table, pk, "sdk")
    assert got_lean is not None and got_sdk is not None
    got_lean.pop("RowKey"), got_sdk.pop("RowKey")
    assert _comparable(got_lean) == _comparable(got_sdk)
    assert (
        got_lean["Long"] == 2**40
        and got_lean["Bytes"] == b"\x00\xffbin"
        and got_lean["Enum"] == str(Color.RED)
    )


async def test_a_batch_fenced_by_a_stale_etag_fails_the_same_way(both):
    lean, sdk = both
    table = _name("t")
    await lean.create_table(table)
    failures = []
    for storage, pk in ((lean, "a"), (sdk, "b")):
        (etag,) = await storage.submit_batch(
            table, [BatchOp("insert", {"PartitionKey": pk, "RowKey": "s", "X": 1})]
        )
        (newer, _) = await storage.submit_batch(
            table,
            [
                BatchOp("merge_if_match", {"PartitionKey": pk, "RowKey": "s", "X": 2}, etag=etag),
                BatchOp("upsert_replace", {"PartitionKey": pk, "RowKey": "h1", "E": "x"}),
            ],
        )
        assert newer != etag
        with pytest.raises(StorageError) as stale:
            await storage.submit_batch(
                table,
                [
                    BatchOp("upsert_replace", {"PartitionKey": pk, "RowKey": "h2", "E": "y"}),
                    BatchOp("merge_if_match", {"PartitionKey": pk, "RowKey": "s", "X": 3}, etag=etag),
                ],
            )
        with pytest.raises(StorageError) as exists:
            await storage.submit_batch(table, [BatchOp("insert", {"PartitionKey": pk, "RowKey": "s"})])
        assert await storage.get_entity(table, pk, "h2") is None  # all or nothing
        failures.append([(e.value.kind, e.value.status, e.value.code, str(e.value)) for e in (stale, exists)])
    assert failures[0][0][:3] == (StorageErrorKind.PRECONDITION_FAILED, 412, "UpdateConditionNotSatisfied")
    assert failures[0][1][:3] == (StorageErrorKind.CONFLICT, 409, "EntityAlreadyExists")
    assert [f[:3] for f in failures[0]] == [f[:3] for f in failures[1]]
    assert [f[3].split(".")[0].split(":", 1)[0] for f in failures[0]] == [
        f[3].split(".")[0].split(":", 1)[0] for f in failures[1]
    ]


async def test_batch_deletes_with_and_without_etag_and_on_a_missing_table(both):
    lean, sdk = both
    table = _name("t")
    await lean.create_table(table)
    e1, _ = await lean.submit_batch(
        table,
        [
            BatchOp("insert", {"PartitionKey": "p", "RowKey": "1"}),
            BatchOp("insert", {"PartitionKey": "p", "RowKey": "2"}),
        ],
    )
    etags = await lean.submit_batch(
        table,
        [
            BatchOp("delete", {"PartitionKey": "p", "RowKey": "1"}, etag=e1),
            BatchOp("delete", {"PartitionKey": "p", "RowKey": "2"}),
        ],
    )
    assert etags == [None, None]
    assert await lean.get_entity(table, "p", "1") is None and await lean.get_entity(table, "p", "2") is None
    kinds = []
    for storage in (lean, sdk):
        with pytest.raises(StorageError) as err:
            await storage.submit_batch(
                _name("nothere"), [BatchOp("insert", {"PartitionKey": "p", "RowKey": "1"})]
            )
        kinds.append((err.value.kind, err.value.status, err.value.code))
    assert kinds[0] == kinds[1] and kinds[0][0] is StorageErrorKind.NOT_FOUND


async def test_merge_replace_and_if_match_writes_behave_as_the_sdk_ones(both):
    lean, sdk = both
    table = _name("t")
    await lean.create_table(table)
    outcomes = []
    for storage, pk in ((lean, "a"), (sdk, "b")):
        first = await storage.upsert_entity(table, {"PartitionKey": pk, "RowKey": "", "A": 1, "B": "b"})
        second = await storage.upsert_entity(
            table, {"PartitionKey": pk, "RowKey": "", "C": True}, mode="merge"
        )
        merged = await storage.get_entity(table, pk, "")
        assert merged is not None and merged.etag == second != first
        await storage.upsert_entity(table, {"PartitionKey": pk, "RowKey": "", "D": 4}, mode="replace")
        replaced = await storage.get_entity(table, pk, "")
        third = await storage.update_entity(
            table, {"PartitionKey": pk, "RowKey": "", "E": 5}, etag=replaced.etag
        )
        with pytest.raises(StorageError) as stale:
            await storage.update_entity(table, {"PartitionKey": pk, "RowKey": "", "E": 6}, etag=replaced.etag)
        with pytest.raises(StorageError) as missing:
            await storage.update_entity(table, {"PartitionKey": pk, "RowKey": "nope", "E": 6}, etag=None)
        final = await storage.get_entity(table, pk, "")
        assert final is not None and final.etag == third
        outcomes.append(
            (
                {k: v for k, v in merged.items() if k != "PartitionKey"},
                {k: v for k, v in replaced.items() if k != "PartitionKey"},
                {k: v for k, v in final.items() if k != "PartitionKey"},
                (stale.value.kind, stale.value.status, stale.value.code),
                (missing.value.kind, missing.value.status, missing.value.code),
            )
        )
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == {"RowKey": "", "A": 1, "B": "b", "C": True}
    assert outcomes[0][3][0] is StorageErrorKind.PRECONDITION_FAILED
    assert outcomes[0][4][0] is StorageErrorKind.NOT_FOUND


async def test_queue_messages_round_trip_as_through_the_sdk(both):
    lean, sdk = both
    text = 'a<b>&"c\' é\r\n]]> {"json": [1, 2]}'
    seen = []
    for storage in (lean, sdk):
        q = _name("q")
        await storage.create_queue(q)
        await storage.send_message(q, text)
        await storage.send_message(q, "later", visibility_timeout=60)
        held = await storage.send_message_held(q, "held", visibility_timeout=60)
        assert held.pop_receipt and held.next_visible_on and held.inserted_on
        got = await storage.receive_messages(q, max_messages=32, visibility_timeout=30)
        assert [m.content for m in got] == [text]
        m = got[0]
        receipt = m.pop_receipt
        await storage.update_message(m, visibility_timeout=0)
        assert m.pop_receipt != receipt and m.next_visible_on is not None
        again = await storage.receive_messages(q, max_messages=1, visibility_timeout=30)
        assert again[0].dequeue_count == 2 and again[0].id == m.id
        with pytest.raises(StorageError) as stale:
            await storage.delete_message(m)  # its receipt changed on the second receive
        await storage.delete_message(again[0])
        with pytest.raises(StorageError) as gone:
            await storage.update_message(again[0], visibility_timeout=5)
        await storage.delete_message(held)
        assert await storage.queue_length(q) == 1
        with pytest.raises(StorageError) as no_queue:
            await storage.send_message(_name("nothere"), "x")
        seen.append(
            [
                (e.value.kind, e.value.status, e.value.code, str(e.value).split("(")[0])
                for e in (stale, gone, no_queue)
            ]
            + [type(m.inserted_on), m.inserted_on.tzinfo if m.inserted_on else None]
        )
    assert seen[0] == seen[1]
    assert [s[0] for s in seen[0][:3]] == [StorageErrorKind.NOT_FOUND] * 3


async def test_the_sdk_clients_still_work_beside_the_lean_pipeline(both):
    """The lean pipeline has its own copies of the linked policies: the SDK's chain is not rewired."""
    lean, _ = both
    q, table = _name("q"), _name("t")
    await lean.create_queue(q)
    await lean.create_table(table)
    await lean.send_message(q, "x")
    await lean.upsert_entity(table, {"PartitionKey": "p", "RowKey": "r", "A": 1})
    assert await lean.queue_length(q) == 1  # SDK operations on the same clients
    assert (await lean.get_entity(table, "p", "r")) == {"PartitionKey": "p", "RowKey": "r", "A": 1}
    assert [r["RowKey"] async for r in lean.query(table, None)] == ["r"]
    assert lean.calls["send_message"] == 1 and lean.calls["upsert_entity"] == 1


async def test_the_lean_pipelines_keep_retries_and_auth_and_drop_only_the_unused_policies(both):
    lean, _ = both
    await lean.create_queue(_name("q"))  # opens nothing: pipelines are built on first use
    sdk_policies = {"table": table_policies(lean._tables), "queue": queue_policies(lean._queues)}
    for service, retry in (("table", "AsyncTablesRetryPolicy"), ("queue", "ExponentialRetry")):
        pipeline = lean._lean_pipeline(service)
        kept = [type(p).__name__ for p in pipeline.policies]
        assert retry in kept and "SharedKeyCredentialPolicy" in kept and "StorageHosts" in kept
        assert not {"HttpLoggingPolicy", "DistributedTracingPolicy", "ContentDecodePolicy"} & set(kept)
        assert pipeline.user_agent and pipeline.user_agent.startswith("azsdk-python-")
        linked = [p for p in pipeline.policies if hasattr(p, "next")]
        assert linked and not any(p is q for p in linked for q in sdk_policies[service])


def test_batch_answers_are_read_with_either_line_ending():
    body = (
        "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n"
        "--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        "HTTP/1.1 204 No Content\r\nETag: W/\"datetime'1'\"\r\n\r\n\r\n"
        "--changesetresponse_2\r\nContent-Type: application/http\r\n\r\n"
        "HTTP/1.1 412 Precondition Failed\r\nContent-Type: application/json\r\n\r\n"
        '{"odata.error":{"code":"UpdateConditionNotSatisfied"}}\r\n'
        "--changesetresponse_2--\r\n--batchresponse_1--\r\n"
    )
    content_type = "multipart/mixed; boundary=batchresponse_1"
    for text in (body, body.replace("\r\n", "\n")):
        parts = parse_batch_response(content_type, text.encode())
        assert [(p[0], p[1]) for p in parts] == [(204, "No Content"), (412, "Precondition Failed")]
        assert parts[0][2]["etag"] == "W/\"datetime'1'\"" and parts[1][3].startswith(b'{"odata.error"')
    with pytest.raises(ValueError, match="boundary"):
        parse_batch_response("multipart/mixed", body.encode())
