"""The README's shell commands, run as written and in order, against a fresh hub in the test Azurite.

The commands are read from the README itself (every ```sh block right after a ``<!-- readme-test -->``
line), so the README cannot drift from the code. They run in one bash process, like a newcomer's
terminal, from a folder holding what a checkout has (``.venv``, ``examples``, ``host.json``); the
environment points the hub and the connection at the test Azurite. Each command's stdout, stderr and
exit status are checked.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO_ROOT

README = REPO_ROOT / "README.md"
MARKER = "<!-- readme-test -->"


def readme_commands(text: str) -> list[str]:
    """The command lines of the marked ```sh blocks, in order (comment-only and empty lines dropped)."""
    commands: list[str] = []
    for match in re.finditer(re.escape(MARKER) + r"\s*\n```sh\n(.*?)\n```", text, re.S):
        for line in match.group(1).splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(line)
    return commands


def test_the_readme_has_marked_commands() -> None:
    commands = readme_commands(README.read_text())
    assert commands[0].startswith("source .venv/bin/activate")
    assert any(c.startswith("taskhub worker examples.all:app") for c in commands)
    assert any(c.startswith("curl ") or "curl " in c for c in commands)
    assert commands[-1].startswith("kill %1 %2")


def _script(commands: list[str]) -> str:
    lines = ["set -u"]
    for i, command in enumerate(commands):
        lines += [
            f"printf '\\n@@@ {i}\\n'; printf '\\n@@@ {i}\\n' >&2",
            command,
            f"printf '\\n@@@ rc {i} %d\\n' $?",
        ]
    return "\n".join(lines) + "\n"


def _split(text: str, n: int) -> list[str]:
    parts = [""] * n
    current = None
    for line in text.splitlines(keepends=True):
        m = re.fullmatch(r"@@@ (\d+)\n", line)
        if m:
            current = int(m.group(1))
            continue
        if current is not None and not line.startswith("@@@ rc "):
            parts[current] += line
    return parts


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _json(text: str) -> Any:
    return json.loads(text)


@pytest.mark.timeout(300)
def test_readme_commands_work_as_written(
    tmp_path: Path, azurite_connection_string: str, hub_name: str
) -> None:
    if _port_taken(7071):
        pytest.skip("port 7071 (the README's taskhub serve port) is in use on this machine")
    commands = readme_commands(README.read_text())
    for name in (".venv", "examples"):
        (tmp_path / name).symlink_to(REPO_ROOT / name)
    (tmp_path / "host.json").write_text((REPO_ROOT / "host.json").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobs", "AzureFunctionsJobHost"))}
    env.update(
        AzureWebJobsStorage=azurite_connection_string,
        AzureFunctionsJobHost__extensions__durableTask__hubName=hub_name,
        AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval="00:00:01",
        PATH="/usr/bin:/bin",  # `taskhub` must come from `source .venv/bin/activate`, as in the README
    )
    proc = subprocess.Popen(
        ["bash", "-c", _script(commands)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=240)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything the README left running
    rcs = {int(i): int(rc) for i, rc in re.findall(r"@@@ rc (\d+) (\d+)", out)}
    stdout, stderr = _split(out, len(commands)), _split(err, len(commands))
    assert sorted(rcs) == list(range(len(commands))), f"not every command ran:\n{out}\n{err}"
    results = dict(
        zip(commands, zip(stdout, stderr, (rcs[i] for i in range(len(commands))), strict=True), strict=True)
    )
    transcript = "\n".join(f"$ {c}\n{o}{e}[rc {rc}]" for c, (o, e, rc) in results.items())
    for log in ("worker.log", "serve.log"):
        if (tmp_path / log).exists():
            transcript += f"\n--- {log} (last 40 lines)\n" + "\n".join(
                (tmp_path / log).read_text().splitlines()[-40:]
            )
    for command, (_o, e, rc) in results.items():
        assert rc == 0, f"{command!r} exited {rc}; the whole run:\n{transcript}"
        if command.startswith("taskhub ") and not command.rstrip().split("#")[0].rstrip().endswith("&"):
            first = e.strip().splitlines()[0]
            assert first.startswith(
                f"taskhub: hub {hub_name}, account devstoreaccount1 at http://127.0.0.1:"
            ), first
            assert "AccountKey" not in e and "Eby8vdM02x" not in e

    def find(prefix: str, nth: int = 0) -> tuple[str, str, int]:
        hits = [v for k, v in results.items() if k.startswith(prefix)]
        assert len(hits) > nth, f"no README command starts with {prefix!r}"
        return hits[nth]

    out, err, _ = find("taskhub start-new --function-name approval_workflow")
    assert _json(out) == {"instanceId": "bridge-1"}
    assert "warning" not in err, transcript  # the worker started just before holds the hub by now
    first_poll = _json(find("taskhub get-runtime-status --id bridge-1  ")[0])
    assert first_poll["runtimeStatus"] in ("Pending", "Running")
    assert _json(find("taskhub raise-event --id bridge-1")[0]) == {
        "instanceId": "bridge-1",
        "raised": "ApprovalEvent",
    }
    done = _json(find("taskhub get-runtime-status --id bridge-1 --show-output --wait")[0])
    assert (done["runtimeStatus"], done["output"]) == ("Completed", "approved: bridge")
    history = _json(find("taskhub get-history --id bridge-1")[0])
    assert [h["EventType"] for h in history][-1] == "ExecutionCompleted"
    assert len(_json(find("taskhub get-partitions")[0])) == 4
    assert _json(find("taskhub poison list")[0]) == []
    chain = _json(find("taskhub get-runtime-status --id chain-1")[0])
    assert (chain["runtimeStatus"], chain["output"]) == ("Completed", 81)
    restarted = _json(find("taskhub restart --id chain-1")[0])
    assert restarted["restartedFrom"] == "chain-1" and restarted["instanceId"] != "chain-1"
    assert _json(find("taskhub get-runtime-status --id chain-x")[0])["runtimeStatus"] == "Failed"
    assert _json(find("taskhub get-runtime-status --id chain-x", 1)[0])["runtimeStatus"] == "Failed"  # again
    assert _json(find("taskhub rewind --id chain-x")[0])["rewound"] is True
    replayed = [
        json.loads(line)
        for line in find("taskhub replay examples.all:app --all")[0].split("\n")
        if line.strip()
    ]
    assert replayed and all(r["result"] in ("ok", "skipped") for r in replayed), replayed
    assert {"bridge-1", "chain-1", "chain-x"} <= {r["instanceId"] for r in replayed}
    location = find('echo "$status"')[0].strip()
    assert "/runtime/webhooks/durabletask/instances/" in location and f"taskHub={hub_name}" in location
    assert _json(find("curl -s -w")[0])["runtimeStatus"] in ("Pending", "Running", "Completed")
    assert find("curl -s -w '\\n' -X POST")[0].strip() == "81"
    assert find("curl -s -o /dev/null")[0].strip() == "202"
