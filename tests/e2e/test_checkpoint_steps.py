"""The checkpoint's step hook (``worker.backends.azure_storage.checkpoint.step_observer``): None unless a
test installs one; an
installed observer sees the four steps of every checkpoint, in the documented order."""

from __future__ import annotations

from typing import Any

import pytest

from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from tests.e2e.conftest import E2E
from worker.backends.azure_storage import checkpoint

app = App()
STEPS = ["after_outbound", "after_history", "after_instance", "before_delete"]


@app.activity
def double(ctx: ActivityContext, value: int) -> int:
    return 2 * value


@app.orchestrator
def twice(ctx: OrchestrationContext, value: int):  # type: ignore[no-untyped-def]
    return (yield ctx.call_activity(double, input=(yield ctx.call_activity(double, input=value))))


def test_nothing_is_installed_in_production() -> None:
    assert checkpoint.step_observer is None


@pytest.mark.app(None)
@pytest.mark.parametrize("group_commit", ["0", "1"])
async def test_an_observer_sees_each_checkpoint_step_in_order(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch, group_commit: str
) -> None:
    """Three episodes. Step by step, three checkpoints. With group commit the first call of ``double``
    goes through the queue (it has never run in this process), the second runs in memory: the last two
    episodes are one checkpoint."""
    monkeypatch.setenv("TASKHUB_GROUP_COMMIT", group_commit)
    worker = await e2e.start_worker(app)
    seen: list[Any] = []
    monkeypatch.setattr(checkpoint, "step_observer", seen.append)
    iid = await e2e.client.schedule_new_orchestration("twice", input=3)
    done = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)
    assert done.runtime_status is OrchestrationStatus.COMPLETED and done.output == 12
    episodes = [e for e in await e2e.client.get_orchestration_history(iid) if e.event_type is EventType.OrchestratorStarted]
    assert len(episodes) == 3
    assert seen == STEPS * (3 if group_commit == "0" else 2)
    assert worker.orchestrations.groups == (0 if group_commit == "0" else 1)
