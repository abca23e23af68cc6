"""Partition planning of DTFx's table partition manager (docs/partition-table.md, section 5).

Pure: :func:`plan_pass` takes every row of ``{Hub}Partitions`` (with its ETag), what this worker knows
about itself and the time, and returns one pass of the protocol: the queues to stop at once (another
worker owns them now), and the rows to write back, in order, each a full Replace under the ETag it was
read with. The I/O loop (``worker.table_partitions``) applies them; a 412 abandons the rest of the pass.

Per row: claim it when it is free, expired, or released to me (``CurrentOwner`` null and ``NextOwner``
me); renew my own; when someone is stealing mine (``NextOwner`` set), drain it and, once drained,
release it (``CurrentOwner`` null: the thief's next pass claims it); steal a row whose owner drains it
for shutdown (``IsDraining`` with no ``NextOwner``). Then balance: ``target = P // W`` rows per worker
(W: the owners seen, me included), steal the others' excess (one more allowed when P does not divide).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from taskhub.format.partition_rows import PartitionRow

__all__ = ["TableLocal", "TablePlan", "RowWrite", "WriteReason", "plan_pass", "CLAIM_EXPIRY"]

CLAIM_EXPIRY = timedelta(minutes=1)
"""What a claim sets ExpiresAt to (DTFx); the renewal in the same pass overwrites it with leaseInterval."""

WriteReason = Literal["claim", "renew", "drain", "release", "steal"]


@dataclass(frozen=True)
class TableLocal:
    """What this worker knows about itself: the queues it listens on, those whose drain has started
    (not listening any more, in-memory work still running), those whose drain finished, and the rows
    it holds. Any of them whose row names another CurrentOwner is lost at once."""

    worker_id: str
    listening: frozenset[str] = frozenset()
    draining: frozenset[str] = frozenset()
    drained: frozenset[str] = frozenset()
    shutting_down: bool = False
    owned: frozenset[str] = frozenset()
    """Rows this worker last wrote as their CurrentOwner (listened to or not)."""


@dataclass(frozen=True)
class RowWrite:
    """Replace the row with ``row`` If-Match ``etag``; then start listening (``listen``) or start the
    drain of the queue (``drain``: stop fetching, let what is in memory finish)."""

    reason: WriteReason
    row: PartitionRow
    etag: str | None
    listen: bool = False
    drain: bool = False

    @property
    def queue(self) -> str:
        return self.row.queue


@dataclass(frozen=True)
class TablePlan:
    """One pass: queues lost at once, the writes in order, whether to poll fast (1 s), and the tally."""

    lost: tuple[str, ...]
    writes: tuple[RowWrite, ...]
    fast: bool
    target: int = 0
    tally: Mapping[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        owners = ",".join(f"{o}:{n}" for o, n in self.tally.items())
        acts = ",".join(f"{w.reason}({w.queue})" for w in self.writes) or "-"
        return f"target={self.target} owners={owners} lost={','.join(self.lost) or '-'} writes={acts}"


def _claimable(row: PartitionRow, me: str, now: datetime) -> bool:
    free = row.current_owner is None and row.next_owner is None
    handed_to_me = row.current_owner is None and row.next_owner == me
    return free or row.expired(now) or handed_to_me


def plan_pass(
    rows: Sequence[PartitionRow], local: TableLocal, now: datetime, lease_interval: timedelta
) -> TablePlan:
    """One pass of the table protocol over every row (visited by queue name)."""
    me = local.worker_id
    lost: list[str] = []
    writes: list[RowWrite] = []
    tally: dict[str, list[PartitionRow]] = {}
    fast = local.shutting_down

    def renewed(row: PartitionRow) -> PartitionRow:
        return row.with_(last_renewal=now, expires_at=now + lease_interval)

    for row in sorted(rows, key=lambda r: r.queue):
        q = row.queue
        if q in local.listening | local.draining | local.owned and row.current_owner != me:
            lost.append(q)
        if local.shutting_down:
            if row.current_owner == me:
                writes.append(_give_up(row, local, now, lease_interval))
            continue
        new = row
        reason: WriteReason | None = None
        if _claimable(row, me, now):
            new = row.with_(
                current_owner=me, next_owner=None, owned_since=now, last_renewal=now,
                expires_at=now + CLAIM_EXPIRY, is_draining=False,
            )  # fmt: skip
            reason = "claim"
        if new.current_owner == me:
            if new.next_owner is None:
                listen = reason == "claim" or not new.is_draining
                writes.append(RowWrite(reason or "renew", renewed(new), row.etag, listen=listen))
                tally.setdefault(me, []).append(new)
            else:
                writes.append(_give_up(new, local, now, lease_interval))
                tally.setdefault(new.next_owner, []).append(new)
                fast = True
            continue
        if row.next_owner is not None:
            tally.setdefault(row.next_owner, []).append(row)
            fast = fast or row.next_owner == me
        elif row.current_owner is not None and row.is_draining:  # its owner is shutting down: take it
            writes.append(RowWrite("steal", row.with_(next_owner=me), row.etag))
            tally.setdefault(me, []).append(row)
            fast = True
        elif row.current_owner is not None:
            tally.setdefault(row.current_owner, []).append(row)

    target = 0
    if tally and not local.shutting_down:
        steals, target = _balance(rows, me, tally)
        writes += steals
        fast = fast or bool(steals)
    counts = {owner: len(held) for owner, held in tally.items()}
    return TablePlan(tuple(lost), tuple(writes), fast, target, counts)


def _give_up(row: PartitionRow, local: TableLocal, now: datetime, lease_interval: timedelta) -> RowWrite:
    """My row that must go (stolen, or I am shutting down): drain while renewing, then release."""
    if row.queue in local.drained:
        return RowWrite("release", row.with_(current_owner=None, is_draining=False), row.etag)
    draining = row.with_(is_draining=True, last_renewal=now, expires_at=now + lease_interval)
    return RowWrite("drain", draining, row.etag, drain=row.queue not in local.draining)


def _balance(
    rows: Sequence[PartitionRow], me: str, tally: Mapping[str, list[PartitionRow]]
) -> tuple[list[RowWrite], int]:
    """DTFx's balancing: target = P // W; take up to target - mine from owners above target (one more
    than target is left alone; more than that gives one up even when I am at target)."""
    mine = len(tally.get(me, []))
    others = [owner for owner in tally if owner != me]
    target = len(rows) // (len(others) + 1)
    if target < mine:
        return [], target
    steals: list[RowWrite] = []
    for owner in others:
        want = target - mine
        if want < 0:
            break
        held = tally[owner]
        excess = len(held) - target
        if excess <= 0:
            continue
        if want == 0 and excess > 1:
            want = 1
        stealable = [
            r for r in held if r.current_owner == owner and r.next_owner is None and not r.is_draining
        ]
        for row in stealable[: min(want, excess)]:
            steals.append(RowWrite("steal", row.with_(next_owner=me), row.etag))
            mine += 1
    return steals, target
