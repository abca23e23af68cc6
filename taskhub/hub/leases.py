"""Partition lease blobs of the safe blob partition manager (storage-format.md 1.3, runtime.md 7.8).

Pure: :func:`plan` (the lease blob JSON itself is :mod:`taskhub.format.leases`), which decides what a
worker does with its leases this round. The I/O loop (``worker.backends.azure_storage.partitions``) reads every lease blob,
calls ``plan`` and applies the returned actions in order.

Each control queue has two lease blobs. ``intent/{queue}`` says who *should* own the queue: it is
balanced across workers and may be stolen. ``ownership/{queue}`` says who *does* own it: it is never
stolen; only the intent holder takes it, and only after the previous owner released it. A worker that
loses the intent stops taking new messages at once but keeps ownership until its in-memory work for
that queue is finished, so a control queue is never processed by two workers at the same time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from taskhub.format.leases import LeaseBlob, TaskHubInfo

__all__ = [
    "AcquireIntent",
    "AcquireOwnership",
    "AdoptLease",
    "LeaseAction",
    "LeaseBlob",
    "LeaseKind",
    "LeaseView",
    "LocalState",
    "Plan",
    "ReleaseIntent",
    "ReleaseOwnership",
    "StartListening",
    "StealIntent",
    "StopListening",
    "TaskHubInfo",
    "balance_target",
    "plan",
]


# --------------------------------------------------------------------------------------------------
# Lease planning (runtime.md 7.8, "Safe blob manager" and "LeaseCollectionBalancer algorithm").

LeaseKind = Literal["intent", "ownership"]


def _no_owner(owner: str | None) -> bool:
    return owner is None or not owner.strip()


@dataclass(frozen=True)
class LeaseView:
    """What one lease blob says right now: its JSON content and whether the blob is leased."""

    queue: str
    kind: LeaseKind
    owner: str | None
    token: str | None
    epoch: int
    leased: bool

    @property
    def expired(self) -> bool:
        """DTFx's "expired": the blob is not leased (available/expired/breaking/broken) or Owner is empty."""
        return not self.leased or _no_owner(self.owner)

    @classmethod
    def from_blob(cls, kind: LeaseKind, content: LeaseBlob, lease_state: str) -> LeaseView:
        """From the blob's JSON and its lease state (``"leased"``, ``"available"``, ``"expired"``, ...)."""
        return cls(
            content.partition_id, kind, content.owner, content.token, content.epoch, lease_state == "leased"
        )


@dataclass(frozen=True)
class LocalState:
    """What this worker knows about itself.

    ``*_held``: leases whose lease id this worker holds and renews. ``listening``: queues whose dequeue
    loop is running. ``busy_queues``: queues with a fetch still in flight, or messages or sessions in
    memory (a queue being drained).
    """

    worker_id: str
    intents_held: frozenset[str] = frozenset()
    ownerships_held: frozenset[str] = frozenset()
    busy_queues: frozenset[str] = frozenset()
    listening: frozenset[str] = frozenset()
    shutting_down: bool = False


@dataclass(frozen=True)
class AcquireIntent:
    """The intent blob is free: AcquireLease(new id), then Owner=me, Token=id, Epoch+1 under the lease."""

    queue: str


@dataclass(frozen=True)
class StealIntent:
    """ChangeLease(current=token, proposed=new id), then Owner=me, Token=id, Epoch+1 under the lease."""

    queue: str
    from_owner: str
    token: str


@dataclass(frozen=True)
class ReleaseIntent:
    """Upload Owner=null, Token=null (Epoch kept) under the lease, then ReleaseLease."""

    queue: str


@dataclass(frozen=True)
class AcquireOwnership:
    """The ownership blob is free and I hold the intent: AcquireLease as for :class:`AcquireIntent`."""

    queue: str


@dataclass(frozen=True)
class ReleaseOwnership:
    """The queue is drained and no longer listened to: release as for :class:`ReleaseIntent`."""

    queue: str


@dataclass(frozen=True)
class AdoptLease:
    """A live lease whose Owner is my worker id but which I do not hold (a restart with the same id):
    RenewLease(token); on success it is held with that lease id, on 409 it is simply not held."""

    kind: LeaseKind
    queue: str
    token: str


@dataclass(frozen=True)
class StartListening:
    """I hold both the intent and the ownership: start (or resume) dequeuing from the queue."""

    queue: str


@dataclass(frozen=True)
class StopListening:
    """Stop fetching new messages from the queue; in-memory messages and sessions keep running."""

    queue: str


LeaseAction = (
    AcquireIntent
    | StealIntent
    | ReleaseIntent
    | AcquireOwnership
    | ReleaseOwnership
    | AdoptLease
    | StartListening
    | StopListening
)


