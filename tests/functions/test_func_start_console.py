"""``taskhub func start`` as a newcomer meets it with one of the SDK's samples: no local.settings.json (the
app gets the host's own connection), a line per function run on the console (failures with their
error), and a warning at start-up when the hub holds instances of orchestrators the app does not have."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings
from tests.functions.host import start_func

pytestmark = pytest.mark.timeout(180)


def _recorded_azurite(tmp: Path, conn: str) -> Path:
    """A run record as ``make azurite-start`` writes it (azurite/.run), pointing at the test Azurite."""
    run_dir = tmp / "azurite" / ".run"
    run_dir.mkdir(parents=True)
    (run_dir / "azurite.pid").write_text(str(os.getpid()))  # a live process: this test's
    (run_dir / "connection-string").write_text(conn)
    return run_dir


@pytest.mark.front_door
async def test_a_sample_without_settings_runs_and_the_console_says_what_failed(
    azurite_connection_string: str, tmp_path: Path
) -> None:
    hub = "fcon" + uuid.uuid4().hex[:10]
    settings = Settings.load(
        None,
        env={
            "AzureWebJobsStorage": azurite_connection_string,
            "AzureFunctionsJobHost__extensions__durableTask__hubName": hub,
        },
    )
    async with TaskHubClient(settings) as client:  # another app's instance, waiting on the same hub
        await client.schedule_new_orchestration("my_orchestrator", instance_id="other-app-1")

    run_dir = _recorded_azurite(tmp_path, azurite_connection_string)
    host = start_func(
        "bare",
        tmp_path,
        azurite_connection_string,
        hub,
        extra_env={"TASKHUB_AZURITE_RUN_DIR": str(run_dir)},
        without=("AzureWebJobsStorage",),
    )
    try:
        ok = host.run("storage_account")
        assert (ok["runtimeStatus"], ok["output"]) == ("Completed", "devstoreaccount1")
        counted = host.run("count_twice")
        assert (counted["runtimeStatus"], counted["output"]) == ("Completed", 5)
        failed_check = host.start("broken_order", 42)
        failed = host.wait(failed_check["statusQueryGetUri"])
        assert failed["runtimeStatus"] == "Failed"
    finally:
        out, err = host.stop()

    assert (
        f"taskhub func start: the app has no AzureWebJobsStorage setting; it gets the connection this host "
        f"uses (the Azurite recorded in {run_dir})" in err
    ), err
    warning = [line for line in err.splitlines() if "orchestrators this app does not have" in line]
    assert len(warning) == 1, err
    assert f"hub {hub} holds 1 running or pending instance of" in warning[0]
    assert "my_orchestrator (1)" in warning[0] and "hubName" in warning[0]

    iid = failed_check["id"]
    stamp = r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "
    assert re.search(
        stamp + rf"Executing 'Functions\.load_order' \(Reason='activity of instance {iid}', Id={iid}:0\)\n",
        out,
    ), out
    executed = re.search(
        stamp + rf"Executed 'Functions\.load_order' \((\w+), Id={iid}:0, Duration=(\d+)ms\)(.*)\n", out
    )
    assert executed, out
    assert executed.group(1) == "Failed"
    assert executed.group(3) == ": ValueError: no such order: 42"  # the first line of the error only
    assert re.search(
        stamp + r"Executed 'Functions\.account_name' \(Succeeded, Id=[^,]+:0, Duration=\d+ms\)\n", out
    )
    episodes = re.findall(
        rf"Executing 'Functions\.broken_order' \(Reason='instance {iid}', Id=([0-9a-f-]+)\)", out
    )
    assert len(episodes) == 2, out  # the start, then the activity's failure
    assert re.search(
        rf"Executed 'Functions\.broken_order' \(Failed, Id={episodes[-1]}, Duration=\d+ms\): ", out
    )
    assert re.search(r"Executed 'Functions\.http_start' \(Succeeded, Id=[0-9a-f-]+, Duration=\d+ms\)\n", out)
    assert "Reason='POST /api/orchestrators/broken_order'" in out
    operations = re.findall(
        r"Executing 'Functions\.tally' \(Reason='operation add on @tally@k', Id=([0-9a-f-]+)\)", out
    )
    assert len(operations) == 2, out
    for op_id in operations:
        assert re.search(rf"Executed 'Functions\.tally' \(Succeeded, Id={op_id}, Duration=\d+ms\)\n", out), (
            out
        )
