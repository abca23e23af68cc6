"""Orchestration versioning, purely: comparing versions, which worker runs what, the settings, ctx.version
through sub-orchestrations and continue-as-new, and the episode that fails an instance for its version."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from taskhub.config.settings import Settings
from taskhub.errors import ConfigurationError
from taskhub.format.history import (
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    ParentInstance,
    SubOrchestrationInstanceCreatedEvent,
    SubOrchestrationInstanceFailedEvent,
)
from taskhub.model.app import App
from taskhub.model.versioning import (
    VersionFailureStrategy,
    Versioning,
    VersionMatchStrategy,
    admit,
    compare_versions,
)
from tests.builders import T0, Driver, started, task_completed, task_scheduled
from worker.versions import failed_episode

ENV = "AzureFunctionsJobHost__extensions__durableTask__"


# --- comparing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0", "2.0", -1),
        ("2.0", "1.0", 1),
        ("1.10", "1.9", 1),  # numbers, not text
        ("1.0", "1.0.0", -1),  # a missing part is lower (System.Version)
        ("1.2.3.4", "1.2.3.4", 0),
        ("", "1.0", -1),  # an empty version is older than any other
        (None, "0.0", -1),
        ("1.0", None, 1),
        (None, "  ", 0),
        ("10", "9", -1),  # not dotted numbers: compared as text
        ("v2", "V2", 0),  # text ignores case
        ("2.0-beta", "2.0", 1),  # one of them is not dotted numbers: text
        ("abc", "abd", -1),
    ],
)
def test_versions_compare_as_durable_functions_compares_them(a: str | None, b: str | None, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected


# --- which worker runs what ----------------------------------------------------------------------------


def _worker(version: str | None, match: str = "CurrentOrOlder", failure: str = "Reject") -> Versioning:
    return Versioning(version, VersionMatchStrategy(match), VersionFailureStrategy(failure))


@pytest.mark.parametrize(
    ("instance", "worker", "verdict"),
    [
        ("2.0", _worker("1.0"), "reject"),
        ("1.0", _worker("2.0"), "run"),
        ("2.0", _worker("2.0"), "run"),
        ("", _worker("2.0"), "run"),
        ("1.0", _worker(None), "reject"),  # CurrentOrOlder without a defaultVersion runs unversioned only
        ("", _worker(None), "run"),
        ("1.0", _worker("2.0", "Strict"), "reject"),
        ("2.0", _worker("2.0", "Strict"), "run"),
        ("", _worker(None, "Strict"), "run"),
        ("2.0", _worker("1.0", "None"), "run"),
        ("2.0", _worker("1.0", failure="Fail"), "fail"),
        ("1.0", _worker("2.0", "Strict", "Fail"), "fail"),
    ],
)
def test_a_worker_runs_what_its_strategy_allows(instance: str, worker: Versioning, verdict: str) -> None:
    assert admit(instance, worker).verdict == verdict


def test_a_refusal_names_both_versions_and_the_rule() -> None:
    reason = admit("2.0", _worker("1.0", failure="Fail")).reason
    assert "'2.0'" in reason and "'1.0'" in reason and "CurrentOrOlder" in reason
    assert "(none)" in admit("1.0", _worker(None, "Strict")).reason


# --- settings ------------------------------------------------------------------------------------------


def test_versioning_settings_default_as_durable_functions_does() -> None:
    v = Settings.load(None, env={}).versioning
    assert v == Versioning(None, VersionMatchStrategy.CURRENT_OR_OLDER, VersionFailureStrategy.REJECT)


def test_versioning_settings_come_from_host_json_and_the_environment(tmp_path: Any) -> None:
    host = tmp_path / "host.json"
    host.write_text(
        '{"version":"2.0","extensions":{"durableTask":{"defaultVersion":"1.0",'
        '"versionMatchStrategy":"strict","versionFailureStrategy":"FAIL"}}}'
    )
    s = Settings.load(host, env={ENV + "defaultVersion": "2.0"})
    assert s.versioning == Versioning("2.0", VersionMatchStrategy.STRICT, VersionFailureStrategy.FAIL)
    assert not s.notes  # the keys are known, not reported as misspelled


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("versionMatchStrategy", "Newest", "must be one of None, Strict, CurrentOrOlder"),
        ("versionFailureStrategy", "Retry", "must be one of Reject, Fail"),
    ],
)
def test_a_bad_strategy_is_a_one_line_error_naming_what_is_allowed(key: str, value: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        Settings.load(None, env={ENV + key: value})
    message = str(err.value)
    assert "\n" not in message and key in message and repr(value) in message and words in message


def test_default_version_must_be_a_string(tmp_path: Any) -> None:
    host = tmp_path / "host.json"
    host.write_text('{"version":"2.0","extensions":{"durableTask":{"defaultVersion":2.0}}}')
    with pytest.raises(ConfigurationError, match=r'defaultVersion.*must be a string, for example "2.0"'):
        Settings.load(host, env={})


def test_overrides_accept_strategy_names() -> None:
    s = Settings.load(None, env={}).with_overrides(version_match_strategy="strict", default_version="3.1")
    assert s.versioning == Versioning("3.1", VersionMatchStrategy.STRICT, VersionFailureStrategy.REJECT)


# --- ctx.version through sub-orchestrations and continue-as-new --------------------------------------

app = App()


@app.orchestrator
def parent(ctx: Any, _: Any) -> Any:
    a = yield ctx.call_sub_orchestrator("child")
    b = yield ctx.call_sub_orchestrator("child", version="3.0")
    return [ctx.version, a, b]


@app.orchestrator
def child(ctx: Any, _: Any) -> str:
    return str(ctx.version)


@app.orchestrator
def looper(ctx: Any, n: int) -> Any:
    if n < 2:
        ctx.continue_as_new(n + 1)
        return None
    return ctx.version


def _at(event: ExecutionStartedEvent, version: str) -> ExecutionStartedEvent:
    return dataclasses.replace(event, version=version)


def test_sub_orchestrations_inherit_the_version_unless_the_call_names_one() -> None:
    episode = Driver(app).run(_at(started("parent"), "2.0"))
    creates = [e for e in episode.history if isinstance(e, SubOrchestrationInstanceCreatedEvent)]
    starts = [o.event for o in episode.outbound if isinstance(o.event, ExecutionStartedEvent)]
    assert [c.version for c in creates] == ["2.0"]  # the second call waits for the first
    assert [(s.name, s.version) for s in starts] == [("child", "2.0")]
    assert starts[0].parent_instance is not None and starts[0].parent_instance.version == "2.0"


def test_a_sub_orchestration_call_can_name_another_version() -> None:
    @app.orchestrator
    def fan(ctx: Any, _: Any) -> Any:
        return (yield ctx.call_sub_orchestrator("child", version="3.0"))

    episode = Driver(app).run(_at(started("fan"), "2.0"))
    start = next(o.event for o in episode.outbound if isinstance(o.event, ExecutionStartedEvent))
    assert start.version == "3.0"


def test_the_child_sees_its_version_in_ctx_version() -> None:
    episode = Driver(app).run(_at(started("child"), "2.0"))
    assert episode.output == '"2.0"'


def test_continue_as_new_keeps_the_version() -> None:
    episode = Driver(app).run(_at(started("looper", 0), "2.0"))
    assert episode.continued_as_new and episode.runtime_status is OrchestrationStatus.COMPLETED
    assert episode.started.version == "2.0"
    assert episode.output == '"2.0"'


# --- failing an instance for its version -------------------------------------------------------------


def test_the_failed_episode_runs_no_code_and_says_why() -> None:
    past = [_at(started("parent"), "2.0"), task_scheduled(0, "x")]
    episode = failed_episode("inst1", past, [task_completed(0, 1)], "orchestration version '2.0' ...", T0)
    done = next(e for e in episode.history if isinstance(e, ExecutionCompletedEvent))
    assert episode.runtime_status is OrchestrationStatus.FAILED
    assert done.event_id == 2 and done.failure_details is not None
    assert str(done.failure_details) == "VersionMismatch: orchestration version '2.0' ..."
    assert done.failure_details.is_non_retriable
    assert episode.outbound == []


def test_a_failed_sub_orchestration_tells_its_parent() -> None:
    link = ParentInstance(name="p", orchestration_instance=OrchestrationInstance("p", "pe"), task_schedule_id=4)
    start = _at(started("child", parent=link), "9.0")
    episode = failed_episode("inst1", [], [start], "why", T0)
    (notice,) = episode.outbound
    assert notice.target.instance_id == "p"
    assert isinstance(notice.event, SubOrchestrationInstanceFailedEvent) and notice.event.task_scheduled_id == 4
