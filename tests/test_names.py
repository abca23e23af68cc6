"""Resource names, instance -> control queue mapping, and key escaping (storage-format.md 1, 2, 4.1)."""

import pytest

from taskhub.format.names import (
    HubNames,
    app_lease_id,
    escape_partition_key,
    fnv1a32,
    parse_row_key,
    partition_for,
    row_key,
    unescape_partition_key,
)

# Test vectors from storage-format.md section 2.
FNV_VECTORS = [
    ("", 0x811C9DC5),
    ("abc", 0x1A47E90B),
    ("myinstance", 0xC06A6290),
    ("@counter@key1", 0x9A41B811),
    ("héllo", 0x4AA48540),
]


@pytest.mark.parametrize(("text", "expected"), FNV_VECTORS)
def test_fnv1a_vectors(text, expected):
    assert fnv1a32(text) == expected
    assert fnv1a32(text.encode("utf-8")) == expected


@pytest.mark.parametrize(
    ("instance_id", "count", "partition"),
    [("abc", 4, 3), ("abc", 16, 11), ("myinstance", 4, 0), ("@counter@key1", 4, 1)],
)
def test_partition_vectors(instance_id, count, partition):
    assert partition_for(instance_id, count) == partition
    assert HubNames("MyHub", count).control_queue_for(instance_id) == f"myhub-control-{partition:02d}"


def test_partition_is_case_sensitive_and_uses_raw_id():
    assert fnv1a32("ABC") != fnv1a32("abc")
    # the hash uses the raw id, not the escaped partition key
    assert partition_for("a/b", 16) == fnv1a32("a/b") % 16


def test_resource_names_keep_table_case_and_lower_the_rest():
    n = HubNames("MyHub", 4)
    assert n.control_queues == [
        "myhub-control-00",
        "myhub-control-01",
        "myhub-control-02",
        "myhub-control-03",
    ]
    assert n.work_item_queue == "myhub-workitems"
    assert n.history_table == "MyHubHistory"
    assert n.instances_table == "MyHubInstances"
    assert n.partitions_table == "MyHubPartitions"
    assert n.lease_container == "myhub-leases"
    assert n.app_lease_container == "myhub-applease"
    assert n.app_lease_info_blob == "myhub-appleaseinfo"
    assert n.large_message_container == "myhub-largemessages"
    assert HubNames.intent_lease_blob("myhub-control-00") == "intent/myhub-control-00"
    assert HubNames.ownership_lease_blob("myhub-control-00") == "ownership/myhub-control-00"
    assert HubNames("MyHub", 16).control_queue(15) == "myhub-control-15"


def test_tracking_prefix_renames_only_the_tracking_tables():
    n = HubNames("MyHub", 4, tracking_prefix="DurableTask")
    assert (n.history_table, n.instances_table) == ("DurableTaskHistory", "DurableTaskInstances")
    assert n.partitions_table == "MyHubPartitions"


def test_control_queue_index_out_of_range():
    with pytest.raises(ValueError, match=r"outside 0\.\.3"):
        HubNames("MyHub", 4).control_queue(4)


def test_blob_names():
    assert (
        HubNames.message_blob("inst1", "3F2A0000-0000-0000-0000-00000000ABCD", "ExecutionStarted")
        == "inst1/message-3f2a000000000000000000000000abcd-ExecutionStarted.json.gz"
    )
    assert (
        HubNames.property_blob("inst^01", "000000000000000A", "TaskCompleted", 0x1A2B3C4D, "Result")
        == "inst^01/history-000000000000000A-TaskCompleted-1A2B3C4D-Result.json.gz"
    )
    assert (
        HubNames.property_blob("pk", "", "Input", 0xAB, "Input") == "pk/history--Input-000000AB-Input.json.gz"
    )


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain-id_1", "plain-id_1"),
        ("a/b", "a^0b"),
        ("a\\b", "a^1b"),
        ("a#b", "a^2b"),
        ("a?b", "a^3b"),
        ("a^b", "a^^b"),
        ("^0", "^^0"),
        ("\x00", "^\u00c0"),
        ("tab\there", "tab^\u00c9here"),
        ("\x7f", "^\u013f"),
        ("\x9f", "^\u015f"),
        ("héllo wörld", "héllo wörld"),
    ],
)
def test_escape_known_values(raw, escaped):
    assert escape_partition_key(raw) == escaped
    assert unescape_partition_key(escaped) == raw


def test_escape_round_trips_every_control_and_special_character():
    specials = "".join(chr(c) for c in range(0x00, 0x20)) + "".join(chr(c) for c in range(0x7F, 0xA0))
    raw = "x" + specials + "/\\#?^" + "ÀÁ^À" + "end"
    escaped = escape_partition_key(raw)
    assert not any(ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F for c in escaped)
    assert not any(c in escaped for c in "/\\#?")
    assert unescape_partition_key(escaped) == raw


def test_escape_is_not_idempotent():
    assert escape_partition_key(escape_partition_key("a/b")) == "a^^0b"


def test_row_keys_are_16_uppercase_hex_digits():
    assert row_key(0) == "0000000000000000"
    assert row_key(10) == "000000000000000A"
    assert row_key(255) == "00000000000000FF"
    assert parse_row_key("00000000000000FF") == 255
    assert row_key(5) < row_key(16) < "sentinel"
    with pytest.raises(ValueError):
        row_key(-1)
    with pytest.raises(ValueError):
        parse_row_key("sentinel")


def test_app_lease_id_is_fnv_of_app_name():
    assert app_lease_id("") == "811c9dc5-0000-0000-0000-000000000000"
    assert app_lease_id("abc") == "1a47e90b-0000-0000-0000-000000000000"
