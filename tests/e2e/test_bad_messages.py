"""A message that is not JSON on a control queue is reported and set aside; other instances run on."""

from __future__ import annotations

import logging

import pytest

from taskhub.format.history import OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from tests.e2e.conftest import E2E
from tests.helpers import wait_for

app = App()
GARBAGE = "this is not JSON {"


@app.activity
def hello(ctx: ActivityContext, name: str) -> str:
    return f"Hello {name}!"


@app.orchestrator
def greet(ctx: OrchestrationContext, names: list[str]):  # type: ignore[no-untyped-def]
    greetings = []
    for name in names:
        greetings.append((yield ctx.call_activity(hello, input=name)))
    return greetings


async def test_a_non_json_control_message_is_reported_and_does_not_stop_the_worker(
    e2e: E2E, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    hub = e2e.client.service.hub
    for queue in hub.names.control_queues:  # whichever queue the instance below lands on has one
        await hub.storage.send_message(queue, f"{GARBAGE} ({queue})")

    iid = await e2e.client.schedule_new_orchestration(greet, input=["Tokyo", "Lima"])
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output == ["Hello Tokyo!", "Hello Lima!"]

    async def all_set_aside() -> list[object]:
        records = await hub.poison.list()
        return records if len(records) == len(hub.names.control_queues) else []

    records = await wait_for(all_set_aside, 20, 0.1)
    assert sorted(r.origin_queue for r in records) == sorted(hub.names.control_queues)  # type: ignore[attr-defined]
    for r in records:
        assert r.body.startswith(GARBAGE)  # type: ignore[attr-defined]
        assert "not JSON" in r.reason  # type: ignore[attr-defined]
    for queue in hub.names.control_queues:
        assert await hub.storage.peek_messages(queue) == []
    reported = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR]
    for queue in hub.names.control_queues:
        assert any(queue in line and "not JSON" in line for line in reported), reported
