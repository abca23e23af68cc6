"""Large payloads on a real Azurite: over 45 KiB messages and over 60 KiB columns go to gzip blobs."""

from __future__ import annotations

import gzip
import json

import pytest

from taskhub import TaskHub
from taskhub.format.history import (
    ExecutionStartedEvent,
    OrchestrationInstance,
    TaskCompletedEvent,
)
from taskhub.format.messages import MAX_QUEUE_MESSAGE_BYTES, decode_message, encode_message
from taskhub.format.rows import event_to_row, row_to_event


@pytest.fixture
async def hub(settings):
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        yield hub


def _started(instance_id: str, payload: str) -> ExecutionStartedEvent:
    return ExecutionStartedEvent(
        orchestration_instance=OrchestrationInstance(instance_id, "e" * 32),
        name="Big",
        version="",
        input=payload,
    )


async def test_large_queue_message_goes_to_a_gzip_blob(hub):
    payload = json.dumps("x" * (50 * 1024))
    md = hub.queues.envelope(_started("inst/1", payload), OrchestrationInstance("inst/1", "e" * 32))
    assert len(encode_message(md).encode()) > MAX_QUEUE_MESSAGE_BYTES

    sent = await hub.queues.send_to_instance(md)
    (raw,) = await hub.storage.receive_messages(sent.queue, max_messages=32, visibility_timeout=30)
    wrapper = json.loads(raw.content)
    blob = f"inst/1/message-{md.activity_id.replace('-', '')}-ExecutionStarted.json.gz"
    assert wrapper == {
        "$type": "DurableTask.AzureStorage.MessageData",
        "ActivityId": "00000000-0000-0000-0000-000000000000",
        "TaskMessage": None,
        "CompressedBlobName": blob,
        "SequenceNumber": 0,
        "SerializableTraceContext": None,
    }
    container = f"{hub.names.lower}-largemessages"
    assert await hub.storage.list_blobs(container) == [blob]
    stored = gzip.decompress(await hub.storage.download_blob(container, blob)).decode()
    assert stored == encode_message(md)  # the full MessageData JSON, CompressedBlobName null

    back = await hub.payloads.decode_message(raw.content)
    assert back.task_message.event == md.task_message.event
    assert back.compressed_blob_name == blob == sent.blob_name


async def test_message_under_the_limit_stays_inline_and_creates_no_container(hub):
    md = hub.queues.envelope(_started("small", json.dumps("y" * 40_000)), OrchestrationInstance("small", "e"))
    assert len(encode_message(md).encode()) <= MAX_QUEUE_MESSAGE_BYTES
    sent = await hub.queues.send_to_instance(md)
    assert sent.blob_name is None
    (raw,) = await hub.storage.receive_messages(sent.queue, max_messages=32, visibility_timeout=30)
    assert decode_message(raw.content) == md
    assert f"{hub.names.lower}-largemessages" not in await hub.storage.list_containers(hub.names.lower)


async def test_base64_bodies_are_written_when_configured_and_always_read(settings):
    b64 = settings.with_overrides(
        storage=settings.storage.__class__(
            **{**settings.storage.__dict__, "queue_client_message_encoding": "Base64"}
        )
    )
    async with TaskHub(b64) as hub:
        await hub.create_if_not_exists()
        md = hub.queues.envelope(_started("b", '"in"'), OrchestrationInstance("b", "e"))
        sent = await hub.queues.send_to_instance(md)
        (raw,) = await hub.storage.receive_messages(sent.queue, max_messages=1, visibility_timeout=30)
        assert not raw.content.startswith("{")
        assert (await hub.payloads.decode_message(raw.content)) == md


@pytest.mark.parametrize(
    ("value", "offloaded"),
    [
        (json.dumps("a" * 30_000), False),  # 60,004 UTF-16 bytes: stays in the row
        (json.dumps("a" * 31_000), True),  # 62,004 bytes: goes to a blob
        (json.dumps("😀" * 15_400), True),  # only 15,402 code points, but 61,604 UTF-16 bytes
    ],
)
async def test_large_history_column_goes_to_a_blob_and_back(hub, value, offloaded):
    event = TaskCompletedEvent(task_scheduled_id=3, result=value)
    load_before = await hub.tracking.load_history("big#1")
    assert load_before.events == []
    etag, moved = await hub.tracking.write_history("big#1", "exec1", [event], first_sequence=0, etag=None)
    assert etag
    rows = [r async for r in hub.storage.query(hub.names.history_table, "PartitionKey eq 'big^21'")]
    row = next(r for r in rows if r["RowKey"] == "0000000000000000")
    if offloaded:
        assert row["Result"] == ""
        name = row["ResultBlobName"]
        assert name.startswith("big^21/history-0000000000000000-TaskCompleted-")
        assert name.endswith("-Result.json.gz")
        assert len(name.split("-")[-2]) == 8  # the random X8 part
        blob = await hub.storage.download_blob(f"{hub.names.lower}-largemessages", name)
        assert gzip.decompress(blob).decode() == value
        assert moved == {0: {"Result": name}}
    else:
        assert row["Result"] == value and "ResultBlobName" not in row
        assert moved == {}
    loaded = await hub.tracking.load_history("big#1")
    assert [e.result for e in loaded.events] == [value]
    assert loaded.execution_id == "exec1" and loaded.etag == etag


async def test_instances_value_given_as_blob_url_is_resolved(hub):
    value = json.dumps({"k": "v" * 40_000})
    await hub.payloads._ensure_container()
    await hub.payloads._upload("pk/history--Input-0000ABCD-Input.json.gz", value)
    url = hub.storage.blob_url(f"{hub.names.lower}-largemessages", "pk/history--Input-0000ABCD-Input.json.gz")
    assert url.startswith("http") and url.endswith("/pk/history--Input-0000ABCD-Input.json.gz")
    assert await hub.payloads.resolve_instance_value(url) == value
    assert await hub.payloads.resolve_instance_value('"plain"') == '"plain"'

    # an offloaded start message: the Instances Input URL points at the message blob
    md = hub.queues.envelope(_started("u1", json.dumps("z" * 60_000)), OrchestrationInstance("u1", "e"))
    sent = await hub.queues.send_to_instance(md)
    msg_url = hub.payloads.message_blob_url(sent.blob_name)
    assert await hub.payloads.resolve_instance_value(msg_url) == json.dumps("z" * 60_000)


async def test_row_codec_round_trip_through_the_table(hub):
    event = _started("rt", '{"a":1}')
    row = event_to_row(event, instance_id="rt", sequence=1, execution_id="x")
    await hub.storage.insert_entity(hub.names.history_table, row)
    back = await hub.storage.get_entity(hub.names.history_table, "rt", "0000000000000001")
    assert row_to_event(back) == event
