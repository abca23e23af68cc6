"""Tasks, when_all / when_any, RetryPolicy, and the JSON value helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskhub.model.tasks import CompletableTask, RetryPolicy, TimerTask, when_all, when_any
from taskhub.model.values import from_json, to_json


def test_task_result_and_failure() -> None:
    ok: CompletableTask[int] = CompletableTask()
    bad: CompletableTask[int] = CompletableTask()
    with pytest.raises(RuntimeError, match="not complete"):
        ok.get_result()

    ok.complete(3)
    bad.fail(ValueError("nope"))

    assert ok.is_complete and not ok.is_failed and ok.get_result() == 3 and ok.get_exception() is None
    assert bad.is_complete and bad.is_failed
    assert isinstance(bad.get_exception(), ValueError)
    with pytest.raises(ValueError, match="nope"):
        bad.get_result()


def test_a_task_completes_only_once() -> None:
    task: CompletableTask[int] = CompletableTask()
    task.complete(1)
    task.complete(2)
    task.fail(ValueError())

    assert task.get_result() == 1


def test_when_all_results_in_input_order() -> None:
    a, b, c = CompletableTask[str](), CompletableTask[str](), CompletableTask[str]()
    all_done = when_all([a, b, c])
    c.complete("c")
    a.complete("a")
    assert not all_done.is_complete
    b.complete("b")

    assert all_done.get_result() == ["a", "b", "c"]


def test_when_all_fails_with_the_first_failure_in_input_order_after_all_finish() -> None:
    a, b, c = CompletableTask[str](), CompletableTask[str](), CompletableTask[str]()
    all_done = when_all([a, b, c])
    c.fail(KeyError("c failed first in time"))
    a.fail(KeyError("a is first in input order"))
    assert not all_done.is_complete
    b.complete("b")

    assert all_done.is_failed
    assert all_done.get_exception() is a.get_exception()  # the .NET Task.WhenAll rule


def test_when_all_of_nothing_and_of_completed_tasks() -> None:
    done: CompletableTask[int] = CompletableTask()
    done.complete(1)

    assert when_all([]).get_result() == []
    assert when_all([done]).get_result() == [1]


def test_when_any_returns_the_first_task_to_finish() -> None:
    a, b = CompletableTask[str](), CompletableTask[str]()
    first = when_any([a, b])
    b.fail(ValueError("b"))
    a.complete("a")

    assert first.get_result() is b


def test_when_any_needs_tasks() -> None:
    with pytest.raises(ValueError, match="at least one"):
        when_any([])
    with pytest.raises(TypeError, match="expected tasks"):
        when_all([1])  # type: ignore[list-item]


def test_cancelled_timer_never_completes() -> None:
    timer = TimerTask(datetime(2024, 1, 1, tzinfo=UTC))
    race = when_any([timer])
    timer.cancel()
    timer.complete(None)

    assert timer.is_cancelled and not timer.is_complete and not race.is_complete


def test_retry_delays_back_off_and_are_capped() -> None:
    policy = RetryPolicy(
        first_retry_interval=timedelta(seconds=1),
        max_number_of_attempts=6,
        backoff_coefficient=3,
        max_retry_interval=timedelta(seconds=20),
    )
    delays = [policy.next_delay(n, timedelta(0)) for n in range(1, 7)]

    assert delays == [timedelta(seconds=s) for s in (1, 3, 9, 20, 20)] + [None]


def test_retry_stops_at_the_timeout() -> None:
    policy = RetryPolicy(
        first_retry_interval=timedelta(seconds=1),
        max_number_of_attempts=10,
        retry_timeout=timedelta(minutes=1),
    )

    assert policy.next_delay(1, timedelta(seconds=59)) == timedelta(seconds=1)
    assert policy.next_delay(1, timedelta(minutes=1)) is None


def test_huge_backoff_does_not_overflow() -> None:
    policy = RetryPolicy(
        first_retry_interval=timedelta(days=1), max_number_of_attempts=100, backoff_coefficient=1000
    )

    assert policy.next_delay(50, timedelta(0)) is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"first_retry_interval": timedelta(0), "max_number_of_attempts": 3}, "first_retry_interval"),
        ({"first_retry_interval": 5, "max_number_of_attempts": 3}, "first_retry_interval"),
        (
            {"first_retry_interval": timedelta(seconds=1), "max_number_of_attempts": 0},
            "max_number_of_attempts",
        ),
        (
            {"first_retry_interval": timedelta(seconds=1), "max_number_of_attempts": 2.5},
            "max_number_of_attempts",
        ),
        (
            {
                "first_retry_interval": timedelta(seconds=1),
                "max_number_of_attempts": 2,
                "backoff_coefficient": 0.5,
            },
            "backoff_coefficient",
        ),
        (
            {
                "first_retry_interval": timedelta(seconds=10),
                "max_number_of_attempts": 2,
                "max_retry_interval": timedelta(seconds=1),
            },
            "max_retry_interval",
        ),
        (
            {
                "first_retry_interval": timedelta(seconds=1),
                "max_number_of_attempts": 2,
                "retry_timeout": timedelta(-1),
            },
            "retry_timeout",
        ),
    ],
)
def test_retry_policy_validates_its_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)


def test_to_json_is_compact_and_names_what_failed() -> None:
    assert to_json({"a": [1, "é"]}, what="x") == '{"a":[1,"é"]}'
    with pytest.raises(
        TypeError, match=r"input of activity 'ship' is not JSON-serializable: datetime\.datetime"
    ):
        to_json({"at": datetime(2024, 1, 1)}, what="input of activity 'ship'")
    with pytest.raises(TypeError, match=r"data of event 'e'.*tuple"):
        to_json({(1, 2): 3}, what="data of event 'e'")
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(TypeError, match="custom status"):
        to_json(loop, what="custom status")


def test_from_json() -> None:
    assert from_json(None) is None
    assert from_json("") is None
    assert from_json('{"a":1}') == {"a": 1}
    with pytest.raises(ValueError):
        from_json("{nope")
