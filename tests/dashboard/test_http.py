"""The dashboard over HTTP on a real worker and Azurite: pages, filters, actions with their confirmation
and CSRF token, bulk jobs, read-only mode, the key cookie, headers, health and the JSON download."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import quote

import pytest

from taskhub.format.history import utcnow
from taskhub.format.names import escape_partition_key
from taskhub.http.dashboard.security import CSP
from tests.dashboard.conftest import Dash
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(90)


def _ids(page: str) -> list[str]:
    return re.findall(r'<tr data-id="([^"]*)"', page)


async def _status(dash: Dash, iid: str) -> str | None:
    s = await dash.client.get_orchestration_state(iid, fetch_payloads=False)
    return s.runtime_status.value if s else None


async def _until(dash: Dash, iid: str, status: str) -> None:
    async def reached() -> bool:
        return await _status(dash, iid) == status

    await wait_for(reached, 30, 0.1, message=f"{iid} {status}")


async def _post(
    dash: Dash, path: str, data: dict[str, str], *, csrf_from: str | None = None
) -> tuple[int, str, str]:
    token = await dash.csrf(csrf_from or path)
    async with dash.session.post(dash.base + path, data={"csrf": token, **data}, allow_redirects=False) as r:
        return r.status, r.headers.get("Location", ""), await r.text()


async def test_list_filters_counts_and_pages(dash: Dash) -> None:
    c = dash.client
    for k in range(3):
        await c.schedule_new_orchestration("chain", input=k, instance_id=f"done-{k}")
    await c.schedule_new_orchestration("failing", input=1, instance_id="bad-1")
    await c.schedule_new_orchestration("waiter", input=1, instance_id="wait-1")
    for iid in ("done-0", "done-1", "done-2", "bad-1"):
        await c.wait_for_orchestration_completion(iid, timeout=30)
    await _until(dash, "wait-1", "Running")

    status, page = await dash.get("/dashboard/")
    assert status == 200
    assert sorted(_ids(page)) == ["bad-1", "done-0", "done-1", "done-2", "wait-1"]
    assert 'data-status="Completed">Completed <b>3</b>' in page
    assert 'data-status="Failed">Failed <b>1</b>' in page
    assert 'data-status="Running">Running <b>1</b>' in page

    _, page = await dash.get("/dashboard/?status=Failed&status=Running")
    assert sorted(_ids(page)) == ["bad-1", "wait-1"]
    _, page = await dash.get("/dashboard/?prefix=done-&sort=created&dir=asc")
    assert _ids(page) == ["done-0", "done-1", "done-2"]
    _, page = await dash.get("/dashboard/?name=WAIT&custom=approve")
    assert _ids(page) == ["wait-1"]
    _, page = await dash.get("/dashboard/?prefix=done-&top=25&dir=asc")
    assert "3 of 3 shown" in page and 'rel="next"' not in page

    status, page = await dash.get("/dashboard/?status=running")
    assert status == 400
    assert "status &#x27;running&#x27; is unknown; allowed: Running, Completed" in page
    assert "Traceback" not in page


async def test_list_pages_with_a_continuation_token(dash: Dash) -> None:
    for k in range(30):
        await dash.client.schedule_new_orchestration("never_registered", instance_id=f"p-{k:02d}")
    _, first = await dash.get("/dashboard/?top=25&sort=created&dir=asc")
    token = re.search(r'rel="next" href="[^"]*after=([^"&]+)', first)
    assert token and len(_ids(first)) == 25
    _, second = await dash.get(f"/dashboard/?top=25&sort=created&dir=asc&after={token.group(1)}")
    assert len(_ids(second)) == 5
    assert sorted(_ids(first) + _ids(second)) == [f"p-{k:02d}" for k in range(30)]


async def test_instance_page_shows_timeline_waiting_banner_and_history(dash: Dash) -> None:
    iid = "showcase-1"
    await dash.client.schedule_new_orchestration("showcase", input=20, instance_id=iid)

    async def waiting_for_go() -> str:
        _, page = await dash.get(f"/dashboard/instances/{iid}")
        return page if "&quot;waiting&quot;: &quot;go&quot;" in page else ""

    page = await wait_for(waiting_for_go, 30, 0.3, message="showcase waits for go")
    rows = re.findall(r'<g class="row (\w+)" data-kind', page)
    assert rows.count("activity") == 21  # 20 fan-out calls + the retried one
    assert rows.count("timer") == 3  # two retry delays + the 1 s timer
    assert "flaky (3 attempts)" in page
    assert page.count('class="bar fail"') == 2
    assert "Waiting on" in page
    assert "History" in page and "TaskScheduled → TaskCompleted" in page

    await dash.client.raise_orchestration_event(iid, "go", data="yes")
    await dash.client.wait_for_orchestration_completion(iid, timeout=30)
    _, page = await dash.get(f"/dashboard/instances/{iid}?type=EventRaised")
    assert re.findall(
        r'<tr class="o-\w+"><td class="num">\d+</td><td class="time">[^<]*</td><td>(\w+)</td>', page
    ) == ["EventRaised"]
    async with dash.session.get(f"{dash.base}/dashboard/instances/{iid}/history.json") as r:
        assert r.headers["Content-Disposition"] == 'attachment; filename="showcase-1-history.json"'
        events = json.loads(await r.text())
    assert events[0]["EventType"] == "OrchestratorStarted"
    assert sum(e["EventType"] == "TaskCompleted" for e in events) == 21


async def test_pending_instance_names_its_control_queue(dash: Dash) -> None:
    await dash.client.schedule_new_orchestration(
        "chain", instance_id="later", start_at=utcnow() + timedelta(hours=1)
    )
    _, page = await dash.get("/dashboard/instances/later")
    queue = dash.client.service.hub.names.control_queue_for("later")
    assert f"Pending: its start message is in control queue <code>{queue}</code>" in page


async def test_actions_need_confirmation_and_a_csrf_token(dash: Dash) -> None:
    c = dash.client
    await c.schedule_new_orchestration("waiter", input="a", instance_id="steer")
    await _until(dash, "steer", "Running")

    status, page = await dash.get("/dashboard/instances/steer/suspend")
    assert status == 200 and "Suspend?" in page and 'name="reason"' in page
    async with dash.session.post(
        f"{dash.base}/dashboard/instances/steer/suspend", data={"reason": "x"}, allow_redirects=False
    ) as r:
        assert r.status == 403  # no CSRF token
    assert await _status(dash, "steer") == "Running"

    status, location, _ = await _post(dash, "/dashboard/instances/steer/suspend", {"reason": "maintenance"})
    assert status == 303 and location.startswith("/dashboard/instances/steer")
    await _until(dash, "steer", "Suspended")
    _, page = await dash.get("/dashboard/instances/steer")
    assert "Suspended: maintenance" in page

    await _post(dash, "/dashboard/instances/steer/resume", {"reason": "done"})
    await _until(dash, "steer", "Running")
    status, _, page = await _post(
        dash, "/dashboard/instances/steer/raise", {"event": "approve", "data": "{nope"}
    )
    assert status == 400 and "the event data is not JSON" in page
    await _post(dash, "/dashboard/instances/steer/raise", {"event": "approve", "data": '{"ok": true}'})
    done = await c.wait_for_orchestration_completion("steer", timeout=30)
    assert done.output == {"answer": {"ok": True}, "value": "a"}

    status, _, page = await _post(dash, "/dashboard/instances/steer/terminate", {"reason": "late"})
    assert status == 409 and "cannot terminate orchestration &#x27;steer&#x27;: it is Completed" in page

    status, location, _ = await _post(dash, "/dashboard/instances/steer/restart", {"new_id": "true"})
    new_id = location.split("/dashboard/instances/")[1].split("?")[0]
    assert status == 303 and new_id != "steer"
    await _until(dash, new_id, "Running")
    await _post(dash, f"/dashboard/instances/{new_id}/terminate", {"reason": "enough"})
    await _until(dash, new_id, "Terminated")

    status, location, _ = await _post(dash, "/dashboard/instances/steer/purge", {"reason": "cleanup"})
    assert status == 303 and location.startswith("/dashboard/?")
    assert await _status(dash, "steer") is None
    status, page = await dash.get("/dashboard/instances/steer")
    assert status == 404 and "no orchestration instance with id &#x27;steer&#x27;" in page


async def _rewound_reasons(dash: Dash, iid: str) -> list[str]:
    """The ``Reason`` of each history row that a rewind turned into a GenericEvent, in row order."""
    hub = dash.client.service.hub
    flt = f"PartitionKey eq '{escape_partition_key(iid)}'"
    rows = sorted([r async for r in hub.storage.query(hub.names.history_table, flt)], key=lambda r: r["RowKey"])
    return [str(r["Reason"]) for r in rows if str(r.get("Reason") or "").startswith("Rewound: ")]


async def test_rewind_is_offered_for_a_failed_instance_and_runs_the_failed_work_again(dash: Dash) -> None:
    c = dash.client
    await c.schedule_new_orchestration("failing", input=1, instance_id="f1")
    await c.schedule_new_orchestration("chain", input=1, instance_id="ok1")
    await c.wait_for_orchestration_completion("f1", timeout=30)
    await c.wait_for_orchestration_completion("ok1", timeout=30)
    _, page = await dash.get("/dashboard/instances/f1")
    assert 'data-action="rewind"' in page
    assert "ValueError: broken activity got 1" in page  # the failure, as text
    _, completed = await dash.get("/dashboard/instances/ok1")
    assert 'data-action="rewind"' not in completed  # only a failed instance can be rewound
    status, confirm = await dash.get("/dashboard/instances/f1/rewind")
    assert status == 200 and 'form class="confirm"' in confirm

    status, location, _ = await _post(dash, "/dashboard/instances/f1/rewind", {"reason": "try again"})
    assert status == 303 and location.startswith("/dashboard/instances/f1")

    async def failed_again() -> bool:  # the activity is broken for good: it runs again and fails again
        history = [e.event_type.name for e in await c.get_orchestration_history("f1")]
        return await _status(dash, "f1") == "Failed" and history.count("TaskFailed") == 1

    await wait_for(failed_again, 30, 0.2, message="f1 rewound, run again and failed again")
    assert await _rewound_reasons(dash, "f1") == [
        "Rewound: TaskScheduled",
        "Rewound: TaskFailed",
        "Rewound: ExecutionCompleted",
    ]


async def test_start_form(dash: Dash) -> None:
    status, _, page = await _post(
        dash, "/dashboard/start", {"name": "chain", "input": "[1,"}, csrf_from="/dashboard/start"
    )
    assert status == 400 and "the input is not JSON" in page
    status, location, _ = await _post(
        dash,
        "/dashboard/start",
        {"name": "chain", "instance_id": "from-form", "input": "41"},
        csrf_from="/dashboard/start",
    )
    assert status == 303 and location.startswith("/dashboard/instances/from-form")
    assert (await dash.client.wait_for_orchestration_completion("from-form", timeout=30)).output == 41


async def test_bulk_terminate_over_the_filter_with_progress(dash: Dash) -> None:
    for k in range(4):
        await dash.client.schedule_new_orchestration("waiter", instance_id=f"bulk-{k}")
    await dash.client.schedule_new_orchestration("waiter", instance_id="other")
    for k in range(4):
        await _until(dash, f"bulk-{k}", "Running")
    status, page = await dash.get("/dashboard/bulk/terminate?prefix=bulk-")
    assert status == 200 and '<b class="matched">4</b>' in page and '<b class="eligible">4</b>' in page
    token = await dash.csrf("/dashboard/bulk/terminate?prefix=bulk-")
    async with dash.session.post(
        f"{dash.base}/dashboard/bulk/terminate",
        data={"csrf": token, "prefix": "bulk-", "reason": "bulk"},
        allow_redirects=False,
    ) as r:
        assert r.status == 303
        job = r.headers["Location"]

    async def finished() -> str:
        _, page = await dash.get(job)
        return page if "finished" in page else ""

    page = await wait_for(finished, 30, 0.2, message="bulk job finished")
    assert '<span class="done">4</span> done, <span class="failed">0</span> failed' in page
    for k in range(4):
        await _until(dash, f"bulk-{k}", "Terminated")
    assert await _status(dash, "other") == "Running"


async def test_health_page(dash: Dash) -> None:
    async def leased() -> str:
        _, page = await dash.get("/dashboard/health")
        return page if page.count("<td>leased</td>") == 4 else ""

    page = await wait_for(leased, 30, 0.3, message="4 leased control queues")
    for q in dash.client.service.hub.names.control_queues:
        assert f"<code>{q}</code>" in page
    assert "Work-item queue depth" in page and "Poison messages</dt><dd>0" in page
    assert "Workers seen" in page and "none seen" not in page
    assert f'<option value="{dash.settings.hub_name}" selected>' in page  # the hub picker


async def test_every_page_has_the_strict_headers(dash: Dash) -> None:
    for path in (
        "/dashboard/",
        "/dashboard/health",
        "/dashboard/start",
        "/dashboard/nope",
        "/dashboard/?top=3",
    ):
        async with dash.session.get(dash.base + path) as r:
            assert r.headers["Content-Security-Policy"] == CSP, path
            assert r.headers["X-Content-Type-Options"] == "nosniff"
    async with dash.session.get(dash.base + "/dashboard/static/dashboard.css") as r:
        assert r.status == 200 and r.content_type == "text/css"


@pytest.mark.parametrize("dash", [{"read_only": True}], indirect=True)
async def test_read_only_hides_actions_and_answers_403(dash: Dash) -> None:
    await dash.client.schedule_new_orchestration("waiter", instance_id="ro")
    await _until(dash, "ro", "Running")
    _, page = await dash.get("/dashboard/instances/ro")
    assert "data-action=" not in page and "read-only" in page
    _, page = await dash.get("/dashboard/")
    assert "Bulk actions" not in page and "Start new" not in page
    for path in ("/dashboard/instances/ro/terminate", "/dashboard/start", "/dashboard/bulk/purge"):
        status, page = await dash.get(path)
        assert status == 403 and "read-only" in page, path
    async with dash.session.post(f"{dash.base}/dashboard/instances/ro/terminate", data={"reason": "x"}) as r:
        assert r.status == 403 and "read-only" in await r.text()
    async with dash.session.post(f"{dash.base}/runtime/webhooks/durabletask/instances/ro/terminate") as r:
        assert r.status == 403
    assert await _status(dash, "ro") == "Running"


@pytest.mark.parametrize("dash", [{"key": "s3cret-key-0123456789"}], indirect=True)
async def test_key_is_sent_once_then_kept_in_an_httponly_cookie(dash: Dash) -> None:
    status, page = await dash.get("/dashboard/")
    assert status == 401 and 'type="password" name="key"' in page
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    async with dash.session.post(
        f"{dash.base}/dashboard/login",
        data={"csrf": token, "key": "wrong", "next": "/dashboard/"},
        allow_redirects=False,
    ) as r:
        assert r.status == 401
    async with dash.session.post(
        f"{dash.base}/dashboard/login",
        data={"csrf": token, "key": "s3cret-key-0123456789", "next": "/dashboard/health"},
        allow_redirects=False,
    ) as r:
        assert r.status == 303 and r.headers["Location"] == "/dashboard/health"
        cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "s3cret-key-0123456789" not in cookie
    status, page = await dash.get("/dashboard/health")
    assert status == 200 and "s3cret-key-0123456789" not in page
    async with dash.session.get(f"{dash.base}/runtime/webhooks/durabletask/instances") as r:
        assert r.status == 401  # the API still wants the key on every request


@pytest.mark.parametrize("dash", [{"key": "second-key-0123456789"}], indirect=True)
async def test_key_in_the_query_is_taken_once_and_removed_from_the_url(dash: Dash) -> None:
    async with dash.session.get(f"{dash.base}/dashboard/health?code=second-key-0123456789&tz=UTC", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/dashboard/health?tz=UTC"
    status, page = await dash.get("/dashboard/health")
    assert status == 200 and "second-key-0123456789" not in page.replace(dash.settings.hub_name, "")


async def test_hostile_instance_id_round_trips(dash: Dash) -> None:
    iid = '<script>"x"<img src=x onerror=alert(1)>\'🦄'
    await dash.client.schedule_new_orchestration("chain", input={"<b>": "'\""}, instance_id=iid)
    await dash.client.wait_for_orchestration_completion(iid, timeout=30)
    status, page = await dash.get("/dashboard/instances/" + quote(iid, safe=""))
    assert status == 200
    assert "&lt;script&gt;&quot;x&quot;&lt;img src=x onerror=alert(1)&gt;&#x27;🦄" in page
    assert "<script>" not in page and "<img" not in page
    _, listing = await dash.get("/dashboard/")
    assert "&lt;script&gt;" in listing and "<img" not in listing


async def test_entities_view_lists_shows_and_signals(dash: Dash) -> None:
    from taskhub.model.entities import EntityId

    await dash.client.signal_entity(EntityId("tally", "<b>k'1</b>"), "add", input=5)

    async def has_state() -> object:
        meta = await dash.client.get_entity(EntityId("tally", "<b>k'1</b>"))
        return meta and meta.state == 5

    await wait_for(has_state, 30, 0.2, message="tally has 5")
    _, page = await dash.get("/dashboard/entities")
    assert "@tally@&lt;b&gt;k&#x27;1&lt;/b&gt;" in page and "<b>k" not in page
    _, listing = await dash.get("/dashboard/?preset=all")
    assert "@tally@" not in listing  # entities are not orchestrations
    path = "/dashboard/entities/" + quote("@tally@<b>k'1</b>", safe="")
    status, page = await dash.get(path)
    assert status == 200 and "<pre>5</pre>" in page
    status, location, _ = await _post(dash, path, {"operation": "add", "input": "7"})
    assert status == 303 and "done=signal" in location

    async def twelve() -> object:
        meta = await dash.client.get_entity(EntityId("tally", "<b>k'1</b>"))
        return meta and meta.state == 12

    await wait_for(twelve, 30, 0.2, message="tally has 12")
    status, _, page = await _post(dash, path, {"operation": "add", "input": "{"})
    assert status == 400 and "the input is not JSON" in page
    status, page = await dash.get("/dashboard/entities/" + quote("@tally@nobody", safe=""))
    assert status == 404
