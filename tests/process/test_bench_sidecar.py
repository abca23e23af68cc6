"""The benchmark's sidecar workloads in their smallest form, so that they cannot rot: ``python -m bench
--quick --only W2-SDK`` starts its own Azurite, a ``taskhub sidecar`` process and a durabletask-python
worker process, runs W2's 25 sequential activities through them and reports them beside the floor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_the_bench_runs_w2_through_the_sidecar(azurite_connection_string: str, tmp_path: Path) -> None:
    # azurite_connection_string: Azurite is installed (the bench starts its own from the same folder)
    out = tmp_path / "bench.json"
    args = ["--quick", "--skip-w5", "--only", "W2-SDK", "--quiet-wait", "0", "--no-profile", "--out", str(out)]
    run = subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    w2 = results["workloads"]["W2-SDK"]
    assert w2["verified"], w2.get("problem") or w2.get("error")
    assert w2["activities"] == 25 and w2["completed"] == 1 and w2["figure"] > 0
    assert w2["sidecar"] is True and w2["sdk_worker_cpu_s_per_100_activities"] >= 0
    assert w2["worker_settings"]["port"] > 0  # the worker process served as a sidecar
    assert "W2" not in results["workloads"]  # --only: the sidecar workload alone
    table = [line for line in run.stdout.splitlines() if line.startswith("W2-SDK 25 seq. via sidecar")]
    assert table, run.stdout[-3000:]
    assert any(line.startswith("W2-SDK: ") and "SDK worker" in line for line in run.stdout.splitlines())
