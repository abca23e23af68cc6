"""The entity scheduler state (ExecutionStarted.Input = Instances.Input) and EntityStatus (Instances.CustomStatus)
JSON, byte for byte as Durable Functions writes them (entities.md 1.5, 4.1, 4.2); messages and stamps are in
:mod:`taskhub.format.entities`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from taskhub.errors import FormatError
from taskhub.format.entities import (
    MIN_STAMP,
    RequestMessage,
    Stamp,
    _opt_stamp,
    _opt_str,
    stamp_from_text,
    stamp_text,
)
from taskhub.format.netjson import dumps, expect_object, loads, wrong

__all__ = [
    "ReceiveBuffer",
    "SorterState",
    "RecentGroup",
    "SchedulerState",
    "entity_status_json",
    "parse_entity_status",
]


# --- scheduler state --------------------------------------------------------------------------------


@dataclass
class ReceiveBuffer:
    last: Stamp = MIN_STAMP
    execution_id: str | None = None
    buffered: dict[int, RequestMessage] | None = None
    """By Timestamp ticks (a SortedDictionary in .NET)."""


@dataclass
class SorterState:
    """The persisted MessageSorter (entities.md 2.7, 4.1); the algorithm is in ``worker.entities.sorter``."""

    last_sent: dict[str, Stamp] | None = None
    received: dict[str, ReceiveBuffer] | None = None
    receive_horizon: Stamp = MIN_STAMP
    send_horizon: Stamp = MIN_STAMP

    def to_obj(self) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        if self.last_sent is not None:
            obj["LastSentToInstance"] = {k: stamp_text(v) for k, v in self.last_sent.items()}
        if self.received is not None:
            received: dict[str, Any] = {}
            for src, buf in self.received.items():
                entry: dict[str, Any] = {"Last": stamp_text(buf.last)}
                if buf.execution_id is not None:
                    entry["ExecutionId"] = buf.execution_id
                if buf.buffered is not None:
                    entry["Buffered"] = {
                        stamp_text(m.timestamp): m.to_obj() for _, m in sorted(buf.buffered.items())
                    }
                received[src] = entry
            obj["ReceivedFromInstance"] = received
        if self.receive_horizon:
            obj["ReceiveHorizon"] = stamp_text(self.receive_horizon)
        if self.send_horizon:
            obj["SendHorizon"] = stamp_text(self.send_horizon)
        return obj

    @classmethod
    def from_obj(cls, raw: Any, where: str = "sorter") -> SorterState:
        obj = expect_object(raw if raw is not None else {}, where)
        s = cls()
        sent = obj.get("LastSentToInstance")
        if sent is not None:
            s.last_sent = {
                k: stamp_from_text(v, f"{where}.LastSentToInstance")
                for k, v in expect_object(sent, f"{where}.LastSentToInstance").items()
                if k != "$type"
            }
        received = obj.get("ReceivedFromInstance")
        if received is not None:
            s.received = {}
            for src, raw_buf in expect_object(received, f"{where}.ReceivedFromInstance").items():
                if src == "$type":
                    continue
                b = expect_object(raw_buf, f"{where}.ReceivedFromInstance.{src}")
                buf = ReceiveBuffer(
                    last=_opt_stamp(b.get("Last"), f"{where}.Last") or MIN_STAMP,
                    execution_id=_opt_str(b.get("ExecutionId"), f"{where}.ExecutionId"),
                )
                held = b.get("Buffered")
                if held is not None:
                    msgs = [
                        RequestMessage.from_obj(v, f"{where}.Buffered")
                        for k, v in expect_object(held, f"{where}.Buffered").items()
                        if k != "$type"
                    ]
                    buf.buffered = {int(m.timestamp): m for m in msgs}
                s.received[src] = buf
        s.receive_horizon = _opt_stamp(obj.get("ReceiveHorizon"), f"{where}.ReceiveHorizon") or MIN_STAMP
        s.send_horizon = _opt_stamp(obj.get("SendHorizon"), f"{where}.SendHorizon") or MIN_STAMP
        return s


@dataclass
class RecentGroup:
    """Request ids one batch accepted, and when (our extension ``taskhubRecent``)."""

    at: Stamp
    ids: list[str]


@dataclass
class SchedulerState:
    """The entity's whole persisted state (ExecutionStarted.Input = Instances.Input), entities.md 4.1."""

    exists: bool = False
    state: str | None = None
    queue: list[RequestMessage] = field(default_factory=list)
    locked_by: str | None = None
    suspended: bool = False
    sorter: SorterState = field(default_factory=SorterState)
    recent: list[RecentGroup] = field(default_factory=list)

    def to_json(self) -> str:
        obj: dict[str, Any] = {}
        if self.exists:
            obj["exists"] = True
        if self.state is not None:
            obj["state"] = self.state
        if self.queue:
            obj["queue"] = [m.to_obj() for m in self.queue]
        if self.locked_by is not None:
            obj["lockedBy"] = self.locked_by
        if self.suspended:
            obj["suspended"] = True
        obj["sorter"] = self.sorter.to_obj()
        if self.recent:
            obj["taskhubRecent"] = [{"at": stamp_text(g.at), "ids": g.ids} for g in self.recent]
        return dumps(obj)

    @classmethod
    def from_json(cls, text: str | None) -> SchedulerState:
        """A null or empty input is a fresh state (entities.md 4.1)."""
        if text is None or text == "" or text == "null":
            return cls()
        obj = expect_object(loads(text, where="SchedulerState"), "SchedulerState")
        state = _opt_str(obj.get("state"), "SchedulerState.state")
        # native states have no "exists": the entity exists iff it has a state
        exists = bool(obj["exists"]) if "exists" in obj else state is not None
        queue = obj.get("queue") or []
        if not isinstance(queue, list):
            raise wrong("SchedulerState.queue", "a list of RequestMessages", queue)
        recent = []
        for g in obj.get("taskhubRecent") or []:
            g = expect_object(g, "SchedulerState.taskhubRecent[]")
            recent.append(
                RecentGroup(
                    stamp_from_text(g.get("at"), "taskhubRecent.at"),
                    [i for i in g.get("ids") or [] if isinstance(i, str)],
                )
            )
        return cls(
            exists=exists,
            state=state,
            queue=[RequestMessage.from_obj(m, "SchedulerState.queue[]") for m in queue],
            locked_by=_opt_str(obj.get("lockedBy"), "SchedulerState.lockedBy"),
            suspended=bool(obj.get("suspended", False)),
            sorter=SorterState.from_obj(obj.get("sorter"), "SchedulerState.sorter"),
            recent=recent,
        )


def entity_status_json(state: SchedulerState) -> str:
    """The EntityStatus (Instances.CustomStatus): each key omitted at its default; ``{}`` when empty."""
    obj: dict[str, Any] = {}
    if state.exists:
        obj["entityExists"] = True
    if state.queue:
        obj["queueSize"] = len(state.queue)
    if state.locked_by is not None:
        obj["lockedBy"] = state.locked_by
    return dumps(obj)


def parse_entity_status(text: str | None) -> tuple[bool, int, str | None]:
    """``(entityExists, queueSize, lockedBy)`` of an EntityStatus; lenient (defaults for anything odd)."""
    try:
        obj = loads(text or "{}", where="EntityStatus")
    except FormatError:
        return False, 0, None
    if not isinstance(obj, dict):
        return False, 0, None
    size = obj.get("queueSize", 0)
    locked = obj.get("lockedBy")
    return (
        bool(obj.get("entityExists", False)),
        size if isinstance(size, int) else 0,
        locked if isinstance(locked, str) else None,
    )
