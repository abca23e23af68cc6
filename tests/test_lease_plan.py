"""Lease planning of the safe blob partition manager (runtime.md 7.8): pure, no storage.

The first half checks each rule of :func:`taskhub.hub.leases.plan` on hand-made views. The second half runs
several workers round by round against an in-memory model of blob leases (a leased blob cannot be
acquired, ChangeLease with the current lease id steals it, a lease ends LEASE_ROUNDS rounds after its
last renewal) and checks balancing, handoff after draining, failover and graceful leave.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pytest

from taskhub.hub.leases import (
    AcquireIntent,
    AcquireOwnership,
    AdoptLease,
    LeaseAction,
    LeaseBlob,
    LeaseKind,
    LeaseView,
    LocalState,
    Plan,
    ReleaseIntent,
    ReleaseOwnership,
    StartListening,
    StealIntent,
    StopListening,
    balance_target,
    plan,
)


def q(n: int) -> str:
    return f"hub-control-{n:02d}"


def iv(
    n: int, owner: str | None = None, *, leased: bool | None = None, token: str | None = None
) -> LeaseView:
    """An intent view; leased defaults to "has an owner", token to ``tok-{n}``."""
    leased = owner is not None if leased is None else leased
    return LeaseView(q(n), "intent", owner, token or f"tok-{n}", 1, leased)


def ov(
    n: int, owner: str | None = None, *, leased: bool | None = None, token: str | None = None
) -> LeaseView:
    leased = owner is not None if leased is None else leased
    return LeaseView(q(n), "ownership", owner, token or f"own-{n}", 1, leased)


def me(
    intents: Iterable[int] = (),
    ownerships: Iterable[int] = (),
    busy: Iterable[int] = (),
    listening: Iterable[int] = (),
    *,
    shutting_down: bool = False,
    worker_id: str = "A",
) -> LocalState:
    return LocalState(
        worker_id,
        frozenset(map(q, intents)),
        frozenset(map(q, ownerships)),
        frozenset(map(q, busy)),
        frozenset(map(q, listening)),
        shutting_down,
    )


def intent_actions(p: Plan) -> list[LeaseAction]:
    return [a for a in p.actions if isinstance(a, AcquireIntent | StealIntent | ReleaseIntent)]


# ----------------------------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("shards", "workers", "target"),
    [(4, 1, 4), (4, 2, 2), (4, 3, 2), (4, 4, 1), (4, 6, 1), (16, 5, 4), (0, 1, 1)],
)
def test_target_is_ceil_when_more_shards_than_workers_else_one(shards, workers, target):
    assert balance_target(shards, workers) == target


def test_expired_means_not_leased_or_owner_empty():
    assert LeaseView(q(0), "intent", "B", "t", 1, leased=False).expired
    assert LeaseView(q(0), "intent", "", "t", 1, leased=True).expired
    assert LeaseView(q(0), "intent", "  ", "t", 1, leased=True).expired
    assert LeaseView(q(0), "intent", None, None, 1, leased=True).expired
    assert not LeaseView(q(0), "intent", "B", "t", 1, leased=True).expired


def test_view_from_blob_json_and_lease_state():
    blob = LeaseBlob.from_json('{"PartitionId":"hub-control-02","Owner":"W1","Token":"abc","Epoch":3}')
    assert LeaseView.from_blob("ownership", blob, "leased") == LeaseView(
        q(2), "ownership", "W1", "abc", 3, True
    )
    assert not LeaseView.from_blob("intent", blob, "expired").leased
    assert not LeaseView.from_blob("intent", blob, "breaking").leased


def test_alone_takes_every_expired_intent_in_order():
    p = plan([iv(2), iv(0), iv(1, "dead", leased=False), iv(3)], me())
    assert p.actions == tuple(AcquireIntent(q(n)) for n in range(4))
    assert p.target == 4
    assert p.intent_counts == {"A": 0}


def test_takes_expired_only_up_to_target_minus_mine():
    views = [iv(0, "A"), iv(1, "B"), iv(2), iv(3), iv(4), iv(5)]
    p = plan(views, me(intents=[0]))
    assert p.target == 3  # 6 shards over A and B
    assert intent_actions(p) == [AcquireIntent(q(2)), AcquireIntent(q(3))]


def test_owner_counts_include_me_at_zero_and_skip_expired_leases():
    views = [iv(0, "B"), iv(1, "B"), iv(2, "C"), iv(3, "C", leased=False), iv(4, "", leased=True)]
    p = plan(views, me())
    assert p.intent_counts == {"A": 0, "B": 2, "C": 1}
    assert "target=2 owners=A:0,B:2,C:1" in p.describe()


def test_does_not_steal_while_an_expired_intent_exists():
    p = plan([iv(0, "B"), iv(1, "B"), iv(2, "B"), iv(3)], me())
    assert intent_actions(p) == [AcquireIntent(q(3))]


def test_steals_one_intent_of_the_busiest_owner_with_its_token():
    views = [iv(0, "B"), iv(1, "C"), iv(2, "C"), iv(3, "C", token="lease-3"), iv(4, "C"), iv(5, "B")]
    p = plan(views, me())
    assert p.target == 2
    # C has 4 > target - 1: one steal per round, the first of C's queues in name order.
    assert intent_actions(p) == [StealIntent(q(1), "C", "tok-1")]
    assert plan([iv(3, "C", token="lease-3"), iv(0, "B")], me()).actions == ()  # C has 1: at target


def test_steal_ties_go_to_the_first_owner_by_name():
    p = plan([iv(0, "C"), iv(1, "C"), iv(2, "B"), iv(3, "B")], me())
    assert intent_actions(p) == [StealIntent(q(2), "B", "tok-2")]


def test_needing_two_steals_from_an_owner_at_target():
    # 4 over A, B, C: target 2. A has 0 (needs 2): B has 2 > 2 - 1, so A steals.
    p = plan([iv(0, "B"), iv(1, "B"), iv(2, "C"), iv(3, "C")], me())
    assert intent_actions(p) == [StealIntent(q(0), "B", "tok-0")]


def test_needing_one_does_not_steal_when_the_victim_would_drop_below_target():
    # A has 1, target 2, needs 1: B has 2, not > 2, so no steal (it would only move the deficit).
    p = plan([iv(0, "A"), iv(1, "B"), iv(2, "B"), iv(3, "C")], me(intents=[0]))
    assert p.target == 2
    assert intent_actions(p) == []
    # 16 over 5, target 4: with 3, steal only from an owner with 5 or more.
    views = [iv(n, o) for n, o in zip(range(16), "AAABBBBCCCCDDDDE", strict=True)]
    assert intent_actions(plan(views, me(intents=[0, 1, 2]))) == []
    views[15] = iv(15, "B")
    assert intent_actions(plan(views, me(intents=[0, 1, 2]))) == [StealIntent(q(3), "B", "tok-3")]


def test_at_target_never_steals():
    views = [iv(0, "A"), iv(1, "A"), iv(2, "B"), iv(3, "B"), iv(4, "B"), iv(5, "C")]
    assert plan(views, me(intents=[0, 1])).target == 2
    assert intent_actions(plan(views, me(intents=[0, 1]))) == []


def test_never_steals_from_itself():
    # The only other owner has fewer than me; I am the busiest, but below target.
    p = plan([iv(n, "A") for n in range(3)] + [iv(3, "B"), iv(4, "B")], me(intents=[0, 1, 2]))
    assert all(not isinstance(a, StealIntent) for a in p.actions)
    p = plan([iv(0, "A"), iv(1, "A")], me(intents=[0, 1]))
    assert p.actions == () and p.intent_counts == {"A": 2}


def test_steal_skips_leases_without_a_token():
    views = [iv(0, "B"), iv(1, "B"), iv(2, "B")]
    views[0] = LeaseView(q(0), "intent", "B", None, 1, True)
    assert intent_actions(plan(views, me())) == [StealIntent(q(1), "B", "tok-1")]


def test_my_held_set_wins_over_a_stale_view_of_my_own_leases():
    # Just acquired q0 and q1 but the views were read before: still mine, not expired, not B's.
    p = plan([iv(0), iv(1, "B"), iv(2, "B"), iv(3, "B")], me(intents=[0, 1]))
    assert p.intent_counts == {"A": 2, "B": 2}
    assert intent_actions(p) == []


def test_ownership_is_acquired_only_with_the_intent_and_when_free():
    views = [
        iv(0, "A"),
        iv(1, "A"),
        iv(2, "A"),
        iv(3, "B"),
        ov(0),
        ov(1, "B"),
        ov(2, "B", leased=False),
        ov(3),
    ]
    p = plan(views, me(intents=[0, 1, 2]))
    assert [a for a in p.actions if isinstance(a, AcquireOwnership)] == [
        AcquireOwnership(q(0)),
        AcquireOwnership(q(2)),
    ]


def test_listens_only_with_intent_and_ownership():
    views = [iv(0, "A"), iv(1, "A"), ov(0, "A"), ov(1, "A")]
    p = plan(views, me(intents=[0, 1], ownerships=[0, 1], listening=[1]))
    assert p.actions == (StartListening(q(0)),)
    assert plan(views, me(intents=[0, 1], ownerships=[0, 1], listening=[0, 1])).actions == ()


def test_losing_the_intent_stops_listening_at_once_and_keeps_ownership_while_busy():
    views = [iv(0, "B"), ov(0, "A")]
    state = me(ownerships=[0], busy=[0], listening=[0])
    assert plan(views, state).actions == (StopListening(q(0)),)
    # Not listening any more, still draining: nothing to do (the ownership lease keeps being renewed).
    assert plan(views, me(ownerships=[0], busy=[0])).actions == ()
    # Drained: hand the queue over.
    assert plan(views, me(ownerships=[0])).actions == (ReleaseOwnership(q(0)),)


def test_ownership_is_released_only_a_round_after_listening_stopped():
    # Not busy at planning time, but a fetch could start before StopListening is applied.
    assert plan([iv(0, "B"), ov(0, "A")], me(ownerships=[0], listening=[0])).actions == (StopListening(q(0)),)


def test_regaining_the_intent_while_draining_resumes_listening():
    p = plan([iv(0, "A"), ov(0, "A")], me(intents=[0], ownerships=[0], busy=[0]))
    assert p.actions == (StartListening(q(0)),)


def test_listening_without_ownership_stops():
    assert plan([iv(0, "A"), ov(0, "B")], me(intents=[0], listening=[0])).actions == (StopListening(q(0)),)


def test_shutdown_releases_intents_stops_listening_and_releases_drained_ownerships():
    views = [iv(n, "A") for n in range(3)] + [ov(n, "A") for n in range(3)] + [iv(3), ov(3)]
    state = me(intents=[0, 1, 2], ownerships=[0, 1, 2], listening=[0, 1], busy=[0], shutting_down=True)
    assert plan(views, state).actions == (
        StopListening(q(0)),
        StopListening(q(1)),
        ReleaseIntent(q(0)),
        ReleaseIntent(q(1)),
        ReleaseIntent(q(2)),
        ReleaseOwnership(q(2)),
    )
    state = me(ownerships=[0, 1], busy=[0], shutting_down=True)
    assert plan(views, state).actions == (ReleaseOwnership(q(1)),)  # no acquire while shutting down


def test_adopts_live_leases_that_name_me_after_a_restart():
    views = [iv(0, "A", token="t0"), iv(1, "B"), ov(0, "A", token="o0"), ov(1, "B")]
    p = plan(views, me())
    assert p.intent_counts == {"A": 1, "B": 1}
    assert p.actions == (AdoptLease("intent", q(0), "t0"),)
    # Once the intent is held again, the ownership is adopted too.
    assert plan(views, me(intents=[0])).actions == (AdoptLease("ownership", q(0), "o0"),)


def test_actions_come_in_apply_order():
    views = [iv(0, "B"), iv(1, "A"), iv(2), iv(3, "B"), iv(4, "A")]
    views += [ov(0, "A"), ov(1), ov(2), ov(3, "A"), ov(4, "A")]
    p = plan(views, me(intents=[1, 4], ownerships=[0, 3, 4], listening=[0]))
    assert p.target == 3
    assert p.actions == (
        StopListening(q(0)),
        ReleaseOwnership(q(3)),
        AcquireIntent(q(2)),
        AcquireOwnership(q(1)),
        StartListening(q(4)),
    )


# ------------------------------------------------------------------------------------------- simulator

LEASE_ROUNDS = 3  # rounds without renewal before a lease ends (intent 30 s / 10 s, ownership 15 s / 5 s)


@dataclass
class Blob:
    owner: str | None = None
    token: str | None = None
    epoch: int = 0
    lease_id: str | None = None
    expires: int = 0


class Blobs:
    """Blob lease semantics: acquire, change (steal), renew, release; a lease ends unless renewed."""

    def __init__(self, partitions: int) -> None:
        self.now = 0
        kinds: tuple[LeaseKind, ...] = ("intent", "ownership")
        self.blobs = {(k, q(n)): Blob() for k in kinds for n in range(partitions)}
        self._ids = itertools.count(1)

    def leased(self, b: Blob) -> bool:
        return b.lease_id is not None and self.now < b.expires

    def views(self) -> list[LeaseView]:
        return [
            LeaseView(qn, k, b.owner, b.token, b.epoch, self.leased(b)) for (k, qn), b in self.blobs.items()
        ]

    def _take(self, b: Blob, worker: str) -> str:
        b.lease_id = b.token = f"L{next(self._ids)}"
        b.owner, b.epoch, b.expires = worker, b.epoch + 1, self.now + LEASE_ROUNDS
        return b.lease_id

    def acquire(self, kind: LeaseKind, queue: str, worker: str) -> str | None:
        b = self.blobs[kind, queue]
        return None if self.leased(b) else self._take(b, worker)

    def change(self, kind: LeaseKind, queue: str, worker: str, current: str) -> str | None:
        b = self.blobs[kind, queue]
        return self._take(b, worker) if self.leased(b) and b.lease_id == current else None

    def renew(self, kind: LeaseKind, queue: str, lease_id: str) -> bool:
        b = self.blobs[kind, queue]  # an ended lease can be renewed while nobody else took the blob
        if b.lease_id != lease_id:
            return False
        b.expires = self.now + LEASE_ROUNDS
        return True

    def release(self, kind: LeaseKind, queue: str, lease_id: str) -> None:
        b = self.blobs[kind, queue]
        if b.lease_id == lease_id:
            b.owner = b.token = b.lease_id = None

    def holder(self, kind: LeaseKind, queue: str) -> str | None:
        b = self.blobs[kind, queue]
        return b.owner if self.leased(b) else None


@dataclass
class Worker:
    id: str
    held: dict[tuple[LeaseKind, str], str] = field(default_factory=dict)
    listening: set[str] = field(default_factory=set)
    inflight: dict[str, int] = field(default_factory=dict)  # queue -> rounds of in-memory work left
    shutting_down: bool = False
    alive: bool = True

    def state(self) -> LocalState:
        return LocalState(
            self.id,
            frozenset(qn for k, qn in self.held if k == "intent"),
            frozenset(qn for k, qn in self.held if k == "ownership"),
            frozenset(qn for qn, n in self.inflight.items() if n > 0),
            frozenset(self.listening),
            self.shutting_down,
        )

    def owns(self) -> set[str]:
        return {qn for k, qn in self.held if k == "ownership"}


class Sim:
    """Workers acting round by round. Each round every worker processes and receives messages, renews
    its leases, then all plan from one snapshot of the blobs and apply in turn (so they race)."""

    def __init__(self, partitions: int, *, drain_rounds: int = 0, reverse: bool = False) -> None:
        self.partitions = partitions
        self.blobs = Blobs(partitions)
        self.workers: list[Worker] = []
        self.drain_rounds = drain_rounds  # with traffic, a listening queue always has this much work
        self.reverse = reverse
        self.plans: dict[str, Plan] = {}
        self.drained_handoffs = 0  # rounds in which an owner without the intent was still busy

    def add(self, worker_id: str) -> Worker:
        w = Worker(worker_id)
        self.workers.append(w)
        return w

    def worker(self, worker_id: str) -> Worker:
        return next(w for w in self.workers if w.id == worker_id)

    @property
    def active(self) -> list[Worker]:
        return [w for w in self.workers if w.alive]

    def kill(self, worker_id: str) -> None:
        w = self.worker(worker_id)
        w.alive, w.listening, w.inflight = False, set(), {}  # the process and its memory are gone

    def step(self) -> None:
        self.blobs.now += 1
        for w in self.active:
            w.inflight = {qn: n - 1 for qn, n in w.inflight.items() if n > 1}
            for qn in w.listening:
                if self.drain_rounds:
                    w.inflight[qn] = self.drain_rounds
            for (kind, qn), lease_id in list(w.held.items()):
                if not self.blobs.renew(kind, qn, lease_id):
                    del w.held[kind, qn]
        snapshot = self.blobs.views()
        self.plans = {w.id: plan(snapshot, w.state()) for w in self.active}
        for w in reversed(self.active) if self.reverse else self.active:
            for action in self.plans[w.id].actions:
                self.apply(w, action)
        for w in self.active:
            if w.shutting_down and not w.held and not w.listening and not w.inflight:
                w.alive = False  # stopped gracefully
        self.check()

    def apply(self, w: Worker, a: LeaseAction) -> None:
        b = self.blobs
        if isinstance(a, AcquireIntent | AcquireOwnership):
            kind: LeaseKind = "intent" if isinstance(a, AcquireIntent) else "ownership"
            if (lease_id := b.acquire(kind, a.queue, w.id)) is not None:
                w.held[kind, a.queue] = lease_id
        elif isinstance(a, StealIntent):
            assert a.from_owner != w.id
            if (lease_id := b.change("intent", a.queue, w.id, a.token)) is not None:
                w.held["intent", a.queue] = lease_id
        elif isinstance(a, AdoptLease):
            if b.renew(a.kind, a.queue, a.token):
                w.held[a.kind, a.queue] = a.token
        elif isinstance(a, ReleaseIntent | ReleaseOwnership):
            kind = "intent" if isinstance(a, ReleaseIntent) else "ownership"
            b.release(kind, a.queue, w.held.pop((kind, a.queue)))
        elif isinstance(a, StartListening):
            assert ("ownership", a.queue) in w.held
            w.listening.add(a.queue)
        else:
            assert isinstance(a, StopListening)
            w.listening.discard(a.queue)

    def check(self) -> None:
        """A control queue is worked on (listened to, or messages in memory) by at most one live worker,
        and only by the holder of its ownership lease."""
        for n in range(self.partitions):
            qn = q(n)
            working = [w for w in self.active if qn in w.listening or w.inflight.get(qn, 0) > 0]
            assert len(working) <= 1, f"{qn} worked on by {[w.id for w in working]}"
            for w in working:
                assert self.blobs.blobs["ownership", qn].lease_id == w.held.get(("ownership", qn)), (
                    f"{w.id} works on {qn} without holding its ownership lease"
                )
                if ("intent", qn) not in w.held and w.inflight.get(qn, 0) > 0:
                    self.drained_handoffs += 1

    def settled(self) -> bool:
        """Every queue: one live worker holds intent and ownership and listens; no handoff pending."""
        for n in range(self.partitions):
            qn = q(n)
            holders = [w for w in self.active if ("ownership", qn) in w.held]
            if len(holders) != 1 or ("intent", qn) not in holders[0].held or qn not in holders[0].listening:
                return False
            if any(("intent", qn) in w.held for w in self.active if w is not holders[0]):
                return False
        return True

    def run_until(self, done: Callable[[], bool], max_rounds: int) -> int:
        for rounds in range(1, max_rounds + 1):
            self.step()
            if done():
                return rounds
        raise AssertionError(f"not done after {max_rounds} rounds: {self.summary()}")

    def counts(self) -> dict[str, int]:
        return {w.id: len(w.owns()) for w in self.active}

    def summary(self) -> str:
        return "; ".join(f"{w.id}: owns={sorted(w.owns())} {self.plans.get(w.id, '')}" for w in self.active)


def balanced(sim: Sim, low: int, high: int) -> Callable[[], bool]:
    return lambda: sim.settled() and all(low <= n <= high for n in sim.counts().values())


def stopped(w: Worker) -> Callable[[], bool]:
    return lambda: not w.alive


def assert_quiet(sim: Sim, rounds: int = 20) -> None:
    """After convergence, rounds bring no action at all (renewals are implied)."""
    before = {w.id: sorted(w.held) for w in sim.active}
    for _ in range(rounds):
        sim.step()
        assert all(p.actions == () for p in sim.plans.values()), sim.summary()
    assert {w.id: sorted(w.held) for w in sim.active} == before


@pytest.mark.parametrize("reverse", [False, True])
def test_one_worker_takes_all_four_partitions(reverse):
    sim = Sim(4, drain_rounds=2, reverse=reverse)
    sim.add("A")
    assert sim.run_until(sim.settled, 5) <= 3  # intents, then ownerships, then listening
    assert sim.counts() == {"A": 4}
    assert_quiet(sim)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("drain_rounds", [0, 4])
def test_second_and_third_worker_join_and_partitions_spread(reverse, drain_rounds):
    sim = Sim(4, drain_rounds=drain_rounds, reverse=reverse)
    sim.add("A")
    sim.run_until(sim.settled, 5)
    sim.add("B")
    sim.run_until(balanced(sim, 2, 2), 20 + 2 * drain_rounds)
    sim.add("C")
    sim.run_until(balanced(sim, 1, 2), 20 + 2 * drain_rounds)
    assert sorted(sim.counts().values()) == [1, 1, 2]
    assert_quiet(sim)
    if drain_rounds:
        assert sim.drained_handoffs > 0  # the handoffs did wait for a draining owner


def test_ownership_moves_only_after_the_old_owner_drained():
    sim = Sim(4, drain_rounds=5)
    a = sim.add("A")
    sim.run_until(sim.settled, 5)
    b = sim.add("B")
    moved: set[str] = set()
    waited: dict[str, int] = {}  # rounds in which B held the intent while A still held the ownership
    for _ in range(30):
        sim.step()
        for qn in sorted(b.owns() - moved):
            moved.add(qn)
            assert ("intent", qn) in b.held
            assert a.inflight.get(qn, 0) == 0 and qn not in a.listening
        for qn in sorted(q(n) for n in range(4)):
            if ("intent", qn) in b.held and ("ownership", qn) in a.held:
                waited[qn] = waited.get(qn, 0) + 1
    assert len(moved) == 2 and sim.settled()
    assert sorted(waited) == sorted(moved)
    assert all(n >= 5 for n in waited.values())  # A drained 5 rounds of work before letting go


def test_killed_worker_loses_its_leases_and_the_others_absorb_them():
    sim = Sim(4, drain_rounds=2)
    for wid in "ABC":
        sim.add(wid)
        sim.run_until(sim.settled, 30)
    sim.run_until(balanced(sim, 1, 2), 30)
    victim = max(sim.active, key=lambda w: (len(w.owns()), w.id)).id
    sim.kill(victim)
    assert not sim.settled()
    rounds = sim.run_until(balanced(sim, 2, 2), 30)
    assert rounds > LEASE_ROUNDS - 1  # nothing moves before the dead worker's leases end
    assert victim not in sim.counts()
    assert all(sim.blobs.holder("ownership", q(n)) != victim for n in range(4))
    assert_quiet(sim)


def test_workers_leave_gracefully_one_by_one_and_the_last_owns_all():
    sim = Sim(4, drain_rounds=3)
    for wid in "ABC":
        sim.add(wid)
    sim.run_until(balanced(sim, 1, 2), 40)
    for leaving in "AB":
        sim.worker(leaving).shutting_down = True
        gone = sim.worker(leaving)
        sim.run_until(stopped(gone), 20)  # drained and released everything
        assert not gone.held
        sim.run_until(sim.settled, 20)
    assert sim.counts() == {"C": 4}
    assert_quiet(sim)


def test_sixteen_partitions_over_five_workers_settle_at_three_or_four():
    sim = Sim(16, drain_rounds=2)
    for wid in "ABCDE":
        sim.add(wid)
    sim.run_until(balanced(sim, 3, 4), 80)
    assert sorted(sim.counts().values()) == [3, 3, 3, 3, 4]
    assert_quiet(sim)


def test_workers_starting_together_converge():
    sim = Sim(4, drain_rounds=1)
    for wid in "ABC":
        sim.add(wid)
    sim.run_until(balanced(sim, 1, 2), 40)
    assert_quiet(sim)


def test_more_workers_than_partitions_leaves_some_idle():
    sim = Sim(4)
    for wid in "ABCDEF":
        sim.add(wid)
    sim.run_until(balanced(sim, 0, 1), 60)
    assert sum(sim.counts().values()) == 4
    assert_quiet(sim)


def test_restarted_worker_with_the_same_id_adopts_its_leases():
    sim = Sim(4)
    sim.add("A")
    sim.run_until(sim.settled, 5)
    old = sim.worker("A")
    lease_ids = dict(old.held)
    sim.kill("A")
    sim.workers.remove(old)
    new = sim.add("A")  # same worker id, empty memory, before the old leases end
    sim.run_until(sim.settled, 3)  # adopt intents, adopt ownerships, listen
    assert new.held == lease_ids  # renewed with the ids from the JSON, not acquired again
    assert sim.counts() == {"A": 4}
