"""The console lines of ``taskhub func start`` (pure): one per function run started and ended, and the
start-up warning about instances of orchestrators the app does not have."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from worker.functions.hubcheck import foreign_orchestrators, foreign_warning
from worker.functions.runlog import RunLog, first_line


def test_a_run_prints_executing_then_executed_with_its_outcome() -> None:
    lines: list[str] = []
    log = RunLog(lines.append)
    with log.run("say_hello", "activity of instance abc", "abc:0"):
        pass
    assert re.fullmatch(
        r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] Executing 'Functions\.say_hello' "
        r"\(Reason='activity of instance abc', Id=abc:0\)",
        lines[0],
    )
    assert re.fullmatch(
        r"\[.+Z\] Executed 'Functions\.say_hello' \(Succeeded, Id=abc:0, Duration=\d+ms\)", lines[1]
    )


def test_an_exception_marks_the_run_failed_with_the_first_line_and_goes_on_up() -> None:
    lines: list[str] = []
    with pytest.raises(RuntimeError), RunLog(lines.append).run("f", "r", "id-1"):
        raise RuntimeError("missing\nmore detail")
    assert re.search(r"Executed 'Functions\.f' \(Failed, Id=id-1, Duration=\d+ms\): RuntimeError: missing$", lines[1])


def test_a_failure_the_caller_reports_and_a_generated_id() -> None:
    lines: list[str] = []
    with RunLog(lines.append).run("orch", "instance x") as run:
        run.fail("Orchestrator function 'orch' failed: boom\nTraceback ...")
    run_id = re.search(r"Id=([0-9a-f-]{36})\)", lines[0])
    assert run_id, lines[0]
    assert f"(Failed, Id={run_id.group(1)}, " in lines[1]
    assert lines[1].endswith(": Orchestrator function 'orch' failed: boom")


def test_without_emit_nothing_is_written_and_errors_still_propagate() -> None:
    with pytest.raises(ValueError), RunLog().run("f", "r"):
        raise ValueError("x")
    assert first_line(ValueError("")) == "ValueError"


def test_foreign_orchestrators_leave_out_the_apps_own_entities_and_blank_names() -> None:
    names = ["my_orchestrator", "Hello", "@counter", None, "", "my_orchestrator", "other"]
    assert foreign_orchestrators(names, ["hello"]) == Counter({"my_orchestrator": 2, "other": 1})
    assert foreign_warning("H", Counter(), capped=False) is None


def test_the_warning_is_one_line_naming_the_hub_the_orchestrators_and_the_fix() -> None:
    line = foreign_warning("TestHubName", Counter({"my_orchestrator": 2, "x": 1}), capped=True)
    assert line is not None and "\n" not in line
    assert "hub TestHubName holds at least 3 running or pending instances" in line
    assert "my_orchestrator (2), x (1)" in line and "own hubName in host.json" in line
    many = foreign_warning("H", Counter({f"o{k}": 1 for k in range(7)}), capped=False)
    assert many is not None and "and 2 more" in many
