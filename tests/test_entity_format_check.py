"""The entity part of the storage-format checker finds what it should (so an e2e run that passes means something)."""

from __future__ import annotations

from tests.entity_format_check import check_entity_event, check_entity_instance, check_state

GOOD = '{"op":"add","input":"5","id":"g","Timestamp":"2024-05-01T10:00:00.1234567Z","Predecessor":"0001-01-01T00:00:00"}'


def problems_of(fn, *args) -> list[str]:  # type: ignore[no-untyped-def]
    found: list[str] = []
    fn(*args, found)
    return found


def test_request_messages_key_order_and_defaults() -> None:
    assert problems_of(check_entity_event, "@c@1", "op", GOOD, "x") == []
    swapped = '{"id":"g","op":"add","Timestamp":"2024-05-01T10:00:00Z","Predecessor":"2024-05-01T10:00:00Z"}'
    assert "not in the order" in problems_of(check_entity_event, "@c@1", "op", swapped, "x")[0]
    typed = '{"$type":"X","op":"add","id":"g","Timestamp":"2024-05-01T10:00:00Z","Predecessor":"2024-05-01T10:00:00Z"}'
    assert "unexpected keys ['$type']" in problems_of(check_entity_event, "@c@1", "op", typed, "x")[0]
    assert "not an entity message name" in problems_of(check_entity_event, "@c@1", "hello", "1", "x")[0]
    no_ts = '{"op":"add","id":"g"}'
    assert "missing keys" in problems_of(check_entity_event, "@c@1", "op", no_ts, "x")[0]


def test_responses_and_states() -> None:
    guid = "2f0b4a8e-43c3-4f37-9a52-7d3c8f5f2a11"
    bad = '{"exceptionType":"E","result":"x"}'
    assert "not in the order" in problems_of(check_entity_event, "orch1", guid, bad, "x")[0]
    assert problems_of(check_state, '{"exists":true,"state":"5","sorter":{}}', "x") == []
    assert "must be omitted" in problems_of(check_state, '{"exists":false,"sorter":{}}', "x")[0]
    assert "not in the order" in problems_of(check_state, '{"sorter":{},"state":"5"}', "x")[0]


def test_entity_status_must_agree_with_the_state() -> None:
    row = {
        "PartitionKey": "@c@1",
        "Name": "@c@1",
        "RuntimeStatus": "Running",
        "Input": '{"exists":true,"state":"5","sorter":{}}',
        "CustomStatus": "{}",
    }
    assert "does not agree" in problems_of(check_entity_instance, row, None)[0]
