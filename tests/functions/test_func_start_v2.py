"""``taskhub func start`` running a v2 (decorator) app written the way the SDK's samples are, on Azurite:
started over the app's own HTTP starter and polled through statusQueryGetUri, as a user does."""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functions.host import FuncHost, request, start_func

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def func(azurite_connection_string: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuncHost]:
    hub = "fv2" + uuid.uuid4().hex[:10]
    host = start_func("v2", tmp_path_factory.mktemp("func-v2"), azurite_connection_string, hub)
    yield host
    host.stop()


def test_chaining_with_a_blueprint_activity_and_app_settings(func: FuncHost) -> None:
    check = func.start("hello_sequence")
    assert set(check) >= {
        "id",
        "statusQueryGetUri",
        "sendEventPostUri",
        "terminatePostUri",
        "purgeHistoryDeleteUri",
    }
    assert check["statusQueryGetUri"].startswith(func.origin + "/runtime/webhooks/durabletask/instances/")
    status = func.wait(check["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed"
    # GREETING comes from local.settings.json; shout() is registered through a blueprint
    assert status["output"] == ["Hello Tokyo", "Hello Seattle", "LONDON!"]


def test_fan_out_fan_in(func: FuncHost) -> None:
    status = func.run("fan_out_fan_in", {"count": 6})
    assert (status["runtimeStatus"], status["output"]) == ("Completed", 55)


def test_human_interaction_approved_by_an_event(func: FuncHost) -> None:
    check = func.start("approval_workflow", {"timeout_seconds": 3600})
    func.wait(check["statusQueryGetUri"], until=("Running",))
    url = check["sendEventPostUri"].replace("{eventName}", "Approval")
    assert request("POST", url, "manager").status == 202
    status = func.wait(check["statusQueryGetUri"])
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "approved: manager")


def test_human_interaction_escalated_by_the_timer(func: FuncHost) -> None:
    status = func.run("approval_workflow", {"timeout_seconds": 1})
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "escalated")


def test_monitor_with_custom_status(func: FuncHost) -> None:
    status = func.run("monitor", "job-7")
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "job-7 finished after 3 polls")
    assert status["customStatus"] == {"polls": 3, "done": True}


def test_retries_until_success_leave_the_dtfx_pattern_in_history(func: FuncHost) -> None:
    check = func.start("flaky_workflow", "key-" + uuid.uuid4().hex[:6])
    status = func.wait(check["statusQueryGetUri"])
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "succeeded on attempt 3")
    history = request("GET", check["statusQueryGetUri"] + "&showHistory=true").json()["historyEvents"]
    kinds = [
        e["EventType"] for e in history if e["EventType"] in ("TaskCompleted", "TaskFailed", "TimerFired")
    ]
    assert kinds == ["TaskFailed", "TimerFired", "TaskFailed", "TimerFired", "TaskCompleted"]


def test_retries_exhausted_reach_the_orchestrator(func: FuncHost) -> None:
    status = func.run("doomed_workflow")
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "gave up: True")


