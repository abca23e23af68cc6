"""Human interaction: ask for an approval, then wait for the answer or escalate after a timeout.

The orchestration calls ``request_approval``, then races an external event ``ApprovalEvent`` against a
durable timer (72 hours unless the input says otherwise). If the event wins, the timer is cancelled and
``process_approval`` records the decision; if the timer wins, ``escalate`` runs.

Input: ``{"proposal": {...}, "timeout_seconds": 5}`` (``timeout_seconds`` is optional). Approve with
``client.raise_orchestration_event(instance_id, "ApprovalEvent", data=True)``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext
from taskhub.model.tasks import when_any

app = App()
log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = timedelta(hours=72)


@app.orchestrator
def approval_workflow(ctx: OrchestrationContext, request: dict[str, Any]):  # type: ignore[no-untyped-def]
    proposal = request.get("proposal")
    seconds = request.get("timeout_seconds")
    timeout_after = DEFAULT_TIMEOUT if seconds is None else timedelta(seconds=seconds)

    yield ctx.call_activity(request_approval, input=proposal)
    timeout = ctx.create_timer(timeout_after)
    approval = ctx.wait_for_external_event("ApprovalEvent")
    winner = yield when_any([approval, timeout])
    if winner is approval:
        timeout.cancel()
        decision = {"proposal": proposal, "approved": approval.get_result()}
        return (yield ctx.call_activity(process_approval, input=decision))
    return (yield ctx.call_activity(escalate, input=proposal))


@app.activity
def request_approval(ctx: ActivityContext, proposal: Any) -> None:
    """Stands in for sending an e-mail or a chat message to the approver."""
    log.info("approval requested for %r (instance %s)", proposal, ctx.orchestration_id)


@app.activity
async def process_approval(ctx: ActivityContext, decision: dict[str, Any]) -> str:
    verdict = "approved" if decision.get("approved") else "rejected"
    return f"{verdict}: {_title(decision.get('proposal'))}"


@app.activity
def escalate(ctx: ActivityContext, proposal: Any) -> str:
    return f"escalated: {_title(proposal)}"


def _title(proposal: Any) -> str:
    if isinstance(proposal, dict):
        return str(proposal.get("project") or proposal.get("title") or proposal)
    return str(proposal)
