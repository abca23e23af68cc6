"""The SDK's own test suite, shipped in the azure-functions-durable wheel (functions-host.md 10): its
orchestrator and task tests build histories the way a host does and check the SDK's replies. They run
here, on the versions this project installs, so that an SDK upgrade that changes the protocol this host
implements shows up as a failure."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import azure.durable_functions as df
import pytest


@pytest.mark.timeout(300)
def test_the_sdk_orchestrator_and_task_tests_pass(tmp_path: Path) -> None:
    site = Path(df.__file__).resolve().parents[2]
    suite = site / "tests"
    assert (suite / "orchestrator" / "test_sequential_orchestrator.py").is_file(), "the wheel ships its tests"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            "/dev/null",
            "--rootdir",
            str(site),
            str(suite / "orchestrator"),
            str(suite / "tasks"),
            "--ignore",
            str(suite / "orchestrator" / "openai_agents"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=280,
    )
    tail = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-500:]
    assert run.returncode == 0, tail
    passed = re.search(r"(\d+) passed", tail)
    assert passed is not None and int(passed.group(1)) >= 100, tail
    assert "failed" not in tail and "error" not in tail, tail