def test_sub_orchestrations(func: FuncHost) -> None:
    check = func.start("parent_workflow", ["Oslo", "Lima"])
    status = func.wait(check["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == [
        {"city": "Oslo", "greeting": "Hello Oslo", "parent": check["id"]},
        {"city": "Lima", "greeting": "Hello Lima", "parent": check["id"]},
    ]


def test_continue_as_new_and_custom_status(func: FuncHost) -> None:
    check = func.start("eternal_counter", 0)
    status = func.wait(check["statusQueryGetUri"])
    assert (status["runtimeStatus"], status["output"], status["customStatus"]) == ("Completed", 3, "round 3")


def test_instance_id_from_the_route_and_status_through_the_client(func: FuncHost) -> None:
    instance_id = "order-" + uuid.uuid4().hex[:8]
    check = func.start("hello_sequence", instance_id=instance_id)
    assert check["id"] == instance_id
    func.wait(check["statusQueryGetUri"])
    r = request("GET", f"{func.origin}/api/status/{instance_id}")
    assert (r.status, r.body.decode()) == (200, "Completed|None")


def test_counter_entity_signalled_called_and_read_through_the_client(func: FuncHost) -> None:
    key = "k" + uuid.uuid4().hex[:6]
    assert request("GET", f"{func.origin}/api/counter/{key}").status == 404
    assert request("POST", f"{func.origin}/api/counter/{key}?op=add&value=5").status == 202
    deadline = time.monotonic() + 60
    while (r := request("GET", f"{func.origin}/api/counter/{key}")).body != b"5":
        assert time.monotonic() < deadline, (r.status, r.body)
        time.sleep(0.3)
    status = func.run("counter_workflow", key)
    assert (status["runtimeStatus"], status["output"]) == ("Completed", 15)
    assert request("GET", f"{func.origin}/api/counter/{key}").body == b"15"


def test_unknown_orchestrator_is_refused_by_the_starter(func: FuncHost) -> None:
    r = request("POST", f"{func.origin}/runtime/webhooks/durabletask/orchestrators/nope")
    assert r.status == 400 and "hello_sequence" in r.body.decode()


def test_suspend_resume_and_terminate_through_the_management_urls(func: FuncHost) -> None:
    check = func.start("approval_workflow", {"timeout_seconds": 3600})
    func.wait(check["statusQueryGetUri"], until=("Running",))
    assert request("POST", check["suspendPostUri"].replace("{text}", "lunch")).status == 202
    func.wait(check["statusQueryGetUri"], until=("Suspended",))
    assert request("POST", check["sendEventPostUri"].replace("{eventName}", "Approval"), "boss").status == 202
    assert request("POST", check["resumePostUri"].replace("{text}", "back")).status == 202
    status = func.wait(check["statusQueryGetUri"])
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "approved: boss")

    other = func.start("approval_workflow", {"timeout_seconds": 3600})
    func.wait(other["statusQueryGetUri"], until=("Running",))
    assert request("POST", other["terminatePostUri"].replace("{text}", "no%20longer%20needed")).status == 202
    status = func.wait(other["statusQueryGetUri"])
    assert (status["runtimeStatus"], status["output"]) == ("Terminated", "no longer needed")


def test_a_sync_http_function_with_route_query_and_headers(func: FuncHost) -> None:
    req = urllib.request.Request(f"{func.origin}/api/hello/Ann?punct=!", headers={"x-greeting": "Hi"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert (r.status, r.read()) == (200, b"Hi Ann!")
    assert request("POST", f"{func.origin}/api/hello/Ann").status == 404  # GET only, as declared


def test_restart_runs_the_orchestrator_again_under_a_new_id(func: FuncHost) -> None:
    check = func.start("fan_out_fan_in", {"count": 3})
    func.wait(check["statusQueryGetUri"])
    r = request("POST", check["restartPostUri"] + "&restartWithNewInstanceId=true")
    assert r.status == 202, r.body
    again = r.json()
    assert again["id"] != check["id"]
    status = func.wait(again["statusQueryGetUri"])
    assert (status["runtimeStatus"], status["output"]) == ("Completed", 5)


def test_listing_shows_routes_and_skipped_functions(func: FuncHost, tmp_path: Path) -> None:
    out, _err = func.stop()
    assert (
        f"http_start: [POST] http://localhost:{func.port}/api/orchestrators/{{functionName}}/{{instanceId?}}"
        in out
    )
    assert "hello_sequence: orchestrationTrigger" in out
    assert "shout: activityTrigger" in out and "Counter: entityTrigger" in out
    assert "process_order: queueTrigger (skipped: queueTrigger functions are not run" in out


def test_extended_sessions_asked_for_are_ignored_with_a_warning_and_the_app_still_replays(
    azurite_connection_string: str, tmp_path: Path
) -> None:
    switch = {"AzureFunctionsJobHost__extensions__durableTask__extendedSessionsEnabled": "true"}
    host = start_func("v2", tmp_path, azurite_connection_string, "fv2x" + uuid.uuid4().hex[:10], switch)
    try:
        status = host.run("hello_sequence")
    finally:
        _out, err = host.stop()
    assert status["output"] == ["Hello Tokyo", "Hello Seattle", "LONDON!"]
    assert "warning: extendedSessionsEnabled is ignored" in err
