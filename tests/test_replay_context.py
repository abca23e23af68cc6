"""Context helpers: deterministic new_uuid, replay-safe logger, identity members."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from taskhub.format.history import OrchestrationInstance, ParentInstance
from taskhub.model.app import App
from tests.builders import at, orchestrator_started, replay, started, task_completed, task_scheduled

app = App()
uuids: list[str] = []
user_log = logging.getLogger("tests.user_orchestrator")


@app.orchestrator
def make_ids(ctx: Any, _: Any) -> Any:
    uuids.extend([ctx.new_uuid(), ctx.new_uuid()])
    yield ctx.call_activity("a")
    uuids.append(ctx.new_uuid())
    return "ok"


@app.orchestrator
def chatty(ctx: Any, _: Any) -> Any:
    log = ctx.create_replay_safe_logger(user_log)
    log.info("starting %s", ctx.instance_id)
    yield ctx.call_activity("a")
    log.info("resumed after %s", "a")
    return None


PAST = [orchestrator_started(), started("make_ids"), task_scheduled(0, "a")]


def test_new_uuid_is_the_same_on_every_replay_and_differs_per_call() -> None:
    uuids.clear()
    replay(app, [], PAST[:2])
    first_run = list(uuids)
    uuids.clear()
    replay(app, PAST, [orchestrator_started(at(1)), task_completed(0)])

    assert uuids[:2] == first_run
    assert len(set(uuids)) == 3
    assert all(uuid.UUID(u).version == 5 for u in uuids)


def test_new_uuid_follows_durabletask_python() -> None:
    # uuid5 in a namespace derived from a fixed GUID, over "{instance}_{time}_{counter}".
    uuids.clear()
    replay(app, [], PAST[:2])
    namespace = uuid.uuid5(uuid.NAMESPACE_OID, "9e952958-5e33-4daf-827f-2fa12937b875")

    assert uuids[0] == str(uuid.uuid5(namespace, "inst1_2024-05-01T12:00:00.000000Z_0"))
    assert uuids[1] == str(uuid.uuid5(namespace, "inst1_2024-05-01T12:00:00.000000Z_1"))


def test_replay_safe_logger_is_silent_while_replaying(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=user_log.name)
    replay(
        app,
        [orchestrator_started(), started("chatty"), task_scheduled(0, "a")],
        [orchestrator_started(at(1)), task_completed(0)],
    )

    messages = [r.getMessage() for r in caplog.records if r.name == user_log.name]
    assert messages == ["resumed after a"]


def test_replay_safe_logger_writes_when_not_replaying(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=user_log.name)
    replay(app, [], [orchestrator_started(), started("chatty")])

    assert [r.getMessage() for r in caplog.records if r.name == user_log.name] == ["starting inst1"]


def test_identity_members() -> None:
    local = App()
    seen: dict[str, Any] = {}

    @local.orchestrator
    def who(ctx: Any, _: Any) -> None:
        seen.update(
            instance_id=ctx.instance_id,
            execution_id=ctx.execution_id,
            parent_instance_id=ctx.parent_instance_id,
            name=ctx.name,
        )

    parent = ParentInstance(
        name="p", orchestration_instance=OrchestrationInstance("boss", "x"), task_schedule_id=3
    )
    replay(local, [], [orchestrator_started(), started("who", parent=parent, execution_id="exec9")])

    assert seen == {
        "instance_id": "inst1",
        "execution_id": "exec9",
        "parent_instance_id": "boss",
        "name": "who",
    }
