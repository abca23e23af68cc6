"""``taskhub func start`` with a ``traceparent`` header on the app's own HTTP starter: the start that the
Durable Functions SDK client makes (over the local RPC, carrying the function's trace context) is a
child of the caller's span, and the orchestration's span follows under it, all in the caller's trace.
With ``TASKHUB_METRICS=1`` the same server answers ``/metrics`` with the activities it ran.
The func-start process writes its spans to a file (tests/functions/otel_site/sitecustomize.py)."""

from __future__ import annotations

import time
import urllib.request
import uuid
from pathlib import Path

from tests.functions.host import ROOT, request, start_func
from tests.otel_jsonl import SPANS_ENV, read

SITE = Path(__file__).resolve().parent / "otel_site"
TRACE_ID, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


def test_a_traceparent_on_an_http_starter_parents_the_orchestration(
    azurite_connection_string: str, tmp_path: Path
) -> None:
    spans_file = tmp_path / "spans.jsonl"
    hub = "T" + uuid.uuid4().hex[:12]
    extra = {"PYTHONPATH": f"{SITE}:{ROOT}", SPANS_ENV: str(spans_file), "TASKHUB_METRICS": "1"}
    host = start_func("v2", tmp_path, azurite_connection_string, hub, extra_env=extra)
    try:
        req = urllib.request.Request(
            host.origin + "/api/orchestrators/hello_sequence",
            data=b"null",
            method="POST",
            headers={"Content-Type": "application/json", "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 202
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = read(spans_file)
            if any(s["name"] == "orchestration:hello_sequence" for s in found):
                break
            time.sleep(0.3)
        metrics = request("GET", host.origin + "/metrics")
    finally:
        host.stop()
    assert metrics.status == 200
    text = metrics.body.decode()
    assert 'taskhub_activities_total{name="say_hello",result="completed"} 2' in text
    assert 'taskhub_activities_total{name="shout",result="completed"} 1' in text
    mine = [s for s in found if s["trace_id"] == TRACE_ID]
    created = [s for s in mine if s["name"] == "create_orchestration:hello_sequence"]
    assert len(created) == 1, [s["name"] for s in found]
    assert created[0]["parent_id"] == CALLER_SPAN
    orchestration = [s for s in mine if s["name"] == "orchestration:hello_sequence"]
    assert len(orchestration) == 1 and orchestration[0]["parent_id"] == created[0]["span_id"]
    activities = [s for s in mine if s["name"].startswith("activity:") and s["kind"] == "SERVER"]
    assert sorted(s["name"] for s in activities) == [
        "activity:say_hello",
        "activity:say_hello",
        "activity:shout",
    ]
