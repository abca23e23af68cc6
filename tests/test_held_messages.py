"""Pure rules of issue 9: the held visibility, and when a repeated table write counts as landed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ResourceModifiedError, ServiceResponseError

from taskhub.hub.queues import held_visibility
from taskhub.storage.retry import holds, repeat_write


def test_held_visibility_is_lease_interval_minus_renew_interval_within_bounds() -> None:
    s = timedelta(seconds=1)
    assert held_visibility(300 * s, 30 * s, 10 * s) == 20 * s  # the defaults
    assert held_visibility(15 * s, 30 * s, 10 * s) == 15 * s  # never above the configured timeout
    assert held_visibility(300 * s, 15 * s, 10 * s) == 10 * s  # never below 10 s


def test_a_row_holds_a_write_when_every_sent_column_matches() -> None:
    t = datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=UTC)
    stored = {"PartitionKey": "p", "RowKey": "", "ExecutionId": "e1", "Count": 3, "At": t.replace(microsecond=123000)}
    assert holds(stored, {"PartitionKey": "p", "RowKey": "", "ExecutionId": "e1", "At": t})
    assert not holds(stored, {"ExecutionId": "e2"})
    assert not holds(stored, {"Missing": "x"})
    assert not holds(None, {"ExecutionId": "e1"})


@pytest.mark.timeout(10)
def test_a_refusal_after_a_timeout_is_checked_against_the_row() -> None:
    attempts: list[str] = []

    async def call() -> str:
        attempts.append("call")
        if len(attempts) == 1:
            raise ServiceResponseError("read timeout")  # the first attempt landed, its answer was lost
        raise ResourceModifiedError("412")

    async def landed() -> str | None:
        return "etag-2"

    async def not_landed() -> str | None:
        return None

    assert asyncio.run(repeat_write("t", call, confirm=landed)) == "etag-2"
    attempts.clear()
    with pytest.raises(ResourceModifiedError):
        asyncio.run(repeat_write("t", call, confirm=not_landed))


@pytest.mark.timeout(10)
def test_a_refusal_on_the_first_attempt_stands_without_a_read_back() -> None:
    async def call() -> str:
        raise ResourceModifiedError("412")

    async def confirm() -> str | None:
        raise AssertionError("no read-back after a plain refusal")

    with pytest.raises(ResourceModifiedError):
        asyncio.run(repeat_write("t", call, confirm=confirm))
