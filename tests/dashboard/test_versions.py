"""The dashboard shows each instance's version: a list column, a filter, and the instance page."""

from __future__ import annotations

from taskhub.client.status import OrchestrationState
from taskhub.format.history import OrchestrationStatus
from taskhub.http.dashboard.filters import ListFilter, select_page
from taskhub.http.dashboard.folding import waiting_on
from taskhub.http.dashboard.instance_page import InstanceView, render_instance
from taskhub.http.dashboard.layout import Frame
from taskhub.http.dashboard.list_page import render_list
from tests.dashboard.histories import H, at


def _s(iid: str, version: str, created: float) -> OrchestrationState:
    return OrchestrationState(
        iid, "order", OrchestrationStatus.RUNNING, created_at=at(created), last_updated_at=at(created), version=version
    )


STATES = [_s("a", "1.0", 1), _s("b", "2.0", 2), _s("c", "", 3), _s("d", "2.0", 4)]


def test_the_list_filters_by_version_and_shows_it_in_a_column() -> None:
    f = ListFilter.parse({"preset": "all", "version": "2.0"}, [])
    listing = select_page(STATES, f)
    assert [s.instance_id for s in listing.items] == ["d", "b"]
    page = render_list(Frame(hub="hub"), f, listing, at(10))
    assert "<th>Version</th>" in page and page.count('<td class="version">2.0</td>') == 2
    assert 'name="version" value="2.0"' in page
    assert ("version", "2.0") in f.params()


def test_a_dash_filters_the_instances_without_a_version() -> None:
    listing = select_page(STATES, ListFilter.parse({"preset": "all", "version": "-"}, []))
    assert [s.instance_id for s in listing.items] == ["c"]


def test_the_instance_page_names_the_version() -> None:
    events = H("order", 1, instance_id="a").events
    page = render_instance(Frame(hub="hub"), InstanceView(STATES[0], events, waiting_on(events)), at(10))
    assert "<dt>Version</dt><dd>1.0</dd>" in page
    page = render_instance(Frame(hub="hub"), InstanceView(STATES[2], events, waiting_on(events)), at(10))
    assert "<dt>Version</dt><dd>(none)</dd>" in page
