"""An HTTP start on ``taskhub serve`` with a W3C ``traceparent`` header: the client's
``create_orchestration`` span is a child of the caller's span, in the caller's trace, and the start
message carries the new span as ``ExecutionStarted.ParentTraceContext`` (what a worker continues)."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings
from taskhub.format.history import ExecutionStartedEvent
from taskhub.http.server import create_app
from taskhub.telemetry.tracing import parse_traceparent

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_incoming_traceparent_parents_the_start(settings: Settings, span_exporter: Any) -> None:
    exporter = span_exporter
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            url = server.make_url("/runtime/webhooks/durabletask/orchestrators/Hello/traced-http")
            async with http.post(url, json="x", headers={"traceparent": CALLER}) as resp:
                assert resp.status == 202, await resp.text()
    finally:
        await server.close()
    created = [s for s in exporter.get_finished_spans() if s.name == "create_orchestration:Hello"]
    assert len(created) == 1
    span = created[0]
    assert f"{span.context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span.parent is not None and f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert span.attributes["durabletask.task.instance_id"] == "traced-http"
    async with TaskHubClient(settings) as client:
        queue = client.service.hub.names.control_queue_for("traced-http")
        messages = await client.service.hub.storage.peek_messages(queue, max_messages=32)
        starts = [await client.service.hub.queues.decode(m) for m in messages]
    events = [m.event for m in starts if isinstance(m.event, ExecutionStartedEvent)]
    assert len(events) == 1 and events[0].parent_trace_context is not None
    carried = parse_traceparent(events[0].parent_trace_context.trace_parent)
    assert carried is not None and carried.span_id == span.context.span_id
