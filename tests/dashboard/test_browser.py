"""The dashboard in a real headless browser: Playwright for Python driving Debian's Chromium
(``scripts/browser-tier``, run by ``make test``, installs it as root; elsewhere, or with
``TASKHUB_BROWSER_TIER=0``, this tier is skipped with a one-line reason).

One hub, one worker and one server for the module: a fan-out of 20 with a retried activity, a timer and
an external event, plus finished, failed and running instances. Every test checks that the page logged
no console error and asked no host but the server.

``TASKHUB_DASHBOARD_SHOTS=docs`` also saves the README's screenshots there.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings
from taskhub.http.server import create_app
from tests.dashboard.apps import app as functions
from tests.dashboard.conftest import fast
from tests.helpers import wait_for
from worker import Worker

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

try:
    from playwright.async_api import Browser, BrowserContext, Page, async_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    async_playwright = None  # type: ignore[assignment]

if os.environ.get("TASKHUB_BROWSER_TIER", "1") == "0":
    pytest.skip("browser tier skipped: TASKHUB_BROWSER_TIER=0", allow_module_level=True)
if async_playwright is None:
    pytest.skip(
        "browser tier skipped: playwright is not installed (pip install -e '.[test]')",
        allow_module_level=True,
    )
if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
    pytest.skip(
        f"browser tier skipped: no Chromium at {CHROMIUM} (run scripts/browser-tier as root, or set CHROMIUM)",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]

GREEN, RED = "rgb(46, 157, 91)", "rgb(214, 69, 69)"


@dataclass
class Site:
    base: str
    client: TaskHubClient
    settings: Settings
    read_only_base: str = ""
    showcase: str = "fan-20"


async def _status(client: TaskHubClient, iid: str) -> str | None:
    s = await client.get_orchestration_state(iid, fetch_payloads=False)
    return s.runtime_status.value if s else None


async def _until(client: TaskHubClient, iid: str, status: str, timeout: float = 40) -> None:
    async def reached() -> bool:
        return await _status(client, iid) == status

    await wait_for(reached, timeout, 0.2, message=f"{iid} {status}")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def site(azurite_connection_string: str) -> AsyncIterator[Site]:
    settings = fast(
        Settings.load(
            None,
            env={
                "AzureWebJobsStorage": azurite_connection_string,
                "AzureFunctionsJobHost__extensions__durableTask__hubName": "b" + uuid.uuid4().hex[:12],
            },
        )
    )
    server = TestServer(create_app(settings), host="127.0.0.1")
    read_only = TestServer(create_app(settings, read_only=True), host="127.0.0.1")
    await server.start_server()
    await read_only.start_server()
    async with Worker(functions, settings), TaskHubClient(settings) as client:
        c = client
        await c.schedule_new_orchestration("showcase", input=20, instance_id="fan-20")
        for k in range(2):
            await c.schedule_new_orchestration("chain", input=k, instance_id=f"done-{k}")
        await c.schedule_new_orchestration("failing", input=7, instance_id="broken-1")
        await c.schedule_new_orchestration("waiter", input="w", instance_id="waiting-1")
        for iid in ("done-0", "done-1", "broken-1"):
            await c.wait_for_orchestration_completion(iid, timeout=60)
        await _until(c, "waiting-1", "Running")

        async def showcase_waits() -> bool:
            s = await c.get_orchestration_state("fan-20", fetch_payloads=False)
            return bool(s and s.serialized_custom_status and "go" in s.serialized_custom_status)

        await wait_for(showcase_waits, 60, 0.3, message="fan-20 waits for go")
        yield Site(
            str(server.make_url("")).rstrip("/"),
            client,
            settings,
            read_only_base=str(read_only.make_url("")).rstrip("/"),
        )
    await server.close()
    await read_only.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        await b.close()


@dataclass
class Tab:
    """A page that records console errors, failed requests and every host it contacted."""

    page: Page
    context: BrowserContext
    site: Site
    errors: list[str] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)

    async def go(self, path: str, base: str | None = None) -> Any:
        return await self.page.goto((base or self.site.base) + path)

    def assert_clean(self) -> None:
        allowed = {urlsplit(self.site.base).netloc, urlsplit(self.site.read_only_base).netloc}
        assert self.errors == []
        assert self.hosts <= allowed, f"requests to other hosts: {self.hosts - allowed}"


async def _tab(browser: Browser, site: Site, **options: Any) -> Tab:
    context = await browser.new_context(**options)
    page = await context.new_page()
    tab = Tab(page, context, site)

    def console(msg: Any) -> None:
        if msg.type == "error":
            tab.errors.append(msg.text)

    page.on("console", console)
    page.on("pageerror", lambda err: tab.errors.append(str(err)))
    page.on("request", lambda req: tab.hosts.add(urlsplit(req.url).netloc))
    page.on("response", lambda r: tab.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return tab


@pytest_asyncio.fixture(loop_scope="session")
async def tab(browser: Browser, site: Site) -> AsyncIterator[Tab]:
    t = await _tab(browser, site, viewport={"width": 1280, "height": 900})
    yield t
    await t.context.close()


def _row_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-id="([^"]*)"', html)


async def test_list_with_three_statuses_and_filters(tab: Tab) -> None:
    await tab.go("/dashboard/")
    counts = tab.page.locator("p.counts")
    assert await counts.locator('[data-status="Completed"] b').inner_text() == "2"
    assert await counts.locator('[data-status="Failed"] b').inner_text() == "1"
    assert await counts.locator('[data-status="Running"] b').inner_text() == "2"  # fan-20 and waiting-1
    await counts.locator('[data-status="Failed"]').click()
    assert _row_ids(await tab.page.content()) == ["broken-1"]
    await tab.page.get_by_role("link", name="Reset").click()
    await tab.page.get_by_label("Completed").check()
    await tab.page.get_by_label("Running").check()
    await tab.page.get_by_label("Id prefix").fill("done-")
    await tab.page.get_by_role("button", name="Apply").click()
    assert sorted(_row_ids(await tab.page.content())) == ["done-0", "done-1"]
    assert "status=Completed" in tab.page.url and "prefix=done-" in tab.page.url  # bookmarkable
    tab.assert_clean()


async def _fill(tab: Tab, color_selector: str) -> list[str]:
    return await tab.page.eval_on_selector_all(
        color_selector, "els => els.map(e => getComputedStyle(e).fill)"
    )


async def test_instance_page_timeline_rows_and_colours(tab: Tab, site: Site) -> None:
    await tab.go("/dashboard/instances/fan-20")
    svg = tab.page.locator("svg.timeline")
    assert await svg.locator("g.row.activity").count() == 21  # 20 fan-out calls + the retried call
    assert await svg.locator("g.row.timer").count() == 3  # two retry delays and the 1 s timer
    assert "flaky (3 attempts)" in await svg.text_content()
    labels = await svg.locator("g.row.activity text.label title").all_text_contents()
    assert sorted(x for x in labels if x.startswith("echo")) == sorted(f"echo #{k}" for k in range(1, 21))
    ticks = await svg.locator("g.tick line").evaluate_all("ls => ls.map(l => +l.getAttribute('x1'))")
    texts = await svg.locator("g.tick text").all_text_contents()
    first_gap = await svg.locator("g.gap rect").evaluate_all("rs => rs.map(r => +r.getAttribute('x'))")
    run = [(x, s) for x, s in zip(ticks, texts, strict=True) if not first_gap or x < first_gap[0]]
    assert len(run) >= 3 and run[0][1] == "+0.00 s", run
    spacing = [b[0] - a[0] for a, b in itertools.pairwise(run)]
    values = [float(s.strip("+ s")) for _, s in run]
    step = values[1] - values[0]
    assert max(spacing) - min(spacing) <= 1.0, run  # evenly spaced (to the pixel the x's are rounded to)
    assert all(abs(v - k * step) < 1e-6 for k, v in enumerate(values)), run  # on a round step
    assert await _fill(tab, "svg.timeline g.row.activity .bar.fail") == [RED, RED]
    assert set(await _fill(tab, "svg.timeline g.row.activity .bar.ok")) == {GREEN}
    assert await tab.page.locator("section.waiting").is_visible()

    await site.client.raise_orchestration_event("fan-20", "go", data="now")
    await site.client.wait_for_orchestration_completion("fan-20", timeout=30)
    await tab.go("/dashboard/instances/fan-20")
    assert await svg.locator("g.row.event").count() == 1
    assert await _fill(tab, "svg.timeline .bar.evt") == ["rgb(142, 68, 173)"]
    assert await tab.page.locator("section.waiting").count() == 0
    boxes = tab.page.locator("form.history-filter input[type=checkbox]")
    for k in range(await boxes.count()):
        await boxes.nth(k).uncheck()
    await tab.page.get_by_label("EventRaised").check()
    await tab.page.get_by_role("button", name="Filter").click()
    assert await tab.page.locator("table.history tbody tr").count() == 1
    tab.assert_clean()


async def _confirm(tab: Tab, iid: str, action: str, reason: str = "", **fields: str) -> None:
    await tab.go(f"/dashboard/instances/{iid}")
    await tab.page.locator(f'a[data-action="{action}"]').click()
    assert await tab.page.locator("form.confirm").is_visible()  # the confirmation step
    if reason:
        await tab.page.get_by_label("Reason").fill(reason)
    for label, value in fields.items():
        await tab.page.get_by_label(label).fill(value)
    await tab.page.locator("form.confirm button[type=submit]").click()


async def test_each_action_with_its_confirmation(tab: Tab, site: Site) -> None:
    c = site.client
    await c.schedule_new_orchestration("waiter", input="a", instance_id="act-1")
    await _until(c, "act-1", "Running")
    await _confirm(tab, "act-1", "suspend", "pause")
    await _until(c, "act-1", "Suspended")
    await _confirm(tab, "act-1", "resume", "go on")
    await _until(c, "act-1", "Running")
    await _confirm(
        tab, "act-1", "raise", **{"Event name": "approve", "Event data (JSON)": '{"by": "browser"}'}
    )
    done = await c.wait_for_orchestration_completion("act-1", timeout=30)
    assert done.output == {"answer": {"by": "browser"}, "value": "a"}

    await _confirm(tab, "act-1", "restart")
    new_id = tab.page.url.split("/dashboard/instances/")[1].split("?")[0]
    assert new_id != "act-1"
    await _until(c, new_id, "Running")
    await _confirm(tab, new_id, "terminate", "not needed")
    await _until(c, new_id, "Terminated")

    # rewind: offered for the failed instance; its broken activity runs again (and fails again)
    await tab.go(f"/dashboard/instances/{new_id}")
    assert await tab.page.locator('a[data-action="rewind"]').count() == 0  # Terminated: no rewind
    await _confirm(tab, "broken-1", "rewind", "try again")
    assert "/dashboard/instances/broken-1" in tab.page.url

    async def failed_again() -> bool:
        history = [e.event_type.name for e in await c.get_orchestration_history("broken-1")]
        return await _status(c, "broken-1") == "Failed" and history.count("TaskFailed") == 1

    await wait_for(failed_again, 30, 0.2, message="broken-1 rewound, run again and failed again")
    assert "GenericEvent" in [e.event_type.name for e in await c.get_orchestration_history("broken-1")]

    await _confirm(tab, new_id, "purge", "cleanup")
    assert await _status(c, new_id) is None
    assert tab.page.url.split("?")[0].endswith("/dashboard/")

    await tab.go("/dashboard/start")
    await tab.page.get_by_label("Orchestrator name").fill("chain")
    await tab.page.get_by_label("Instance id (empty: a new one)").fill("started-in-browser")
    await tab.page.get_by_label("Input (JSON)").fill("[1, 2]")
    await tab.page.get_by_role("button", name="Start").click()
    assert (await c.wait_for_orchestration_completion("started-in-browser", timeout=30)).output == [1, 2]
    tab.assert_clean()


async def test_read_only_mode(tab: Tab, site: Site) -> None:
    await tab.go("/dashboard/instances/waiting-1", base=site.read_only_base)
    assert await tab.page.locator("[data-action]").count() == 0
    assert await tab.page.locator(".badge.ro").inner_text() == "read-only"
    response = await tab.go("/dashboard/instances/waiting-1/terminate", base=site.read_only_base)
    assert response.status == 403
    assert "read-only" in await tab.page.locator("p.error").inner_text()
    tab.errors = [e for e in tab.errors if "403" not in e]  # the browser logs the refused page itself
    tab.assert_clean()


async def test_no_console_error_and_no_other_host_on_any_page(tab: Tab) -> None:
    for path in (
        "/dashboard/",
        "/dashboard/instances/fan-20",
        "/dashboard/instances/broken-1",
        "/dashboard/health",
        "/dashboard/start",
        "/dashboard/bulk/purge?preset=all",
        "/dashboard/?refresh=2",
        "/dashboard/entities",
    ):
        response = await tab.go(path)
        assert response.status == 200, path
    tab.assert_clean()
    assert len(tab.hosts) == 1


async def test_javascript_off(browser: Browser, site: Site) -> None:
    tab = await _tab(browser, site, java_script_enabled=False)
    try:
        await site.client.schedule_new_orchestration("waiter", instance_id="nojs-1")
        await _until(site.client, "nojs-1", "Running")
        await tab.go("/dashboard/?refresh=5")
        assert await tab.page.locator("noscript").count() >= 1  # the meta refresh stands in for the script
        await tab.page.get_by_label("Id prefix").fill("nojs-")
        await tab.page.get_by_role("button", name="Apply").click()
        assert _row_ids(await tab.page.content()) == ["nojs-1"]
        await tab.page.get_by_role("link", name="nojs-1").click()
        await _confirm(tab, "nojs-1", "terminate", "no script needed")
        assert "/dashboard/instances/nojs-1" in tab.page.url  # posted, then redirected back
        await _until(site.client, "nojs-1", "Terminated")
        tab.assert_clean()
    finally:
        await tab.context.close()


async def test_a_320_px_wide_window(browser: Browser, site: Site) -> None:
    tab = await _tab(browser, site, viewport={"width": 320, "height": 640})
    try:
        for path in ("/dashboard/", "/dashboard/instances/fan-20", "/dashboard/health"):
            await tab.go(path)
            width = await tab.page.evaluate("document.documentElement.scrollWidth")
            assert width <= 320, f"{path} is {width} px wide"
            assert await tab.page.locator("h1").is_visible()
        tab.assert_clean()
    finally:
        await tab.context.close()


async def test_a_time_zone_other_than_utc(browser: Browser, site: Site) -> None:
    tab = await _tab(browser, site, timezone_id="America/New_York")
    try:
        await tab.go("/dashboard/?prefix=done-0")
        utc_text = await tab.page.locator("tr[data-id=done-0] td.time").first.inner_text()
        assert "Created (UTC)" in await tab.page.locator("table.instances thead").inner_text()
        local = tab.page.locator("a[data-local-tz]")
        assert await local.inner_text() == "Local (America/New_York)"
        await local.click()
        assert "Created (America/New_York)" in await tab.page.locator("table.instances thead").inner_text()
        ny_text = await tab.page.locator("tr[data-id=done-0] td.time").first.inner_text()
        fmt = "%Y-%m-%d %H:%M:%S"
        shift = datetime.strptime(utc_text, fmt) - datetime.strptime(ny_text, fmt)
        assert shift == timedelta(hours=5)  # EST in November
        await tab.page.get_by_role("link", name="done-0").click()
        assert "Created (America/New_York)" in await tab.page.locator("dl.summary").inner_text()
        tab.assert_clean()
    finally:
        await tab.context.close()


async def test_a_durable_functions_payload_is_shown_decoded_once(tab: Tab, site: Site) -> None:
    # what the Durable Functions Python SDK stores for the input "from the SDK": JSON text inside JSON
    await site.client.schedule_new_orchestration("chain", input='"from the SDK"', instance_id="sdk-1")
    await site.client.wait_for_orchestration_completion("sdk-1", timeout=30)
    await tab.go("/dashboard/instances/sdk-1")
    first = tab.page.locator("details.payload").first
    assert await first.locator("pre").inner_text() == "from the SDK"
    assert "Shown decoded" in await first.inner_text()
    history = await tab.page.locator("table.history").inner_text()
    assert '"from the SDK"' in history and '\\"from the SDK' not in history
    tab.assert_clean()


async def test_health_says_why_a_queue_has_messages_but_no_oldest_age(tab: Tab, site: Site) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)  # its start message waits invisible for an hour
    await site.client.schedule_new_orchestration(
        "waiter", input="later", instance_id="later-1", start_at=later
    )
    queue = site.client.service.hub.names.control_queue_for("later-1")
    await tab.go("/dashboard/health")
    row = tab.page.locator("table.health tr", has=tab.page.locator(f"code:text-is('{queue}')"))
    held = row.locator("span.held")
    assert await held.inner_text() == "all held (invisible)"
    assert "invisible for now" in (await held.get_attribute("title") or "")
    assert "counts visible messages only" in await tab.page.locator("main").inner_text()
    tab.assert_clean()


@pytest.mark.skipif(
    not os.environ.get("TASKHUB_DASHBOARD_SHOTS"),
    reason="set TASKHUB_DASHBOARD_SHOTS=dir to save screenshots",
)
async def test_screenshots(browser: Browser, site: Site) -> None:
    out = Path(os.environ["TASKHUB_DASHBOARD_SHOTS"])
    tab = await _tab(browser, site, viewport={"width": 1280, "height": 860})
    try:
        for name, path in (
            ("dashboard-list.png", "/dashboard/?preset=all"),
            ("dashboard-instance.png", "/dashboard/instances/fan-20"),
            ("dashboard-health.png", "/dashboard/health"),
        ):
            await tab.go(path)
            await tab.page.screenshot(path=str(out / name), full_page=True)
        tab.assert_clean()
    finally:
        await tab.context.close()
