"""Inputs and outputs over the 45 KiB queue limit and the 60 KiB column limit."""

from __future__ import annotations

from typing import Any

from taskhub.format.history import EventType, OrchestrationStatus
from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from tests.e2e.conftest import E2E
from tests.format_check import read_history_rows, read_instance_rows

app = App()


@app.activity
def grow(ctx: ActivityContext, payload: dict[str, Any]) -> dict[str, Any]:
    return {"text": payload["text"] + "!" * 1000, "seen": len(payload["text"])}


@app.orchestrator
def big_round_trip(ctx: OrchestrationContext, payload: dict[str, Any]):  # type: ignore[no-untyped-def]
    result = yield ctx.call_activity(grow, input=payload)
    return {"text": result["text"], "seen": result["seen"], "tail": payload["tail"]}


async def test_a_large_input_and_output_round_trip_through_an_orchestration_and_an_activity(e2e: E2E) -> None:
    text = "".join(chr(0x41 + i % 26) for i in range(80 * 1024)) + "é"  # 80 KiB and a non-ASCII tail
    iid = await e2e.client.schedule_new_orchestration(big_round_trip, input={"text": text, "tail": "ünï"})
    state = await e2e.client.wait_for_orchestration_completion(iid, timeout=30)

    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.output == {"text": text + "!" * 1000, "seen": len(text), "tail": "ünï"}
    assert state.input == {"text": text, "tail": "ünï"}

    hub = e2e.client.service.hub
    blobs = await hub.storage.list_blobs(hub.names.large_message_container, prefix=iid)
    kinds = {name.rsplit("-", 1)[-1] for name in blobs}
    assert any("/message-" in b and b.endswith("ExecutionStarted.json.gz") for b in blobs)
    assert any("/message-" in b and b.endswith("TaskScheduled.json.gz") for b in blobs)
    assert any("/message-" in b and b.endswith("TaskCompleted.json.gz") for b in blobs)
    assert {"Input.json.gz", "Result.json.gz"} <= kinds  # history columns offloaded

    rows = {r["RowKey"]: r for r in read_history_rows(hub) if r["PartitionKey"] == iid}
    started = next(r for r in rows.values() if r.get("EventType") == "ExecutionStarted")
    assert started["Input"] == "" and started["InputBlobName"].startswith(f"{iid}/history-")
    instance = next(r for r in read_instance_rows(hub) if r["PartitionKey"] == iid)
    assert instance["Input"].startswith("http") and instance["Output"].startswith("http")

    history = await e2e.history(iid)  # the reader puts the blob contents back
    completed = next(e for e in history if e.event_type is EventType.TaskCompleted)
    assert len(completed.result) > 80 * 1024
