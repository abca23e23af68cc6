"""Fixtures of the process tier: real ``taskhub worker`` processes on the session's Azurite.

``fleets`` makes :class:`~tests.process.harness.Fleet` s (one per hub) and kills every process they
started when the test ends, whatever happened. ``figures`` collects the measured numbers of a test;
they are written to ``figures.json`` in the test's tmp dir, printed, and repeated in pytest's
terminal summary so a plain ``pytest`` run shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.process.harness import Fleet, write_figures

_ALL_FIGURES: dict[str, dict[str, Any]] = {}


@pytest.fixture
def fleets(tmp_path: Path) -> Iterator[Callable[..., Fleet]]:
    made: list[Fleet] = []

    def make(env: Mapping[str, str], name: str = "workers") -> Fleet:
        fleet = Fleet(env, tmp_path / name)
        made.append(fleet)
        return fleet

    try:
        yield make
    finally:
        for fleet in made:
            fleet.close()


@pytest.fixture
def figures(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    found: dict[str, Any] = {}
    yield found
    if found:
        text = write_figures(tmp_path / "figures.json", found)
        print(f"\n{request.node.name} figures ({tmp_path / 'figures.json'}):\n{text}")
        _ALL_FIGURES[request.node.name] = found


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ALL_FIGURES:
        return
    terminalreporter.section("process tier figures")
    for name, found in _ALL_FIGURES.items():
        terminalreporter.write_line(name)
        for key, value in found.items():
            terminalreporter.write_line(f"    {key}: {value}")
