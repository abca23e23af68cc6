"""The message sorter (entities.md 2.7) with integer ticks: order, duplicates, new executions, the horizon."""

from __future__ import annotations

from taskhub.format.entities import MIN_STAMP, RequestMessage, Stamp, stamp_from_text
from taskhub.format.entity_state import SorterState
from worker.entities.sorter import DEFAULT_REORDER_WINDOW as W
from worker.entities.sorter import label, receive

T0 = stamp_from_text("2024-05-01T10:00:00Z")
SEC = 10_000_000


def sent(n: int, *, dest: str = "@c@1", start: int = 0, same_time: bool = False) -> list[RequestMessage]:
    """``n`` messages labelled by one sender's sorter, one second apart (or all at the same instant)."""
    s = SorterState()
    out = []
    for i in range(n):
        m = RequestMessage(id=f"m{i}", op="add", parent="orch1", parent_execution="e1")
        label(s, m, dest, Stamp(T0 + (0 if same_time else (start + i) * SEC)), W)
        out.append(m)
    return out


def ids(msgs: list[RequestMessage]) -> list[str]:
    return [m.id for m in msgs]


def test_labels_chain_predecessors_and_bump_ties_by_one_tick() -> None:
    a, b, c = sent(3, same_time=True)
    assert a.predecessor == MIN_STAMP and b.predecessor == a.timestamp and c.predecessor == b.timestamp
    assert b.timestamp == a.timestamp + 1 and not b.timestamp.utc  # written without Z, like .NET


def test_in_order_delivery() -> None:
    s = SorterState()
    delivered = [m for msg in sent(3) for m in receive(s, msg, W)]
    assert ids(delivered) == ["m0", "m1", "m2"]
    assert s.received is not None and s.received["orch1"].last == sent(3)[2].timestamp


def test_out_of_order_messages_wait_for_their_predecessor() -> None:
    a, b, c = sent(3)
    s = SorterState()
    assert receive(s, c, W) == []
    assert receive(s, b, W) == []
    assert ids(receive(s, a, W)) == ["m0", "m1", "m2"]
    assert s.received is not None and s.received["orch1"].buffered is None


def test_duplicates_are_dropped() -> None:
    a, b = sent(2)
    s = SorterState()
    assert ids(receive(s, a, W)) == ["m0"]
    assert ids(receive(s, b, W)) == ["m1"]
    assert receive(s, a, W) == [] and receive(s, b, W) == []


def test_a_new_sender_execution_flushes_and_starts_over() -> None:
    a, _b, c = sent(3)
    s = SorterState()
    receive(s, a, W)
    assert receive(s, c, W) == []  # waits for b
    fresh = RequestMessage(
        id="n0", op="add", parent="orch1", parent_execution="e2", timestamp=Stamp(T0 + 5 * SEC)
    )
    assert ids(receive(s, fresh, W)) == ["m2", "n0"]
    assert s.received is not None and s.received["orch1"].execution_id == "e2"


def test_client_signals_and_forwarded_locks_bypass_the_sorter() -> None:
    s = SorterState()
    client = RequestMessage(id="c", op="add")
    assert receive(s, client, W) == [client] and receive(s, client, W) == [client]
    forwarded = RequestMessage(id="l", parent="orch1", lockset=[("a", "1")], pos=1)
    assert receive(s, forwarded, W) == [forwarded]
    assert s.received is None


def test_the_horizon_moves_forward_and_releases_old_buffers() -> None:
    _a, _b, c = sent(3)
    s = SorterState()
    assert receive(s, c, W) == []  # b and a never arrive
    late = RequestMessage(
        id="x", op="add", parent="other", parent_execution="e9", timestamp=Stamp(T0 + W + 20 * SEC)
    )
    out = receive(s, late, W)
    assert ids(out) == ["m2", "x"]  # c is beyond the window now: delivered without its predecessor
    assert s.receive_horizon == late.timestamp - W
    assert s.received is not None and "orch1" not in s.received
    old = RequestMessage(id="y", op="add", parent="orch1", parent_execution="e1", timestamp=Stamp(T0))
    assert ids(receive(s, old, W)) == ["y"]  # older than the horizon: passes through


def test_window_zero_passes_everything() -> None:
    s = SorterState()
    a = sent(1)[0]
    assert receive(s, a, 0) == [a] and receive(s, a, 0) == [a]
