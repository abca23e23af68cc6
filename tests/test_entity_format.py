"""Entity ids, tick stamps and the Request/Response/SchedulerState/EntityStatus JSON against entities.md."""

from __future__ import annotations

import pytest

from taskhub.errors import FormatError
from taskhub.format.entities import (
    MIN_STAMP,
    ReleaseMessage,
    RequestMessage,
    ResponseMessage,
    Stamp,
    delayed_event_time,
    entity_instance_id,
    parse_entity_instance_id,
    stamp_from_text,
    stamp_text,
)
from taskhub.format.entity_state import RecentGroup, SchedulerState, entity_status_json
from taskhub.model.entities import EntityId

T1 = "2024-05-01T10:00:00.1234567Z"
T2 = "2024-05-01T10:00:01.5Z"
G1 = "2f0b4a8e-43c3-4f37-9a52-7d3c8f5f2a11"
E1 = "6f0c5e2b9a1d4c3e8f7a6b5c4d3e2f7f"

# entities.md 1.5, byte for byte
S_DOC = (
    '{"exists":true,"state":"5","sorter":{"ReceivedFromInstance":{"orch1":{"Last":"2024-05-01T10:00:01.5Z",'
    f'"ExecutionId":"{E1}"}}}},"ReceiveHorizon":"2024-05-01T09:30:00.1234567Z"}}}}'
)
R2_DOC = (
    f'{{"op":"get","id":"{G1}","parent":"orch1","parentExecution":"{E1}",'
    '"Timestamp":"2024-05-01T10:00:01.5Z","Predecessor":"2024-05-01T10:00:00.1234567Z"}'
)


def test_ids_lower_case_the_name_and_keep_the_key() -> None:
    assert entity_instance_id("Counter", "K@1") == "@counter@K@1"
    assert parse_entity_instance_id("@counter@K@1") == ("counter", "K@1")
    assert str(EntityId("Account", "")) == "@account@"
    assert EntityId.parse("@a@b@c") == EntityId("a", "b@c")


@pytest.mark.parametrize("name", ["", "a@b", 5])
def test_bad_names_are_refused(name: object) -> None:
    with pytest.raises(ValueError, match="entity name"):
        EntityId(name, "k")  # type: ignore[arg-type]


def test_control_characters_in_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="control character"):
        EntityId("a", "x\ny")


def test_stamps_keep_ticks_and_kind() -> None:
    t = stamp_from_text(T1)
    assert stamp_text(t) == T1
    assert stamp_text(Stamp(t + 1, utc=False)) == "2024-05-01T10:00:00.1234568"
    assert stamp_text(MIN_STAMP) == "0001-01-01T00:00:00"
    assert stamp_from_text("0001-01-01T00:00:00") == 0
    assert stamp_from_text("2024-05-01T12:00:00+02:00") == stamp_from_text("2024-05-01T10:00:00Z")
    with pytest.raises(FormatError):
        stamp_from_text("yesterday")


def test_request_message_key_order_and_round_trip() -> None:
    m = RequestMessage.from_json(R2_DOC)
    assert (m.op, m.input, m.parent, m.timestamp, m.predecessor) == (
        "get",
        None,
        "orch1",
        stamp_from_text(T2),
        stamp_from_text(T1),
    )
    assert m.to_json() == R2_DOC
    lock = RequestMessage(
        id=G1,
        parent="o",
        parent_execution="e",
        lockset=[("a", "1"), ("b", "1")],
        pos=1,
        signal=True,
        input='"5"',
        due=stamp_from_text(T1),
    )
    assert list(lock.to_obj()) == [
        "op",
        "signal",
        "input",
        "id",
        "parent",
        "parentExecution",
        "due",
        "Timestamp",
        "Predecessor",
        "lockset",
        "pos",
    ]


def test_client_signal_has_no_parent_and_classic_type_keys_are_ignored() -> None:
    client = RequestMessage(id=G1, op="add", signal=True, input="5")
    assert client.to_json() == (
        f'{{"op":"add","signal":true,"input":"5","id":"{G1}",'
        '"Timestamp":"0001-01-01T00:00:00","Predecessor":"0001-01-01T00:00:00"}'
    )
    typed = (
        '{"$type":"Microsoft.Azure.WebJobs.Extensions.DurableTask.RequestMessage, x","op":"add","input":"5",'
        f'"id":"{G1}","IsLockRequest":false,"createTrace":false,"Timestamp":"{T1}","Predecessor":"{T1}"}}'
    )
    assert RequestMessage.from_json(typed).op == "add"


def test_scheduler_state_matches_the_worked_example() -> None:
    s = SchedulerState.from_json(S_DOC)
    assert (
        s.exists
        and s.state == "5"
        and s.sorter.receive_horizon == stamp_from_text("2024-05-01T09:30:00.1234567Z")
    )
    assert s.to_json() == S_DOC
    assert entity_status_json(s) == '{"entityExists":true}'


def test_scheduler_state_full_shape() -> None:
    msg = RequestMessage.from_json(R2_DOC)
    s = SchedulerState(exists=True, state='{"v":1}', queue=[msg], locked_by="orch1", suspended=True)
    s.sorter.last_sent = {"@b@1": stamp_from_text(T1)}
    text = s.to_json()
    assert text == (
        '{"exists":true,"state":"{\\"v\\":1}","queue":[' + R2_DOC + '],"lockedBy":"orch1","suspended":true,'
        '"sorter":{"LastSentToInstance":{"@b@1":"' + T1 + '"}}}'
    )
    assert SchedulerState.from_json(text).to_json() == text
    assert entity_status_json(s) == '{"entityExists":true,"queueSize":1,"lockedBy":"orch1"}'


def test_deleted_and_native_states() -> None:
    assert SchedulerState().to_json() == '{"sorter":{}}'
    assert entity_status_json(SchedulerState()) == "{}"
    native = SchedulerState.from_json('{"state":"3","sorter":{}}')
    assert native.exists and native.state == "3"
    assert SchedulerState.from_json(None).exists is False


def test_recent_ids_extension_round_trips_and_is_omitted_when_empty() -> None:
    s = SchedulerState(recent=[RecentGroup(stamp_from_text(T1), [G1])])
    assert s.to_json() == '{"sorter":{},"taskhubRecent":[{"at":"' + T1 + '","ids":["' + G1 + '"]}]}'
    assert SchedulerState.from_json(s.to_json()).recent[0].ids == [G1]


def test_response_and_release_messages() -> None:
    assert ResponseMessage(result=None).to_json() == '{"result":null}'
    assert ResponseMessage(result='"5"').to_json() == '{"result":"\\"5\\""}'
    err = ResponseMessage.from_json('{"result":"\\"boom\\"","exceptionType":"ValueError"}')
    assert err.is_error and err.result == '"boom"'
    assert ReleaseMessage("orch1", G1).to_json() == f'{{"parent":"orch1","id":"{G1}"}}'


def test_delayed_event_names() -> None:
    assert delayed_event_time("op@2024-05-01T12:00:00.0000000Z") is not None
    assert delayed_event_time("op") is None and delayed_event_time("release") is None
