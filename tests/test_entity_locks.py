"""The scheduler and the lock protocol (entities.md 3), purely: over 2 and 3 entities, without storage."""

from __future__ import annotations

from taskhub.format.entities import (
    LOCK_GRANTED,
    ReleaseMessage,
    RequestMessage,
    ResponseMessage,
    Stamp,
    stamp_from_text,
)
from taskhub.format.entity_state import SchedulerState
from worker.entities.scheduler import OutMessage, accept, grant_lock, take_batch
from worker.entities.sorter import DEFAULT_REORDER_WINDOW as W

NOW = stamp_from_text("2024-05-01T10:00:00Z")


class Hub:
    """Entities' scheduler states and a FIFO of messages between them, delivered one at a time."""

    def __init__(self, *names: str) -> None:
        self.states = {n: SchedulerState() for n in names}
        self.to_orchestration: list[OutMessage] = []
        self.ran: list[tuple[str, str]] = []
        self.clock = int(NOW)

    def send(self, out: OutMessage) -> None:
        if out.target.startswith("@"):
            self.step(out.target, [(out.name, out.input)])
        else:
            self.to_orchestration.append(out)

    def step(self, entity: str, events: list[tuple[str, str | None]]) -> None:
        self.clock += 10
        state = self.states[entity]
        accept(state, events, self_id=entity, now=Stamp(self.clock), window=W)
        ops, lock, out = take_batch(state, max_operations=100, self_id=entity)
        self.ran.extend((entity, m.op or "") for m in ops)
        if lock is not None:
            out.append(grant_lock(state, lock, now=Stamp(self.clock), window=W))
        for o in out:
            self.send(o)


def lock_request(lockset: list[tuple[str, str]], parent: str = "orch1") -> RequestMessage:
    return RequestMessage(id="g1", parent=parent, parent_execution="e1", lockset=lockset, timestamp=NOW)


def test_lock_is_passed_along_three_entities_then_granted() -> None:
    hub = Hub("@a@1", "@b@1", "@c@1")
    hub.step("@a@1", [("op", lock_request([("a", "1"), ("b", "1"), ("c", "1")]).to_json())])
    assert [s.locked_by for s in hub.states.values()] == ["orch1", "orch1", "orch1"]
    (grant,) = hub.to_orchestration
    assert (grant.target, grant.target_execution, grant.name) == ("orch1", "e1", "g1")
    assert ResponseMessage.from_json(grant.input).result == LOCK_GRANTED


def test_locked_entity_runs_only_the_holders_operations_until_release() -> None:
    hub = Hub("@a@1", "@b@1")
    hub.step("@a@1", [("op", lock_request([("a", "1"), ("b", "1")]).to_json())])
    other = RequestMessage(id="x", op="add", signal=True, input="1")
    mine = RequestMessage(id="y", op="get", parent="orch1", parent_execution="e1", timestamp=Stamp(NOW + 5))
    hub.step("@b@1", [("op", other.to_json())])
    assert hub.ran == [] and [m.id for m in hub.states["@b@1"].queue] == ["x"]
    hub.step("@b@1", [("op", mine.to_json())])
    assert hub.ran == [("@b@1", "get")]  # the holder's call jumps the queue
    hub.step("@b@1", [("release", ReleaseMessage("orch1", "g1").to_json())])
    assert hub.ran[-1] == ("@b@1", "add") and hub.states["@b@1"].locked_by is None


def test_a_lock_request_waits_behind_another_holder_and_ends_the_batch() -> None:
    hub = Hub("@a@1", "@b@1")
    hub.step("@a@1", [("op", lock_request([("a", "1"), ("b", "1")]).to_json())])
    second = RequestMessage(
        id="g2", parent="orch2", parent_execution="e2", lockset=[("a", "1")], timestamp=NOW
    )
    after = RequestMessage(id="z", op="add", signal=True)
    hub.step("@a@1", [("op", second.to_json()), ("op", after.to_json())])
    assert hub.states["@a@1"].locked_by == "orch1" and len(hub.to_orchestration) == 1
    hub.step("@a@1", [("release", ReleaseMessage("orch2", "g2").to_json())])  # not the holder: ignored
    assert hub.states["@a@1"].locked_by == "orch1"
    hub.step("@a@1", [("release", ReleaseMessage("orch1", "g1").to_json())])
    assert hub.states["@a@1"].locked_by == "orch2" and hub.to_orchestration[-1].name == "g2"
    assert ("@a@1", "add") not in hub.ran  # behind orch2's lock now
    hub.step("@a@1", [("release", ReleaseMessage("orch2", "g2").to_json())])
    assert ("@a@1", "add") in hub.ran


def test_batch_limit_suspends_and_continue_resumes() -> None:
    state = SchedulerState()
    msgs = [("op", RequestMessage(id=f"m{i}", op="add", signal=True).to_json()) for i in range(5)]
    accept(state, msgs, self_id="@c@1", now=NOW, window=W)
    ops, _, out = take_batch(state, max_operations=3, self_id="@c@1")
    assert len(ops) == 3 and state.suspended and [o.name for o in out] == ["continue"]
    assert take_batch(state, max_operations=3, self_id="@c@1")[0] == []
    accept(state, [("continue", None)], self_id="@c@1", now=NOW, window=W)
    assert [m.id for m in take_batch(state, max_operations=3, self_id="@c@1")[0]] == ["m3", "m4"]


def test_redelivered_requests_are_dropped_and_early_scheduled_ones_resent() -> None:
    state = SchedulerState()
    signal = ("op", RequestMessage(id="s1", op="add", signal=True).to_json())
    accept(state, [signal], self_id="@c@1", now=NOW, window=W)
    again = accept(state, [signal], self_id="@c@1", now=NOW, window=W)
    assert len(state.queue) == 1 and again.discarded
    early = RequestMessage(id="d1", op="add", signal=True, due=Stamp(NOW + 10 * 10_000_000))
    result = accept(state, [("op@x", early.to_json())], self_id="@c@1", now=NOW, window=W)
    assert len(state.queue) == 1 and result.outbox[0].name.startswith("op@2024-05-01T10:00:10")
    on_time = accept(
        state, [("op@x", early.to_json())], self_id="@c@1", now=Stamp(NOW + 10 * 10_000_000), window=W
    )
    assert not on_time.outbox and state.queue[-1].id == "d1"
