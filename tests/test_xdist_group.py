"""`make test` runs two test processes and keeps the process tier in one of them (tests/conftest.py marks
it with an xdist_group; --dist loadgroup). pytest 9.2 silently broke that for pytest-xdist 3.8: the
mark was set and ignored. This runs the real hook of tests/conftest.py under the installed pytest and
pytest-xdist, on a small tree with a process/ folder, and checks where each test ran."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO_ROOT

CONFTEST = """
from pathlib import Path

import tests.conftest as real

real.PROCESS_TIER = Path(__file__).resolve().parent / "process"
pytest_collection_modifyitems = real.pytest_collection_modifyitems
"""

TEST = """
import os
from pathlib import Path

def test_{n}():
    out = Path(__file__).resolve().parents[{up}] / "ran"
    out.mkdir(exist_ok=True)
    (out / "{where}_{n}").write_text(os.environ["PYTEST_XDIST_WORKER"])
"""


def test_the_process_tier_runs_in_one_test_process(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "process").mkdir()
    for n in range(6):
        (tmp_path / "process" / f"test_p{n}.py").write_text(TEST.format(n=n, up=1, where="process"))
        (tmp_path / f"test_o{n}.py").write_text(TEST.format(n=n, up=0, where="other"))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(tmp_path / "pytest.ini"),
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    ran = {p.name: p.read_text() for p in (tmp_path / "ran").iterdir()}
    assert len(ran) == 12, json.dumps(ran)
    process_workers = {w for name, w in ran.items() if name.startswith("process_")}
    assert len(process_workers) == 1, f"the process tier ran in {sorted(process_workers)}"
