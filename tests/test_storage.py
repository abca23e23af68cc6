"""The storage seam against a real Azurite: plain values in and out, errors classified, calls counted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from taskhub import Settings, StorageError, StorageErrorKind
from taskhub.storage import BatchOp, Storage


@pytest.fixture
async def storage(settings):
    async with Storage(settings) as s:
        yield s


def _name(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:10]


async def test_queue_round_trip_with_delay_and_no_expiry(storage, azurite_connection_string):
    q = _name("q")
    assert await storage.create_queue(q) is True
    assert await storage.create_queue(q) is False
    await storage.send_message(q, '{"hello":"wörld"}')
    await storage.send_message(q, "later", visibility_timeout=60)
    got = await storage.receive_messages(q, max_messages=32, visibility_timeout=30)
    assert [m.content for m in got] == ['{"hello":"wörld"}']
    assert got[0].dequeue_count == 1
    old_receipt = got[0].pop_receipt
    await storage.update_message(got[0], visibility_timeout=0)
    assert got[0].pop_receipt != old_receipt
    again = await storage.receive_messages(q, max_messages=1, visibility_timeout=30)
    assert again[0].dequeue_count == 2
    await storage.delete_message(again[0])
    assert await storage.receive_messages(q, max_messages=32, visibility_timeout=30) == []
    assert await storage.queue_length(q) == 1  # the delayed one is still there

    # time_to_live=-1: never expires (checked with the SDK directly)
    from azure.storage.queue import QueueClient

    raw = QueueClient.from_connection_string(azurite_connection_string, q)
    sent = raw.send_message("probe")  # SDK default ttl, for contrast
    assert sent.expires_on.year < 9999
    await storage.send_message(q, "forever")
    peeked = [m for m in raw.peek_messages(max_messages=32) if m.content == "forever"]
    assert peeked and peeked[0].expires_on.year == 9999
    assert await storage.delete_queue(q) is True
    assert await storage.delete_queue(q) is False


async def test_deleting_a_message_twice_is_not_found(storage):
    q = _name("q")
    await storage.create_queue(q)
    await storage.send_message(q, "x")
    (m,) = await storage.receive_messages(q, max_messages=1, visibility_timeout=30)
    await storage.delete_message(m)
    with pytest.raises(StorageError) as info:
        await storage.delete_message(m)
    assert info.value.kind is StorageErrorKind.NOT_FOUND
    assert info.value.operation == "delete_message"


async def test_a_stale_pop_receipt_is_classified_as_gone(storage):
    q = _name("q")
    await storage.create_queue(q)
    await storage.send_message(q, "x")
    (m,) = await storage.receive_messages(q, max_messages=1, visibility_timeout=30)
    stale = m.pop_receipt
    await storage.update_message(m, visibility_timeout=30)  # a new pop receipt
    m.pop_receipt = stale
    with pytest.raises(StorageError) as info:
        await storage.delete_message(m)
    assert info.value.kind is StorageErrorKind.NOT_FOUND
    assert info.value.code in ("PopReceiptMismatch", "MessageNotFound")


async def test_rows_keep_edm_types(storage, azurite_connection_string):
    t = _name("T")
    await storage.create_table(t)
    when = datetime(2024, 5, 1, 12, 0, 1, 500000, tzinfo=UTC)
    etag = await storage.insert_entity(
        t, {"PartitionKey": "p", "RowKey": "r", "EventId": 7, "IsPlayed": True, "When": when, "Name": "x"}
    )
    assert etag
    row = await storage.get_entity(t, "p", "r")
    assert row is not None and row.etag == etag
    assert (row["EventId"], row["IsPlayed"], row["Name"]) == (7, True, "x")
    assert row["When"] == when

    # Int32 (not Int64) on the wire: the sync SDK returns a plain int only for Int32
    from azure.data.tables import TableClient

    raw = TableClient.from_connection_string(azurite_connection_string, t).get_entity("p", "r")
    assert type(raw["EventId"]) is int
    assert type(raw["IsPlayed"]) is bool
    assert isinstance(raw["When"], datetime)


async def test_etag_conditions_are_classified(storage):
    t = _name("T")
    await storage.create_table(t)
    etag = await storage.insert_entity(t, {"PartitionKey": "p", "RowKey": "sentinel", "ExecutionId": "e1"})
    with pytest.raises(StorageError) as conflict:
        await storage.insert_entity(t, {"PartitionKey": "p", "RowKey": "sentinel"})
    assert conflict.value.conflict
    new_etag = await storage.update_entity(t, {"PartitionKey": "p", "RowKey": "sentinel", "X": 1}, etag=etag)
    with pytest.raises(StorageError) as stale:
        await storage.update_entity(t, {"PartitionKey": "p", "RowKey": "sentinel", "X": 2}, etag=etag)
    assert stale.value.precondition_failed
    assert (await storage.get_entity(t, "p", "sentinel"))["X"] == 1
    assert await storage.delete_entity(t, "p", "sentinel", etag=new_etag) is True
    assert await storage.get_entity(t, "p", "sentinel") is None


async def test_batch_is_atomic_and_fenced_by_the_sentinel_etag(storage):
    t = _name("T")
    await storage.create_table(t)
    etags = await storage.submit_batch(
        t,
        [
            BatchOp("upsert_replace", {"PartitionKey": "i", "RowKey": "0000000000000000", "EventType": "A"}),
            BatchOp("insert", {"PartitionKey": "i", "RowKey": "sentinel", "ExecutionId": "e"}),
        ],
    )
    sentinel_etag = etags[1]
    assert sentinel_etag
    # a stale ETag on the sentinel rolls back the whole batch
    await storage.update_entity(t, {"PartitionKey": "i", "RowKey": "sentinel", "Touch": True}, etag=None)
    with pytest.raises(StorageError) as info:
        await storage.submit_batch(
            t,
            [
                BatchOp(
                    "upsert_replace", {"PartitionKey": "i", "RowKey": "0000000000000001", "EventType": "B"}
                ),
                BatchOp(
                    "merge_if_match", {"PartitionKey": "i", "RowKey": "sentinel", "X": 1}, etag=sentinel_etag
                ),
            ],
        )
    assert info.value.kind in (StorageErrorKind.PRECONDITION_FAILED, StorageErrorKind.CONFLICT)
    keys = [r["RowKey"] async for r in storage.query(t, "PartitionKey eq 'i'")]
    assert keys == ["0000000000000000", "sentinel"]


async def test_query_pages_with_continuation_tokens(storage):
    t = _name("T")
    await storage.create_table(t)
    for i in range(25):
        await storage.insert_entity(t, {"PartitionKey": f"p{i:02d}", "RowKey": ""})
    seen, token, pages = [], None, 0
    while True:
        page = await storage.query_page(t, "RowKey eq ''", page_size=10, continuation_token=token)
        seen += [r["PartitionKey"] for r in page.rows]
        pages += 1
        token = page.continuation_token
        if not token:
            break
    assert pages == 3
    assert seen == [f"p{i:02d}" for i in range(25)]
    with pytest.raises(ValueError, match="continuation token"):
        await storage.query_page(t, "RowKey eq ''", continuation_token="not-a-token!")


async def test_blob_conditions_and_leases(storage):
    c = _name("c")
    assert await storage.create_container(c) is True
    await storage.upload_blob(c, "dir/a b.json", b"{}", if_none_match=True)
    with pytest.raises(StorageError) as exists:
        await storage.upload_blob(c, "dir/a b.json", b"{}", if_none_match=True)
    assert exists.value.kind in (StorageErrorKind.CONFLICT, StorageErrorKind.PRECONDITION_FAILED)
    assert await storage.list_blobs(c, prefix="dir/") == ["dir/a b.json"]
    assert storage.blob_url(c, "dir/a b.json").endswith(f"/{c}/dir/a%20b.json")
    assert storage.blob_name_from_url(c, storage.blob_url(c, "dir/a b.json")) == "dir/a b.json"

    lease_a = str(uuid.uuid4())
    assert await storage.acquire_lease(c, "dir/a b.json", duration=15, proposed_id=lease_a) == lease_a
    props = await storage.blob_properties(c, "dir/a b.json")
    assert props.lease_state == "leased"
    with pytest.raises(StorageError) as taken:
        await storage.acquire_lease(c, "dir/a b.json", duration=15, proposed_id=str(uuid.uuid4()))
    assert taken.value.conflict
    # writing without the lease id is refused; with it, allowed
    with pytest.raises(StorageError):
        await storage.upload_blob(c, "dir/a b.json", b"[]")
    await storage.upload_blob(c, "dir/a b.json", b"[]", lease_id=lease_a)
    # stealing: change the lease id using the current one
    lease_b = str(uuid.uuid4())
    await storage.change_lease(c, "dir/a b.json", lease_a, lease_b)
    with pytest.raises(StorageError) as lost:
        await storage.renew_lease(c, "dir/a b.json", lease_a)
    assert lost.value.lease_lost
    await storage.renew_lease(c, "dir/a b.json", lease_b)
    await storage.release_lease(c, "dir/a b.json", lease_b)
    assert (await storage.blob_properties(c, "dir/a b.json")).lease_state == "available"
    assert await storage.delete_container(c) is True


async def test_calls_are_counted(storage):
    q = _name("q")
    before = sum(storage.calls.values())
    await storage.create_queue(q)
    await storage.send_message(q, "x")
    await storage.receive_messages(q, max_messages=32, visibility_timeout=5)
    assert sum(storage.calls.values()) - before == 3
    assert storage.calls["send_message"] >= 1


async def test_unreachable_storage_says_so(hub_name):
    dead = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    settings = Settings.load(None, env={"AzureWebJobsStorage": dead})
    async with Storage(settings) as s:
        with pytest.raises(StorageError) as info:
            await s.create_queue("nothere")
    assert info.value.kind is StorageErrorKind.UNREACHABLE
    assert "cannot reach" in str(info.value)
    assert "AccountKey" not in str(info.value)