@dataclass(frozen=True)
class Plan:
    """The actions of one round, in the order to apply them, and the facts they were derived from.

    Renewal is implied: every held lease that no action releases is renewed on the renew interval; a
    renewal that fails with 409/412 (lease lost) removes it from the held set. ``intent_counts``: live
    intent leases per owner, including this worker (possibly 0); ``target``: intents each worker aims for.
    """

    actions: tuple[LeaseAction, ...]
    target: int
    intent_counts: Mapping[str, int]

    def describe(self) -> str:
        """One line for logs: ``target=2 owners=A:2,B:1 actions=StealIntent(q2 from A)``."""
        owners = ",".join(f"{o}:{n}" for o, n in self.intent_counts.items())
        acts = ",".join(_describe(a) for a in self.actions) or "-"
        return f"target={self.target} owners={owners} actions={acts}"


def _describe(action: LeaseAction) -> str:
    if isinstance(action, StealIntent):
        return f"StealIntent({action.queue} from {action.from_owner})"
    if isinstance(action, AdoptLease):
        return f"AdoptLease({action.kind} {action.queue})"
    return f"{type(action).__name__}({action.queue})"


def balance_target(shards: int, workers: int) -> int:
    """Leases each worker aims for: ``ceil(shards / workers)`` when shards > workers, else 1."""
    return math.ceil(shards / workers) if shards > workers else 1


def plan(leases: Sequence[LeaseView], me: LocalState) -> Plan:
    """Decide this round's lease actions from every lease blob's current view and this worker's state.

    Intent (balanced, stealing): count the owners of live intents (me included, at 0); take expired
    intents up to ``target - mine``; when none is expired, steal one intent of the owner with the most,
    if it has more than ``target - (1 if needed > 1 else 0)``. Ownership (no stealing): acquire a free
    ownership blob of a queue whose intent I hold; keep it while I hold the intent or the queue is busy;
    otherwise stop listening, then (in a later round, once not busy) release it. Shutdown: release all
    intents, stop listening everywhere, release each ownership once its queue is drained.

    Ties are broken by name (owners, queues) so that the result is deterministic.
    """
    me_id = me.worker_id
    intents = {v.queue: v for v in leases if v.kind == "intent"}
    ownerships = {v.queue: v for v in leases if v.kind == "ownership"}

    # My held set is the truth for my own leases (a stale view must not make me give them up); for
    # the others', the view is.
    counts: dict[str, int] = {me_id: 0}
    for queue, view in intents.items():
        owner = me_id if queue in me.intents_held else None if view.expired else view.owner
        if owner is not None:
            counts[owner] = counts.get(owner, 0) + 1
    target = balance_target(len(intents), len(counts))
    ordered_counts = dict(sorted(counts.items()))

    stops: list[LeaseAction] = []
    releases: list[LeaseAction] = []
    takes: list[LeaseAction] = []
    starts: list[LeaseAction] = []

    if me.shutting_down:
        intents_kept: frozenset[str] = frozenset()
        releases += [ReleaseIntent(q) for q in sorted(me.intents_held)]
    else:
        intents_kept = me.intents_held
        takes += _intent_takes(intents, me, counts, target)
        for queue in sorted(intents_kept - me.ownerships_held):
            own = ownerships.get(queue)
            if own is None:
                continue
            if own.expired:
                takes.append(AcquireOwnership(queue))
            elif own.owner == me_id and own.token:
                takes.append(AdoptLease("ownership", queue, own.token))

    for queue in sorted(me.ownerships_held | me.listening):
        should_listen = queue in me.ownerships_held and queue in intents_kept
        if should_listen:
            if queue not in me.listening:
                starts.append(StartListening(queue))
        elif queue in me.listening:
            stops.append(StopListening(queue))
        elif queue in me.ownerships_held and queue not in me.busy_queues:
            releases.append(ReleaseOwnership(queue))

    return Plan(tuple(stops + releases + takes + starts), target, ordered_counts)


def _intent_takes(
    intents: Mapping[str, LeaseView], me: LocalState, counts: Mapping[str, int], target: int
) -> list[LeaseAction]:
    """Adopt my own orphaned intents, then acquire expired ones or steal one (the balancer's taker)."""
    me_id = me.worker_id
    others = {q: v for q, v in sorted(intents.items()) if q not in me.intents_held}
    actions: list[LeaseAction] = [
        AdoptLease("intent", q, v.token)
        for q, v in others.items()
        if not v.expired and v.owner == me_id and v.token
    ]
    needed = target - counts[me_id]
    if needed <= 0:
        return actions
    expired = [q for q, v in others.items() if v.expired]
    if expired:
        return [*actions, *(AcquireIntent(q) for q in expired[:needed])]
    rivals = [(owner, n) for owner, n in counts.items() if owner != me_id]
    if not rivals:
        return actions
    victim, victim_count = min(rivals, key=lambda item: (-item[1], item[0]))
    if victim_count > target - (1 if needed > 1 else 0):
        for queue, view in others.items():
            if not view.expired and view.owner == victim and view.token:
                return [*actions, StealIntent(queue, victim, view.token)]
    return actions
