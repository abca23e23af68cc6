"""The dashboard's pure parts without storage: escaping of hostile ids and payloads, history folding,
"waiting on", the list filter's query-string state and paging, and that these modules stay pure."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest

from taskhub.client.status import OrchestrationState
from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.http.dashboard.filters import ListFilter, select_page
from taskhub.http.dashboard.folding import filter_rows, fold, waiting_on
from taskhub.http.dashboard.instance_page import InstanceView, render_instance
from taskhub.http.dashboard.layout import Frame
from taskhub.http.dashboard.list_page import render_list
from taskhub.http.dashboard.markup import esc, parse_zone, t
from taskhub.http.dashboard.timeline import render_svg
from tests.dashboard.histories import SCENARIOS, H, at

HOSTILE_ID = '<script>alert("x")</script>\'&"🦄'
HOSTILE_INPUT = {"<script>": "</script><img src=x onerror=alert(1)>", "quote": "\"'", "emoji": "🚀✨"}


def _state(iid: str = HOSTILE_ID, status: str = "Running", **kw: object) -> OrchestrationState:
    return OrchestrationState(
        instance_id=iid,
        name=kw.pop("name", '<b>name</b>"'),  # type: ignore[arg-type]
        runtime_status=OrchestrationStatus(status),
        created_at=kw.pop("created", at(0)),  # type: ignore[arg-type]
        last_updated_at=kw.pop("updated", at(5)),  # type: ignore[arg-type]
        serialized_input='{"<script>": "</script><img src=x onerror=alert(1)>", "quote": "\\"\'", "emoji": "🚀✨"}',
        serialized_custom_status='"<script>custom</script>"',
    )


def _no_live_markup(page: str) -> None:
    """Nothing from the hostile values became markup: the only <script> is ours, no handler attribute."""
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/dashboard/static/dashboard.js" defer>']
    assert "<img" not in page
    assert "onerror=" not in page.replace("onerror=alert(1)&gt;", "")  # present only as text


def test_esc_and_templates_escape_everything_but_safe_markup() -> None:
    assert esc(HOSTILE_ID) == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#x27;&amp;&quot;🦄"
    assert t("<a title={v}>", v='"><x') == "<a title=&quot;&gt;&lt;x>"
    assert t("<p>{v}</p>", v=t("<b>{w}</b>", w="<i>")) == "<p><b>&lt;i&gt;</b></p>"


def test_instance_page_escapes_hostile_id_input_and_custom_status() -> None:
    events = H("hostile", HOSTILE_INPUT, instance_id=HOSTILE_ID).events
    view = InstanceView(_state(), events, waiting_on(events))
    page = render_instance(Frame(hub="hub"), view, at(10))
    _no_live_markup(page)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "🦄" in page and "🚀✨" in page
    assert "/dashboard/instances/%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E%27%26%22%F0%9F%A6%84" in page


def test_list_page_escapes_ids_names_and_filter_values() -> None:
    f = ListFilter.parse({"name": '"><script>', "custom": "<x>", "preset": "all"}, [])
    listing = select_page([_state(name='"><script>a', status="Running")], f)
    page = render_list(Frame(hub='h"<'), f, listing, at(10))
    _no_live_markup(page)
    assert 'value="&quot;&gt;&lt;script&gt;"' in page


def test_timeline_escapes_activity_and_event_names() -> None:
    h = H("o")
    task = h.schedule(0.1, '<script>"act"</script>')
    h.complete(0.2, task).raised(0.3, "<img src=x onerror=alert(1)>")
    svg = render_svg(h.done(0.4), at(1))
    assert "<script" not in svg and "<img" not in svg
    assert "&lt;script&gt;&quot;act&quot;&lt;/script&gt;" in svg


def test_fold_pairs_scheduled_with_completed_and_keeps_the_rest() -> None:
    rows = fold(SCENARIOS["retry"]())
    activity = [r for r in rows if r.kind == "activity"]
    assert [(r.type_label, r.outcome) for r in activity] == [
        ("TaskScheduled → TaskFailed", "failed"),
        ("TaskScheduled → TaskFailed", "failed"),
        ("TaskScheduled → TaskCompleted", "completed"),
    ]
    assert "RuntimeError: attempt 1 failed" in activity[0].detail
    timers = [r for r in rows if r.kind == "timer"]
    assert [r.duration for r in timers] == [timedelta(seconds=1), timedelta(seconds=2)]
    assert len(rows) < len(SCENARIOS["retry"]())


def test_filter_rows_by_event_type() -> None:
    rows = fold(SCENARIOS["external_event"]())
    assert [r.name for r in filter_rows(rows, {"EventRaised"})] == ["approved"]
    assert [r.name for r in filter_rows(rows, {"TaskCompleted"})] == ["request_approval", "process_approval"]
    assert filter_rows(rows, set()) == rows


def test_waiting_on_lists_open_activities_timers_and_suspension() -> None:
    h = H("o")
    h.schedule(1, "slow")
    h.timer(1, 100)
    events = h.episode(2).events
    w = waiting_on(events)
    assert [n for n, _ in w.activities] == ["slow"]
    assert w.timers == [at(100)]
    from taskhub.format.history import ExecutionSuspendedEvent

    events.append(ExecutionSuspendedEvent(reason="maintenance", timestamp=at(3)))
    w = waiting_on(events)
    assert w.suspended and w.suspended_reason == "maintenance"
    assert waiting_on(SCENARIOS["chaining"]()).empty


def test_history_of_10000_events_pages_by_100_rows() -> None:
    h = H("big")
    for k in range(2500):
        task = h.schedule(k, "step", k)
        h.complete(k + 0.5, task, k).episode(k + 0.5)
    events = h.done(2600)
    assert len(events) >= 10_000
    view = InstanceView(_state("big", "Completed"), events, waiting_on(events), page=7)
    page = render_instance(Frame(hub="hub"), view, at(3000))
    assert "page 7 of 26" in page  # 2500 folded task rows + start and end (episode markers hidden)
    assert page.count('<tr class="o-') == 100
    assert "rows are not drawn" in page  # the timeline draws the first rows only


def _s(
    iid: str, status: str, created: float, name: str = "n", custom: str | None = None
) -> OrchestrationState:
    return OrchestrationState(
        iid,
        name,
        OrchestrationStatus(status),
        created_at=at(created),
        last_updated_at=at(created + 1),
        serialized_custom_status=custom,
    )


def test_list_filter_counts_sorts_and_pages_with_a_token() -> None:
    states = [
        _s(f"i{k:02d}", ("Running", "Completed", "Failed")[k % 3], k, custom=f'"c{k}"') for k in range(60)
    ]
    f = ListFilter.parse({"preset": "all", "top": "25"}, ["Completed", "Failed"])
    first = select_page(states, f)
    assert first.counts == {"Running": 20, "Completed": 20, "Failed": 20}
    assert first.matched == 40
    assert [s.instance_id for s in first.items][:3] == ["i59", "i58", "i56"]  # newest first, no Running
    assert first.next_token
    second = select_page(
        states,
        ListFilter.parse({"preset": "all", "top": "25", "after": first.next_token}, ["Completed", "Failed"]),
    )
    assert len(second.items) == 15 and [s.instance_id for s in second.items][-2:] == ["i02", "i01"]
    assert not {s.instance_id for s in first.items} & {s.instance_id for s in second.items}
    assert second.next_token is None
    by_custom = select_page(states, ListFilter.parse({"preset": "all", "custom": "C2"}, []))
    assert sorted(s.instance_id for s in by_custom.items) == ["i02", *(f"i{k}" for k in range(20, 30))]


def test_list_filter_round_trips_through_the_query_string() -> None:
    q = {
        "preset": "custom",
        "from": "2026-11-30T08:00",
        "tz": "Europe/Paris",
        "sort": "updated",
        "dir": "asc",
        "name": "ap",
        "refresh": "5",
    }
    f = ListFilter.parse(q, ["Running"])
    assert f.start is not None and f.start.utcoffset() == timedelta(hours=1)
    again = dict(f.params())
    assert again["from"] == "2026-11-30T08:00" and again["tz"] == "Europe/Paris" and again["refresh"] == 5


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"preset": "2d"}, "preset '2d' is unknown; allowed: 15m, 1h, 24h, 7d, 30d, all, custom"),
        ({"top": "7"}, "top '7' is not allowed; use one of 25, 50, 100, 200"),
        (
            {"tz": "Mars/Base"},
            "time zone 'Mars/Base' is unknown: use UTC or an IANA name such as Europe/Paris",
        ),
        ({"from": "yesterday"}, "from 'yesterday' is not a date and time such as 2026-11-30T08:00"),
        ({"after": "bogus!"}, "after: this continuation token was not issued by this dashboard"),
    ],
)
def test_bad_filters_say_what_is_allowed(query: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as err:
        ListFilter.parse(query, [])
    assert str(err.value) == message


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="status 'running' is unknown; allowed: Running"):
        ListFilter.parse({}, ["running"])


def test_times_carry_their_zone() -> None:
    z = parse_zone("America/New_York")
    assert z.header("Created") == "Created (America/New_York)"
    assert z.format(at(0), seconds_only=True) == "2026-11-30 04:00:00"


PURE = ["markup", "filters", "folding", "timeline", "layout", "list_page", "instance_page", "other_pages"]


@pytest.mark.parametrize("module", PURE)
def test_page_modules_import_no_storage_asyncio_or_aiohttp(module: str) -> None:
    path = Path(__file__).resolve().parents[2] / "taskhub" / "http" / "dashboard" / f"{module}.py"
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    bad = {
        n
        for n in names
        if n.split(".")[0] in ("azure", "asyncio", "aiohttp")
        or n.startswith(("taskhub.storage", "taskhub.hub"))
    }
    assert bad == set()


def test_event_type_names_used_by_the_filter_exist() -> None:
    assert {"TaskScheduled", "EventRaised"} <= {e.name for e in EventType}


def test_health_says_why_a_queue_with_messages_has_no_oldest_age() -> None:
    from taskhub.http.dashboard.other_pages import render_health
    from taskhub.hub.health import HubHealth, QueueHealth

    health = HubHealth(
        hub="hub",
        read_at=at(10),
        lease_interval=timedelta(seconds=30),
        control_queues=[
            QueueHealth("hub-control-00", depth=3, oldest_age=None),  # every message held or delayed
            QueueHealth("hub-control-01", depth=0),
            QueueHealth("hub-control-02", depth=1, oldest_age=timedelta(seconds=4)),
        ],
        work_items=QueueHealth("hub-workitems", depth=2),
    )
    page = render_health(Frame(hub="hub"), health)
    cells = re.findall(r'<td class="num">(\d*)</td><td class="num">(.*?)</td>', page)
    assert [c[1].split(">")[1].split("<")[0] if "<" in c[1] else c[1] for c in cells] == [
        "all held (invisible)",
        "empty",
        "4.00 s",
    ]
    assert page.count('title="Every message in this queue is invisible for now') == 2  # + the work items
    assert "counts visible messages only" in page


def test_health_of_a_table_hub_names_the_partitions_table_and_the_steal_under_way() -> None:
    from taskhub.http.dashboard.other_pages import render_health
    from taskhub.hub.health import HubHealth, QueueHealth

    health = HubHealth(
        hub="hub",
        read_at=at(10),
        lease_interval=timedelta(seconds=30),
        control_queues=[
            QueueHealth("hub-control-00", depth=0, owner="w1", lease_state="draining", intent_owner="w2")
        ],
        workers=["w1", "w2"],
        manager="table",
    )
    page = render_health(Frame(hub="hub"), health)
    assert "balanced with the Partitions table" in page and "lease blobs" not in page
    assert "<td>w1</td><td>draining</td><td>w2</td>" in page


def test_payloads_of_durable_functions_apps_are_decoded_once() -> None:
    from taskhub.http.dashboard.folding import payload_preview
    from taskhub.http.dashboard.payloads import decode_once

    assert decode_once('"hello"') == ("hello", True)  # an SDK string input, as the client reads it
    assert decode_once(['"hello"', '{"a": 1}']) == (["hello", {"a": 1}], True)  # DTFx's object[] of SDK text
    assert decode_once("hello") == ("hello", False)
    assert decode_once('{"a": [1}') == ('{"a": [1}', False)  # not JSON: left alone
    assert decode_once({"a": '"deep"'}) == ({"a": '"deep"'}, False)  # only the top layer
    assert payload_preview('["\\"Tokyo\\""]') == '["Tokyo"]'
    assert payload_preview('"\\"hello\\""') == '"hello"'
    assert payload_preview('{"plain": "x"}') == '{"plain": "x"}'  # a plain app's payload, byte for byte
    assert payload_preview("5") == "5"
