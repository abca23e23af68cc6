"""The table partition manager's pass planner (docs/partition-table.md section 5) and the Partitions row
codec: pure, no storage.

The first half checks each rule of :func:`taskhub.hub.table_leases.plan_pass` on hand-made rows. The
second half runs several workers pass by pass against an in-memory table that keeps an ETag per row
(a Replace with a stale ETag fails with 412 and abandons the rest of that worker's pass, as in DTFx) and
checks claiming, DTFx's balance (2 workers -> 2/2 on 4 rows, 4 -> 1 each, 3 -> 2/1/1), the drain and
hand-over, failover after expiry and graceful leave.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from taskhub.errors import FormatError
from taskhub.format.partition_rows import PartitionRow
from taskhub.hub.table_leases import RowWrite, TableLocal, plan_pass

T0 = datetime(2026, 12, 7, 8, 0, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def q(n: int) -> str:
    return f"myhub-control-{n:02d}"


def row(n: int, owner: str | None = None, **kw: object) -> PartitionRow:
    expires = kw.pop("expires_at", T0 + LEASE if owner else None)
    return PartitionRow(q(n), owner, expires_at=expires, etag=f"e{n}", **kw)  # type: ignore[arg-type]


def writes(plan_writes: tuple[RowWrite, ...]) -> list[tuple[str, str]]:
    return [(w.reason, w.queue) for w in plan_writes]


# -- the row codec ------------------------------------------------------------------------------------


def test_row_as_dtfx_writes_it_round_trips_with_null_columns_left_out() -> None:
    dtfx = {
        "PartitionKey": "",
        "RowKey": "myhub-control-00",
        "CurrentOwner": "web-1",
        "OwnedSince": T0,
        "LastRenewal": T0 + timedelta(minutes=4, seconds=10.123),
        "ExpiresAt": T0 + timedelta(minutes=4, seconds=40.123),
        "IsDraining": False,
    }
    r = PartitionRow.from_row(dtfx, etag="W/x")
    assert (r.queue, r.current_owner, r.next_owner, r.is_draining, r.etag) == (
        "myhub-control-00",
        "web-1",
        None,
        False,
        "W/x",
    )
    assert r.to_entity() == dtfx  # NextOwner null: absent, as DTFx's Replace leaves it
    released = r.with_(current_owner=None).to_entity()
    assert "CurrentOwner" not in released and released["IsDraining"] is False


def test_a_fresh_row_has_only_the_keys_and_is_draining() -> None:
    assert PartitionRow.new("h-control-03").to_entity() == {
        "PartitionKey": "",
        "RowKey": "h-control-03",
        "IsDraining": False,
    }


@pytest.mark.parametrize(
    ("column", "value"), [("ExpiresAt", "2026-12-07T08:00:00Z"), ("IsDraining", "false"), ("CurrentOwner", 3)]
)
def test_a_wrong_typed_column_is_a_format_error_naming_it(column: str, value: object) -> None:
    with pytest.raises(FormatError, match=column):
        PartitionRow.from_row({"PartitionKey": "", "RowKey": q(0), column: value})


# -- single rules ---------------------------------------------------------------------------------------


def test_free_and_expired_rows_are_claimed_and_renewed_in_the_same_write() -> None:
    rows = [row(0), row(1, "dead", expires_at=T0 - timedelta(seconds=1)), row(2, "alive")]
    p = plan_pass(rows, TableLocal("me"), T0, LEASE)
    assert writes(p.writes) == [("claim", q(0)), ("claim", q(1))]
    for w in p.writes:
        assert (w.row.current_owner, w.row.next_owner, w.row.owned_since) == ("me", None, T0)
        assert w.row.expires_at == T0 + LEASE  # the renewal overwrote the claim's one minute
        assert w.listen
    assert p.writes[1].etag == "e1"  # guarded by the ETag the row was read with


def test_own_row_is_renewed_and_listened_to_once() -> None:
    rows = [row(0, "me", expires_at=T0 + timedelta(seconds=5))]
    p = plan_pass(rows, TableLocal("me", listening=frozenset({q(0)})), T0, LEASE)
    (w,) = p.writes
    assert (w.reason, w.row.last_renewal, w.row.expires_at) == ("renew", T0, T0 + LEASE)


def test_a_row_another_worker_owns_now_is_lost_at_once() -> None:
    p = plan_pass([row(0, "other")], TableLocal("me", listening=frozenset({q(0)})), T0, LEASE)
    assert p.lost == (q(0),)
    assert p.writes == ()


def test_stolen_row_is_drained_while_renewed_then_released_to_the_thief() -> None:
    stolen = row(0, "me", next_owner="thief")
    p = plan_pass([stolen], TableLocal("me", listening=frozenset({q(0)})), T0, LEASE)
    (w,) = p.writes
    assert (w.reason, w.drain, w.row.is_draining, w.row.expires_at) == ("drain", True, True, T0 + LEASE)
    assert p.fast
    again = plan_pass([w.row], TableLocal("me", draining=frozenset({q(0)})), T0, LEASE)
    assert [(x.reason, x.drain) for x in again.writes] == [("drain", False)]  # still busy: renew only
    done = plan_pass(
        [w.row], TableLocal("me", draining=frozenset({q(0)}), drained=frozenset({q(0)})), T0, LEASE
    )
    (rel,) = done.writes
    assert (rel.reason, rel.row.current_owner, rel.row.next_owner, rel.row.is_draining) == (
        "release",
        None,
        "thief",
        False,
    )
    # the thief claims it by rule (c); a third worker does not
    assert writes(plan_pass([rel.row], TableLocal("thief"), T0, LEASE).writes) == [("claim", q(0))]
    assert writes(plan_pass([rel.row], TableLocal("third"), T0, LEASE).writes) == []


def test_a_row_drained_for_shutdown_is_stolen_at_once() -> None:
    p = plan_pass([row(0, "leaving", is_draining=True), row(1, "me")], TableLocal("me"), T0, LEASE)
    assert ("steal", q(0)) in writes(p.writes)
    steal = next(w for w in p.writes if w.reason == "steal")
    assert (steal.row.current_owner, steal.row.next_owner) == ("leaving", "me")


def test_shutting_down_drains_and_releases_only_its_own_rows() -> None:
    rows = [row(0, "me"), row(1), row(2, "other")]
    local = TableLocal("me", listening=frozenset({q(0)}), shutting_down=True)
    p = plan_pass(rows, local, T0, LEASE)
    assert writes(p.writes) == [("drain", q(0))]  # no claim of the free row, no steal
    drained = TableLocal("me", draining=frozenset({q(0)}), drained=frozenset({q(0)}), shutting_down=True)
    assert writes(plan_pass([p.writes[0].row], drained, T0, LEASE).writes) == [("release", q(0))]


@pytest.mark.parametrize(
    ("held", "expected_steals"),
    [
        ({"a": 4}, 2),  # 2 workers on 4: target 2, take 2
        ({"a": 2, "b": 2}, 1),  # 3 workers on 4: target 1, take 1 (2/1/1)
        ({"a": 3, "b": 1}, 1),  # 3 on 4: a has 2 over target
        ({"a": 1, "b": 1, "c": 1, "d": 1}, 0),  # 5 on 4: target 0, nothing
    ],
)
def test_balance_steals_to_dtfx_target(held: dict[str, int], expected_steals: int) -> None:
    owners = [o for o, n in held.items() for _ in range(n)]
    rows = [row(i, o) for i, o in enumerate(owners)]
    p = plan_pass(rows, TableLocal("me"), T0, LEASE)
    steals = [w for w in p.writes if w.reason == "steal"]
    assert len(steals) == expected_steals
    assert all(w.row.next_owner == "me" and w.etag == f"e{int(w.queue[-2:])}" for w in steals)


def test_at_target_one_more_is_taken_only_from_an_owner_two_above() -> None:
    # 4 rows, 2 workers: target 2. Me 1, a 3: take 1. Me 2 (target), a 2: nothing.
    rows = [row(0, "me"), row(1, "a"), row(2, "a"), row(3, "a")]
    assert len([w for w in plan_pass(rows, TableLocal("me"), T0, LEASE).writes if w.reason == "steal"]) == 1
    rows = [row(0, "me"), row(1, "me"), row(2, "a"), row(3, "a")]
    assert [w for w in plan_pass(rows, TableLocal("me"), T0, LEASE).writes if w.reason == "steal"] == []


# -- several workers against an in-memory table with ETags ------------------------------------------


@dataclass
class Table:
    rows: dict[str, PartitionRow]
    etags: itertools.count[int] = field(default_factory=lambda: itertools.count(100))
    conflicts: int = 0

    def read(self) -> list[PartitionRow]:
        return list(self.rows.values())

    def replace(self, w: RowWrite) -> bool:
        if self.rows[w.queue].etag != w.etag:
            self.conflicts += 1
            return False  # 412
        self.rows[w.queue] = w.row.with_(etag=f"e{next(self.etags)}")
        return True


@dataclass
class Sim:
    worker_id: str
    listening: set[str] = field(default_factory=set)
    draining: set[str] = field(default_factory=set)
    shutting_down: bool = False

    def one_pass(self, table: Table, now: datetime) -> None:
        # the in-memory work of a draining queue finishes within one pass
        local = TableLocal(
            self.worker_id,
            frozenset(self.listening),
            frozenset(self.draining),
            frozenset(self.draining),
            self.shutting_down,
        )
        p = plan_pass(table.read(), local, now, LEASE)
        for lost in p.lost:
            self.listening.discard(lost)
            self.draining.discard(lost)
        for w in p.writes:
            if not table.replace(w):
                return  # 412: the rest of the pass is abandoned
            if w.reason == "release":
                self.draining.discard(w.queue)
            elif w.drain:
                self.listening.discard(w.queue)
                self.draining.add(w.queue)
            elif w.listen and w.queue not in self.draining and not self.shutting_down:
                self.listening.add(w.queue)


def run(table: Table, workers: list[Sim], passes: int, start: datetime = T0, step: float = 1.0) -> datetime:
    now = start
    for _ in range(passes):
        for w in workers:
            w.one_pass(table, now)
        now += timedelta(seconds=step)
    return now


def owners(table: Table) -> Counter[str | None]:
    return Counter(r.current_owner for r in table.rows.values())


def assert_exclusive(workers: list[Sim]) -> None:
    seen = [qq for w in workers for qq in w.listening]
    assert len(seen) == len(set(seen)), f"two workers listen on one queue: {[w.listening for w in workers]}"


@pytest.mark.parametrize(
    ("n_workers", "expected"), [(1, [4]), (2, [2, 2]), (3, [2, 1, 1]), (4, [1, 1, 1, 1])]
)
def test_workers_settle_at_dtfx_balance_and_never_share_a_queue(n_workers: int, expected: list[int]) -> None:
    table = Table({q(i): PartitionRow.new(q(i)).with_(etag=f"e{i}") for i in range(4)})
    workers = [Sim(f"w{i}") for i in range(n_workers)]
    for _ in range(12):
        run(table, workers, 1)
        assert_exclusive(workers)
    assert sorted(owners(table).values(), reverse=True) == expected
    assert sorted(len(w.listening) for w in workers) == sorted(expected)
    assert all(r.next_owner is None and not r.is_draining for r in table.rows.values())


def test_a_dead_workers_rows_are_claimed_after_they_expire_and_not_before() -> None:
    table = Table({q(i): PartitionRow.new(q(i)).with_(etag=f"e{i}") for i in range(4)})
    a, b = Sim("a"), Sim("b")
    now = run(table, [a, b], 10)
    assert owners(table) == Counter({"a": 2, "b": 2})
    now = run(table, [b], 25, start=now)  # a is killed: 25 s < 30 s lease
    assert owners(table) == Counter({"a": 2, "b": 2})
    run(table, [b], 10, start=now)
    assert owners(table) == Counter({"b": 4})
    assert len(b.listening) == 4


def test_graceful_leave_hands_every_row_to_the_peer() -> None:
    table = Table({q(i): PartitionRow.new(q(i)).with_(etag=f"e{i}") for i in range(4)})
    a, b = Sim("a"), Sim("b")
    now = run(table, [a, b], 10)
    a.shutting_down = True
    run(table, [a, b], 6, start=now)
    assert owners(table) == Counter({"b": 4})
    assert a.listening == set() and len(b.listening) == 4


def test_a_stale_etag_abandons_the_rest_of_the_pass() -> None:
    table = Table({q(i): PartitionRow.new(q(i)).with_(etag=f"e{i}") for i in range(2)})
    stale = table.read()
    Sim("a").one_pass(table, T0)  # a claims both
    b = Sim("b")
    p = plan_pass(stale, TableLocal("b"), T0, LEASE)  # b planned on what it read before a wrote
    assert writes(p.writes) == [("claim", q(0)), ("claim", q(1))]
    assert not table.replace(p.writes[0])
    assert owners(table) == Counter({"a": 2})
    b.one_pass(table, T0)  # the next pass reads again: a holds both, b steals one to balance
    assert [r.next_owner for r in table.rows.values()].count("b") == 1


def test_a_held_row_not_listened_to_is_lost_too_when_another_worker_owns_it() -> None:
    p = plan_pass([row(0, "other"), row(1)], TableLocal("me", owned=frozenset({q(0)})), T0, LEASE)
    assert p.lost == (q(0),)
