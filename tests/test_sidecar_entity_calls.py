"""An SDK orchestration's entity messages as this hub's (pure): calls and signals as labelled ``op``
RequestMessages, delayed signals as ``op@<time>``, locks and releases in the hub's lock protocol; and the
history shown back to the SDK as its entity events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taskhub.format.entities import ReleaseMessage, RequestMessage, ResponseMessage
from taskhub.format.history import EventRaisedEvent, EventSentEvent, HistoryEvent, OrchestratorStartedEvent
from worker.sidecar.entity_calls import entity_send, entity_view, sorter_of
from worker.sidecar.proto import pb, string_value, timestamp

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _message(i: int, **kind: object) -> pb.OrchestratorAction:
    return pb.OrchestratorAction(id=i, sendEntityMessage=pb.SendEntityMessageAction(**kind))  # type: ignore[arg-type]


def _call(i: int, rid: str, target: str = "@tally@k") -> pb.OrchestratorAction:
    called = pb.EntityOperationCalledEvent(
        requestId=rid, operation="add", input=string_value("4"), targetInstanceId=string_value(target)
    )
    return _message(i, entityOperationCalled=called)


def test_calls_are_labelled_requests_in_send_order() -> None:
    sorter = sorter_of([])
    first = entity_send(_call(1, "r1"), "orch", "e1", sorter, NOW)
    second = entity_send(_call(2, "r2"), "orch", "e1", sorter, NOW)
    assert (first.id, first.instance_id, first.name) == (1, "@tally@k", "op")
    a, b = RequestMessage.from_json(first.input), RequestMessage.from_json(second.input)
    assert (a.id, a.op, a.input, a.parent, a.parent_execution, a.signal) == (
        "r1",
        "add",
        "4",
        "orch",
        "e1",
        False,
    )
    assert b.predecessor == a.timestamp and b.timestamp > a.timestamp  # the entity puts them back in order


def test_the_sorter_is_rebuilt_from_the_history_as_replay_builds_it() -> None:
    live = sorter_of([])
    sent = entity_send(_call(1, "r1"), "orch", "e1", live, NOW)
    history: list[HistoryEvent] = [
        OrchestratorStartedEvent(timestamp=NOW),
        EventSentEvent(
            event_id=1, instance_id=sent.instance_id, name=sent.name, input=sent.input, timestamp=NOW
        ),
    ]
    rebuilt = sorter_of(history)
    later = NOW + timedelta(seconds=1)
    assert (
        entity_send(_call(2, "r2"), "orch", "e1", rebuilt, later).input
        == entity_send(_call(2, "r2"), "orch", "e1", live, later).input
    )


def test_a_delayed_signal_is_named_for_its_time() -> None:
    signaled = pb.EntityOperationSignaledEvent(
        requestId="s1",
        operation="add",
        targetInstanceId=string_value("@tally@k"),
        scheduledTime=timestamp(NOW + timedelta(minutes=5)),
    )
    sent = entity_send(_message(3, entityOperationSignaled=signaled), "orch", "e1", sorter_of([]), NOW)
    assert sent.name == "op@2026-12-07T09:05:00.0000000Z"
    assert RequestMessage.from_json(sent.input).signal


def test_locks_go_to_the_first_sorted_entity_and_releases_to_each() -> None:
    lock = pb.EntityLockRequestedEvent(
        criticalSectionId="cs", lockSet=["@tally@to", "@tally@from"], position=0
    )
    sent = entity_send(_message(1, entityLockRequested=lock), "orch", "e1", sorter_of([]), NOW)
    request = RequestMessage.from_json(sent.input)
    assert sent.instance_id == "@tally@from" and request.lockset == [("tally", "from"), ("tally", "to")]
    unlock = pb.EntityUnlockSentEvent(criticalSectionId="cs", targetInstanceId=string_value("@tally@to"))
    release = entity_send(_message(2, entityUnlockSent=unlock), "orch", "e1", sorter_of([]), NOW)
    assert (release.instance_id, release.name) == ("@tally@to", "release")
    assert ReleaseMessage.from_json(release.input) == ReleaseMessage("orch", "cs")


def test_a_message_to_something_that_is_not_an_entity_is_refused() -> None:
    with pytest.raises(ValueError, match="not an entity id"):
        entity_send(_call(1, "r1", target="plain-instance"), "orch", "e1", sorter_of([]), NOW)


def test_the_sdk_sees_its_own_entity_events() -> None:
    sorter = sorter_of([])
    call = entity_send(_call(1, "r1"), "orch", "e1", sorter, NOW)
    lock_action = _message(
        2, entityLockRequested=pb.EntityLockRequestedEvent(criticalSectionId="cs", lockSet=["@tally@k"])
    )
    lock = entity_send(lock_action, "orch", "e1", sorter, NOW)
    failed = ResponseMessage(
        result='"no"', exception_type="ValueError", failure_details={"ErrorMessage": "no"}
    )
    events: list[HistoryEvent] = [
        EventSentEvent(
            event_id=1, instance_id=call.instance_id, name=call.name, input=call.input, timestamp=NOW
        ),
        EventRaisedEvent(name="r1", input=failed.to_json(), timestamp=NOW),
        EventSentEvent(
            event_id=2, instance_id=lock.instance_id, name=lock.name, input=lock.input, timestamp=NOW
        ),
        EventRaisedEvent(
            name="cs", input=ResponseMessage(result="Lock Acquisition Completed").to_json(), timestamp=NOW
        ),
        EventRaisedEvent(name="other", input="1", timestamp=NOW),
    ]
    shown = entity_view(events)
    assert sorted(shown) == [0, 1, 2, 3]  # a plain external event is left as it is
    assert shown[0].entityOperationCalled.requestId == "r1" and shown[0].eventId == 1
    assert shown[1].entityOperationFailed.failureDetails.errorMessage == "no"
    assert list(shown[2].entityLockRequested.lockSet) == ["@tally@k"]
    assert shown[3].entityLockGranted.criticalSectionId == "cs"


def test_an_event_looks_the_same_to_the_sdk_whatever_follows_it() -> None:
    """The remote executor converts past and new events in one pass and splits the result: that is only
    right when an event's view depends on the events before it, never on those after."""
    from worker.sidecar.decisions import to_sdk

    sorter = sorter_of([])
    call = entity_send(_call(1, "r1"), "orch", "e1", sorter, NOW)
    lock_action = _message(
        2, entityLockRequested=pb.EntityLockRequestedEvent(criticalSectionId="cs", lockSet=["@tally@k"])
    )
    lock = entity_send(lock_action, "orch", "e1", sorter, NOW)
    events: list[HistoryEvent] = [
        OrchestratorStartedEvent(timestamp=NOW),
        EventSentEvent(
            event_id=1, instance_id=call.instance_id, name=call.name, input=call.input, timestamp=NOW
        ),
        EventRaisedEvent(name="r1", input=ResponseMessage(result="7").to_json(), timestamp=NOW),
        EventSentEvent(
            event_id=2, instance_id=lock.instance_id, name=lock.name, input=lock.input, timestamp=NOW
        ),
        EventRaisedEvent(
            name="cs", input=ResponseMessage(result="Lock Acquisition Completed").to_json(), timestamp=NOW
        ),
        EventRaisedEvent(name="other", input="1", timestamp=NOW),
    ]
    whole = to_sdk(events)
    assert whole[2].HasField("entityOperationCompleted") and whole[4].HasField("entityLockGranted")
    for k in range(len(events) + 1):
        assert to_sdk(events[:k]) == whole[:k], f"the first {k} events look different once more follow"
