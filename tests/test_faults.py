"""Fault injection is a wrapper only tests install (``tests/faults.py``): production modules read no
fault setting and never end the process themselves; the storage wrapper fails exactly the planned call."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest

from taskhub import StorageError, StorageErrorKind
from taskhub.storage import Storage
from tests.faults import StorageFaults, exit_at

ROOT = Path(__file__).resolve().parents[1]
EXIT_ALLOWED = {
    "taskhub/cli/signals.py",  # issue 18: a second stop signal ends the command at once (a user's choice)
}


def _production_modules() -> list[Path]:
    return sorted(p for package in ("taskhub", "worker") for p in (ROOT / package).rglob("*.py"))


def test_no_production_module_exits_the_process_or_reads_a_test_setting() -> None:
    found = []
    for path in _production_modules():
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(ROOT).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "_exit" and where not in EXIT_ALLOWED:
                found.append(f"{where}:{node.lineno}: os._exit")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "TASKHUB_TEST" in node.value:
                found.append(f"{where}:{node.lineno}: {node.value!r}")
    assert found == []


def test_bad_fault_plans_are_refused_with_what_is_allowed() -> None:
    with pytest.raises(ValueError, match=r"expected op:nth:500\|hang\[:match\]"):
        StorageFaults("send_message:first:500")
    with pytest.raises(ValueError, match="expected one of after_outbound, after_history"):
        exit_at("halfway")


async def test_the_planned_call_fails_and_only_that_one(settings) -> None:
    queue, other = "q" + uuid.uuid4().hex[:10], "o" + uuid.uuid4().hex[:10]
    faults = StorageFaults(f"send_message:2:500:{queue}")
    async with Storage(settings) as storage:
        storage.interceptor = faults
        await storage.create_queue(queue)
        await storage.create_queue(other)
        await storage.send_message(queue, "one")
        await storage.send_message(other, "not matched")
        with pytest.raises(StorageError) as failed:
            await storage.send_message(queue, "two")
        assert failed.value.kind is StorageErrorKind.OTHER and failed.value.status == 500
        await storage.send_message(queue, "three")
        assert faults.injected == [("send_message", queue, "500")]
        got = await storage.receive_messages(queue, max_messages=32, visibility_timeout=30)
        assert sorted(m.content for m in got) == ["one", "three"]
    async with Storage(settings) as clean:  # nothing installed: no fault
        assert clean.interceptor is None
        await clean.send_message(queue, "four")
