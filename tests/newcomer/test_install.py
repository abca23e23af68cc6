"""The README's install lines, run as written in a fresh virtual environment from a fresh copy of this
checkout (what ``git clone`` gives: the tracked files and the new ones not ignored), and ``make wheel``.

Slow (a real ``pip install`` with its dependencies; the pip cache makes it about half a minute).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

MARKER = "<!-- readme-install-test -->"


def install_commands(text: str) -> list[str]:
    """The command lines of the ```sh block right after the install marker (comments and blanks dropped)."""
    found = re.search(re.escape(MARKER) + r"\s*\n```sh\n(.*?)\n```", text, re.S)
    assert found, f"README.md has no {MARKER} block"
    return [
        line for line in found.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def _fresh_copy(dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = REPO_ROOT / rel
        if src.is_file() and not rel.startswith("azurite/node_modules"):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _clean_env(home: Path) -> dict[str, str]:
    """No virtual environment active, the project not importable from anywhere but the install."""
    python_dir = str(Path(sys.base_prefix) / "bin")  # a python3 >= 3.11, as the README asks
    keep = {k: v for k, v in os.environ.items() if k.startswith(("PIP_", "XDG_", "LANG", "LC_"))}
    cache = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")  # the user's, not HOME's
    return {**keep, "PIP_CACHE_DIR": cache, "HOME": str(home), "PATH": f"{python_dir}:/usr/bin:/bin"}


def test_the_readme_install_lines_give_the_taskhub_command_in_a_fresh_venv(tmp_path: Path) -> None:
    commands = install_commands((REPO_ROOT / "README.md").read_text())
    assert any(c.startswith("pip install '.[functions]'") for c in commands)
    checkout = _fresh_copy(tmp_path / "checkout")
    home = tmp_path / "home"
    home.mkdir()
    script = (
        "set -e\n"
        + "\n".join(commands)
        + (
            "\ncd /\npython -c 'import taskhub, worker.func_cli, azure.durable_functions; print(taskhub.__file__)'"
            "\npip show taskhub-durable | sed -n 1,2p\n"
        )
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=checkout,
        env=_clean_env(home),
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "usage: taskhub [-h] VERB" in done.stdout
    assert "func " in done.stdout and "worker" in done.stdout  # the worker's verbs plug in
    assert str(home / ".venvs" / "taskhub") in done.stdout  # imported from the environment, not the copy
    assert "Name: taskhub-durable" in done.stdout


def test_make_wheel_builds_a_wheel_with_both_packages_the_command_and_the_extra(tmp_path: Path) -> None:
    checkout = _fresh_copy(tmp_path / "checkout")
    done = subprocess.run(
        ["make", "wheel"], cwd=checkout, env=_clean_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wheels = list((checkout / "dist").glob("taskhub_durable-*-py3-none-any.whl"))
    assert [w.name for w in wheels] == [done.stdout.strip().rsplit("/", 1)[-1]]
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"`make wheel` builds `dist/{wheels[0].name}`" in readme
    with zipfile.ZipFile(wheels[0]) as whl:
        names = set(whl.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = whl.read(info).decode()
        entry_points = whl.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert {
        "taskhub/__init__.py",
        "worker/func_cli.py",
        "taskhub/http/dashboard/static/dashboard.css",
    } <= names
    assert not any(n.startswith("tests/") for n in names)
    assert "Name: taskhub-durable" in metadata and "Provides-Extra: functions" in metadata
    assert "Classifier: Programming Language :: Python :: 3.13" in metadata
    assert "taskhub = taskhub.cli:main" in entry_points and "func = worker.func_cli" in entry_points


def _recipe(target: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}  # under make
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", target],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_make_demo_runs_nothing_that_installs_outside_the_folder() -> None:
    demo = _recipe("demo")
    assert demo[0] == "scripts/bootstrap" and "scripts/demo" in demo
    assert not any("browser-tier" in line or "apt-get" in line for line in demo)
    for script in ("scripts/bootstrap", "scripts/demo", "azurite/azurite_ctl.py"):
        text = (REPO_ROOT / script).read_text()
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert "browser-tier" not in code and "apt-get" not in code and "sudo" not in code, script
    assert "scripts/browser-tier" in _recipe("test")  # the tests need the browser; the demo does not


def test_the_browser_tier_installs_nothing_when_told_not_to(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "TASKHUB_BROWSER_TIER": "0", "CHROMIUM": str(tmp_path / "none")}
    # PATH holds no apt-get and no chromium: were it to try, it would say so instead
    done = subprocess.run(
        ["/bin/bash", str(REPO_ROOT / "scripts" / "browser-tier")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stderr.strip() == (
        "browser tier skipped: TASKHUB_BROWSER_TIER=0 (nothing installed; the browser tests skip)"
    )
    readme = (REPO_ROOT / "README.md").read_text()
    assert "TASKHUB_BROWSER_TIER=0 make test" in readme and "apt-get install chromium" in readme
