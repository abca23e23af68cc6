"""Golden files of the server-drawn timeline SVG (tests/dashboard/golden/*.svg).

Regenerate after an intended change with ``TASKHUB_UPDATE_GOLDEN=1 pytest tests/dashboard`` and look at
the files (they open in a browser) before committing them.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from pathlib import Path

import pytest

from taskhub.http.dashboard.timeline import build_rows, render_svg
from tests.dashboard.histories import SCENARIOS, at

GOLDEN = Path(__file__).parent / "golden"
NOW = at(7200)  # long after every scenario ended: nothing is still running


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_timeline_matches_golden(name: str) -> None:
    svg = render_svg(SCENARIOS[name](), NOW)
    path = GOLDEN / f"{name}.svg"
    if os.environ.get("TASKHUB_UPDATE_GOLDEN"):
        path.write_text(svg + "\n")
    assert svg + "\n" == path.read_text(), f"{name}: the SVG changed; see the module docstring"


def _rows(svg: str) -> list[tuple[str, str]]:
    return re.findall(
        r'<g class="row (\w+)" data-kind="\w+"><text class="label"[^>]*><title>([^<]*)</title>', svg
    )


def test_chaining_has_one_green_bar_per_step() -> None:
    svg = render_svg(SCENARIOS["chaining"](), NOW)
    assert _rows(svg) == [("orchestration", "chain")] + [("activity", f"F{k}") for k in range(1, 5)]
    assert svg.count('class="bar ok"') == 5  # 4 activities + the orchestration


def test_fan_out_draws_a_row_per_parallel_call() -> None:
    rows = build_rows(SCENARIOS["fan_out_fan_in"]())
    items = [f"process_item #{k}" for k in range(1, 6)]  # told apart, in the order they were scheduled
    assert [r.label for r in rows] == ["fan_out_fan_in", "get_work_batch", *items, "aggregate"]
    starts = {b.start for r in rows if r.label.startswith("process_item") for b in r.bars}
    assert len(starts) == 1  # scheduled together
    chain = [r.label for r in build_rows(SCENARIOS["chaining"]())]
    assert chain[1:] == ["F1", "F2", "F3", "F4"]  # names that differ get no number


def _ticks(svg: str) -> list[tuple[float, str]]:
    found = re.findall(r'<g class="tick"><line x1="([\d.]+)"[^>]*/><text[^>]*>\+([^<]*)</text>', svg)
    return [(float(x), label) for x, label in found]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_axis_ticks_are_evenly_spaced_on_round_steps(name: str) -> None:
    svg = render_svg(SCENARIOS[name](), NOW)
    gaps = [float(x) for x in re.findall(r'<g class="gap">.*?<rect x="([\d.]+)"', svg)]
    ticks = _ticks(svg)
    before_gap = [t for t in ticks if not gaps or t[0] < gaps[0]]
    assert len(before_gap) >= 2, svg
    xs = [x for x, _ in before_gap]
    steps = [b - a for a, b in itertools.pairwise(xs)]
    assert max(steps) - min(steps) <= 0.2, (name, before_gap)
    seconds = [float(label.removesuffix(" s")) for _, label in before_gap]
    assert seconds[0] == 0.0
    step = seconds[1] - seconds[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1.0, 2.0, 5.0), (name, seconds)
    assert all(abs(s - k * step) < 1e-6 for k, s in enumerate(seconds)), (name, seconds)


def test_retries_are_separate_bars_on_one_row() -> None:
    rows = build_rows(SCENARIOS["retry"]())
    flaky = [r for r in rows if r.kind == "activity"]
    assert len(flaky) == 1
    assert [b.outcome for b in flaky[0].bars] == ["fail", "fail", "ok"]
    svg = render_svg(SCENARIOS["retry"](), NOW)
    assert "flaky (3 attempts)" in svg
    assert svg.count('class="bar fail"') == 2


def test_a_long_idle_gap_is_collapsed() -> None:
    svg = render_svg(SCENARIOS["timer"](), NOW)
    assert svg.count('<g class="gap">') == 1
    assert "idle 1 h 00 min (collapsed)" in svg
    # the work after the hour is still drawn wide enough to see (not squeezed into a pixel)
    widths = [float(w) for w in re.findall(r'class="bar ok" x="[\d.]+" y="\d+" width="([\d.]+)"', svg)]
    assert min(widths) > 50


def test_short_waits_are_not_collapsed() -> None:
    assert '<g class="gap">' not in render_svg(SCENARIOS["chaining"](), NOW)


def test_external_event_is_a_marker_and_sub_orchestrations_rows() -> None:
    svg = render_svg(SCENARIOS["external_event"](), NOW)
    assert ("event", "approved") in _rows(svg)
    assert svg.count('class="bar evt"') == 1
    subs = render_svg(SCENARIOS["sub_orchestration"](), NOW)
    assert [r for r in _rows(subs) if r[0] == "suborchestration"] == [
        ("suborchestration", "chain (i1:0000)"),
        ("suborchestration", "chain (i1:0001)"),
    ]


def test_running_work_is_drawn_open_until_now() -> None:
    events = SCENARIOS["chaining"]()[:5]  # started, F1 scheduled, nothing finished
    svg = render_svg(events, at(30))
    assert 'class="bar open"' in svg
    assert "still open" in svg
