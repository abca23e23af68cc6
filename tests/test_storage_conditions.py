"""StorageConditions: one line per known storage condition, rate-limited, and one when it ends (pure)."""

from __future__ import annotations

import logging

import pytest

from taskhub.errors import StorageError, StorageErrorKind
from taskhub.storage.conditions import StorageConditions, condition_of


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def unreachable(op: str = "receive_messages") -> StorageError:
    return StorageError(StorageErrorKind.UNREACHABLE, "cannot reach the storage service; is Azurite running?", operation=op)


@pytest.fixture
def setup(caplog: pytest.LogCaptureFixture) -> tuple[StorageConditions, Clock, pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="test.conditions")
    clock = Clock()
    return StorageConditions(logging.getLogger("test.conditions"), clock=clock), clock, caplog


def test_an_outage_is_one_line_a_minute_with_the_count_and_one_when_it_ends(setup) -> None:  # type: ignore[no-untyped-def]
    conditions, clock, caplog = setup
    conditions.failing(unreachable())
    for _ in range(100):  # every loop of the worker meets it, for 59 s
        assert conditions.report(unreachable(), "polls again in up to 30 s")
        clock.t += 0.59
    clock.t = 1060.4
    conditions.report(unreachable("renew_lease"), "renewed again in 10 s")
    conditions.succeeded()
    conditions.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert lines[0].startswith("storage.unreachable op=receive_messages failures=1 for_s=0: ")
    assert "is Azurite running? -- polls again in up to 30 s" in lines[0]
    assert lines[1].startswith("storage.unreachable op=renew_lease failures=100 for_s=60: ")
    assert lines[1].endswith("(still)")
    assert lines[2] == "storage.reachable_again after_s=60 failures=101: the storage answers again; the worker goes on"
    assert conditions.active == []


def test_other_errors_are_not_known_and_known_ones_are_classified(setup) -> None:  # type: ignore[no-untyped-def]
    conditions, _clock, caplog = setup
    assert not conditions.report(RuntimeError("a bug"), "whatever")
    assert caplog.records == []
    gone = StorageError(StorageErrorKind.NOT_FOUND, "The specified queue does not exist.", status=404, code="QueueNotFound")
    assert condition_of(gone) == "hub_missing"
    assert condition_of(StorageError(StorageErrorKind.THROTTLED, "busy", status=503)) == "throttled"
    assert condition_of(StorageError(StorageErrorKind.LEASE_LOST, "x", status=409)) == "lease_lost"
    assert condition_of(StorageError(StorageErrorKind.OTHER, "x", status=500)) == "error"


def test_a_vanished_hub_calls_the_hook_at_each_report_and_logs_once_a_minute(setup) -> None:  # type: ignore[no-untyped-def]
    conditions, clock, caplog = setup
    calls = []
    conditions.on_hub_missing = lambda: calls.append(clock.t)
    gone = StorageError(StorageErrorKind.NOT_FOUND, "The specified queue does not exist.", status=404, code="QueueNotFound")
    for _ in range(5):
        conditions.report(gone, "the hub is recreated")
    assert len(calls) == 5
    assert len(caplog.records) == 1 and caplog.records[0].levelno == logging.WARNING
    conditions.succeeded()  # not a lasting condition: no end line
    assert len(caplog.records) == 1


def test_a_short_error_without_a_line_ends_without_one(setup) -> None:  # type: ignore[no-untyped-def]
    conditions, _clock, caplog = setup
    conditions.failing(unreachable())  # retried by the caller before anyone reported it
    conditions.succeeded()
    assert caplog.records == []


def test_other_errors_are_one_line_a_minute_per_operation_and_status_with_no_end_line(setup) -> None:  # type: ignore[no-untyped-def]
    conditions, clock, caplog = setup
    for op in ("send_message", "send_message", "update_message"):
        conditions.report(StorageError(StorageErrorKind.OTHER, "500", status=500, operation=op), "given back")
        clock.t += 1
    conditions.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" ")[:2] for line in lines] == [["storage.error", "op=send_message"], ["storage.error", "op=update_message"]]
    clock.t += 61
    conditions.report(StorageError(StorageErrorKind.OTHER, "500", status=500, operation="send_message"), "given back")
    last = caplog.records[-1].getMessage()  # the one not logged within the minute counts too
    assert last.startswith("storage.error op=send_message failures=2 for_s=64: ") and not last.endswith("(still)")
