"""The entity message sorter (entities.md 2.7): labels outgoing requests, and on receipt puts each sender's
requests back in send order and drops duplicates. All times are integer 100-ns ticks (:class:`Stamp`).

Outgoing: ``label(sorter, msg, dest, now, window)`` sets ``msg.timestamp`` (``now``, or one tick after the
last one sent to ``dest``) and ``msg.predecessor`` (the last one sent to ``dest``).

Incoming: ``receive(sorter, msg, window)`` returns the messages to deliver now, in order: the message
itself (unless it must wait for its predecessor or is a duplicate), then buffered successors.
"""

from __future__ import annotations

from taskhub.format.entities import (
    MIN_STAMP,
    TICKS_PER_SECOND,
    RequestMessage,
    Stamp,
)
from taskhub.format.entity_state import ReceiveBuffer, SorterState

__all__ = ["label", "receive", "MIN_INTERVAL_BETWEEN_COLLECTIONS", "DEFAULT_REORDER_WINDOW"]

MIN_INTERVAL_BETWEEN_COLLECTIONS = 10 * TICKS_PER_SECOND
"""Horizons move at most every 10 s (``MinIntervalBetweenCollections``)."""
DEFAULT_REORDER_WINDOW = 30 * 60 * TICKS_PER_SECOND
"""``EntityMessageReorderWindowInMinutes`` = 30."""


def _minus(stamp: int, ticks: int) -> Stamp:
    """``DateTime - TimeSpan`` keeps the Kind."""
    return Stamp(max(int(stamp) - ticks, 0), utc=getattr(stamp, "utc", True))


def label(sorter: SorterState, msg: RequestMessage, dest: str, now: Stamp, window: int) -> None:
    """``LabelOutgoingMessage``: not for window 0 (callers skip scheduled messages)."""
    if window <= 0:
        return
    if sorter.send_horizon + window + MIN_INTERVAL_BETWEEN_COLLECTIONS < now:
        sorter.send_horizon = _minus(now, window)
        if sorter.last_sent is not None:
            sorter.last_sent = {k: v for k, v in sorter.last_sent.items() if v >= sorter.send_horizon}
    if sorter.last_sent is None:
        sorter.last_sent = {}
    key = next((k for k in sorter.last_sent if k.lower() == dest.lower()), None)
    stamp = now
    if key is not None:
        last = sorter.last_sent[key]
        msg.predecessor = last
        if now <= last:
            stamp = Stamp(int(last) + 1, utc=False)
        del sorter.last_sent[key]
    msg.timestamp = stamp
    sorter.last_sent[key or dest] = stamp


def _next_buffered(sorter: SorterState, buf: ReceiveBuffer) -> RequestMessage | None:
    if not buf.buffered:
        return None
    first = min(buf.buffered)
    msg = buf.buffered[first]
    if msg.predecessor <= buf.last or msg.predecessor < sorter.receive_horizon:
        del buf.buffered[first]
        if not buf.buffered:
            buf.buffered = None
        buf.last = msg.timestamp if msg.timestamp >= sorter.receive_horizon else MIN_STAMP
        return msg
    return None


def _drain(sorter: SorterState, buf: ReceiveBuffer, out: list[RequestMessage]) -> None:
    while (nxt := _next_buffered(sorter, buf)) is not None:
        out.append(nxt)


def receive(sorter: SorterState, msg: RequestMessage, window: int) -> list[RequestMessage]:
    """``ReceiveInOrder``: the messages to deliver now, in order."""
    if window <= 0 or msg.parent is None or msg.pos > 0:
        return [msg]
    out: list[RequestMessage] = []
    if sorter.receive_horizon + window + MIN_INTERVAL_BETWEEN_COLLECTIONS < msg.timestamp:
        sorter.receive_horizon = _minus(msg.timestamp, window)
        for src, buf in list((sorter.received or {}).items()):
            if buf.last < sorter.receive_horizon:
                buf.last = MIN_STAMP
            _drain(sorter, buf, out)
            if buf.last == MIN_STAMP and not buf.buffered:
                del sorter.received[src]  # type: ignore[union-attr]
        if sorter.received is not None and not sorter.received:
            sorter.received = None
    if msg.timestamp < sorter.receive_horizon:
        return [*out, msg]
    if sorter.received is None:
        sorter.received = {}
    key = next((k for k in sorter.received if k.lower() == msg.parent.lower()), None)
    if key is None:
        buf = sorter.received[msg.parent] = ReceiveBuffer(execution_id=msg.parent_execution)
    else:
        buf = sorter.received[key]
        if buf.execution_id != msg.parent_execution:  # a new execution of the sender: start over
            for _, held in sorted((buf.buffered or {}).items()):
                out.append(held)
            buf.buffered = None
            buf.last = MIN_STAMP
            buf.execution_id = msg.parent_execution
    if msg.timestamp <= buf.last:
        return out  # a duplicate
    if msg.predecessor > buf.last and msg.predecessor >= sorter.receive_horizon:
        if buf.buffered is None:
            buf.buffered = {}
        buf.buffered[int(msg.timestamp)] = msg
        return out
    out.append(msg)
    buf.last = msg.timestamp if msg.timestamp >= sorter.receive_horizon else MIN_STAMP
    _drain(sorter, buf, out)
    return out
