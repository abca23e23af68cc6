"""Every name a task hub uses in Azure Storage, in one place (storage-format.md sections 1, 2 and 4.1).

For a hub configured as ``H`` (``h`` = ``H.lower()``):

===========================  ============================================
control queues               ``{h}-control-00`` .. ``{h}-control-{P-1:02}``
work-item queue              ``{h}-workitems``
poison queue (our addition)  ``{h}-poison``
History / Instances tables   ``{H}History`` / ``{H}Instances``
Partitions table (opt-in)    ``{H}Partitions``
lease container              ``{h}-leases`` with ``taskhub.json``, ``intent/{queue}``, ``ownership/{queue}``
app lease                    container ``{h}-applease``, blob ``{h}-appleaseinfo``
large payloads               ``{h}-largemessages``
===========================  ============================================

An instance lives on control queue ``fnv1a32(utf8(instance_id)) % partition_count``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "HubNames",
    "fnv1a32",
    "partition_for",
    "escape_partition_key",
    "unescape_partition_key",
    "row_key",
    "parse_row_key",
    "SENTINEL_ROW_KEY",
    "app_lease_id",
    "validate_instance_id",
]

SENTINEL_ROW_KEY = "sentinel"
"""RowKey of the History row whose ETag fences checkpoints; it sorts after every hex row key."""

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv1a32(data: str | bytes) -> int:
    """32-bit FNV-1a of ``data`` (a str is hashed as its UTF-8 bytes, as DTFx does)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    h = _FNV_OFFSET
    for byte in data:
        h ^= byte
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
    return h


def partition_for(instance_id: str, partition_count: int) -> int:
    """Index of the control queue that owns ``instance_id`` (raw id, not the escaped key)."""
    return fnv1a32(instance_id) % partition_count


def app_lease_id(app_name: str) -> str:
    """The app-lease id every worker of one app shares: FNV-1a of the app name as a GUID string."""
    return f"{fnv1a32(app_name):08x}-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class HubNames:
    """The resource names of one task hub. ``hub`` keeps the configured case."""

    hub: str
    partition_count: int = 4
    tracking_prefix: str | None = None

    @property
    def lower(self) -> str:
        return self.hub.lower()

    # queues
    def control_queue(self, index: int) -> str:
        if not 0 <= index < self.partition_count:
            raise ValueError(f"partition index {index} is outside 0..{self.partition_count - 1}")
        return f"{self.lower}-control-{index:02d}"

    @property
    def control_queues(self) -> list[str]:
        return [self.control_queue(i) for i in range(self.partition_count)]

    def control_queue_for(self, instance_id: str) -> str:
        return self.control_queue(partition_for(instance_id, self.partition_count))

    @property
    def work_item_queue(self) -> str:
        return f"{self.lower}-workitems"

    @property
    def poison_queue(self) -> str:
        return f"{self.lower}-poison"

    # tables
    @property
    def history_table(self) -> str:
        return f"{self.tracking_prefix or self.hub}History"

    @property
    def instances_table(self) -> str:
        return f"{self.tracking_prefix or self.hub}Instances"

    @property
    def partitions_table(self) -> str:
        return f"{self.hub}Partitions"

    # blobs
    @property
    def lease_container(self) -> str:
        return f"{self.lower}-leases"

    @property
    def app_lease_container(self) -> str:
        return f"{self.lower}-applease"

    @property
    def app_lease_info_blob(self) -> str:
        return f"{self.lower}-appleaseinfo"

    @property
    def large_message_container(self) -> str:
        return f"{self.lower}-largemessages"

    TASK_HUB_INFO_BLOB = "taskhub.json"

    @staticmethod
    def intent_lease_blob(queue: str) -> str:
        return f"intent/{queue}"

    @staticmethod
    def ownership_lease_blob(queue: str) -> str:
        return f"ownership/{queue}"

    @staticmethod
    def legacy_lease_blob(queue: str) -> str:
        return f"default/{queue}"

    @staticmethod
    def message_blob(instance_id: str, activity_id: str, event_type_name: str) -> str:
        """Blob holding an offloaded queue message: ``{raw instance id}/message-{guid N}-{EventType}.json.gz``."""
        return f"{instance_id}/message-{activity_id.replace('-', '').lower()}-{event_type_name}.json.gz"

    @staticmethod
    def property_blob(partition_key: str, row_key: str, event_type_name: str, rand: int, prop: str) -> str:
        """Blob holding an offloaded table property: ``{PK}/history-{RK}-{EventType}-{rand:X8}-{Prop}.json.gz``."""
        return f"{partition_key}/history-{row_key}-{event_type_name}-{rand:08X}-{prop}.json.gz"


# --- partition-key escaping (KeySanitation) -------------------------------------------------------

_ESCAPE = {"^": "^^", "/": "^0", "\\": "^1", "#": "^2", "?": "^3"}
_UNESCAPE = {"^": "^", "0": "/", "1": "\\", "2": "#", "3": "?"}


def _is_control(c: str) -> bool:
    o = ord(c)
    return o <= 0x1F or 0x7F <= o <= 0x9F


def escape_partition_key(instance_id: str) -> str:
    """Escape an instance id for use as a PartitionKey. Not idempotent: never escape twice."""
    out: list[str] = []
    for c in instance_id:
        if c in _ESCAPE:
            out.append(_ESCAPE[c])
        elif _is_control(c):
            out.append("^" + chr(0xC0 + ord(c)))
        else:
            out.append(c)
    return "".join(out)


def unescape_partition_key(key: str) -> str:
    """Reverse :func:`escape_partition_key`."""
    out: list[str] = []
    i = 0
    n = len(key)
    while i < n:
        c = key[i]
        if c == "^" and i + 1 < n:
            nxt = key[i + 1]
            if nxt in _UNESCAPE:
                out.append(_UNESCAPE[nxt])
            elif ord(nxt) >= 0xC0:
                out.append(chr(ord(nxt) - 0xC0))
            else:
                out.append(nxt)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def row_key(sequence_number: int) -> str:
    """History RowKey: the event's ordinal as 16 upper-case hex digits (.NET ``X16``)."""
    if sequence_number < 0:
        raise ValueError(f"history sequence numbers start at 0, got {sequence_number}")
    return f"{sequence_number:016X}"


def parse_row_key(key: str) -> int:
    """Ordinal of a History RowKey (the sentinel has none: ValueError)."""
    if len(key) != 16:
        raise ValueError(f"history row key {key!r} is not 16 hex digits")
    return int(key, 16)


def validate_instance_id(instance_id: object) -> str:
    """Check a user-chosen instance id: 1-256 characters, not starting with ``@`` (entities), not ``.``
    or ``..``, none of ``/ \\ # ?`` and no control characters. Raises ValueError saying what is wrong."""
    if not isinstance(instance_id, str):
        raise ValueError(f"instance id must be a string, not {type(instance_id).__name__}")
    if not 1 <= len(instance_id) <= 256:
        raise ValueError(f"instance id must be 1-256 characters, got {len(instance_id)}")
    if instance_id.startswith("@"):
        raise ValueError(f"instance id {instance_id!r} must not start with '@' (reserved for entities)")
    if instance_id in (".", ".."):
        raise ValueError(f"instance id {instance_id!r} is not allowed: a URL path would resolve it away")
    bad = sorted({c for c in instance_id if c in "/\\#?" or _is_control(c)})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise ValueError(
            f"instance id {instance_id[:60]!r} contains {shown}; ids may not contain / \\ # ? or control characters"
        )
    return instance_id
