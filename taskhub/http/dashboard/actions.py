"""What the dashboard's buttons do, on the client: the same rules as the HTTP management API (a finished
instance takes no event, terminate, suspend or resume; restart starts the same input again), and bulk
jobs that apply one action to every instance of a filter, reporting progress as they go.

``rewind`` and ``restart`` are the client's ``rewind_orchestration`` and ``restart_orchestration``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from taskhub.client.async_client import TaskHubClient
from taskhub.client.status import OrchestrationState
from taskhub.errors import OrchestrationNotFoundError, OrchestrationStateError
from taskhub.format.history import OrchestrationStatus
from taskhub.http.dashboard.other_pages import Job

__all__ = ["ACTIONS", "BULK_ACTIONS", "perform", "eligible", "run_job", "parse_json_text"]

log = logging.getLogger(__name__)

ACTIONS = ("raise", "suspend", "resume", "terminate", "restart", "rewind", "purge")
BULK_ACTIONS = ("terminate", "purge", "restart")
_ACTIVE = ("Pending", "Running", "Suspended", "ContinuedAsNew")
_BULK_CONCURRENCY = 8


def parse_json_text(text: str, what: str) -> Any:
    """A form's JSON field: empty is null; anything else must be JSON (ValueError says where it broke)."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValueError(f'{what} is not JSON ({err}); write e.g. {{"a": 1}}, "text" or 42') from None


def _require_active(state: OrchestrationState, action: str) -> None:
    if state.runtime_status.value not in _ACTIVE:
        raise OrchestrationStateError(
            state.instance_id,
            state.runtime_status.value,
            action,
            "only Pending, Running or Suspended instances",
        )


async def perform(client: TaskHubClient, action: str, instance_id: str, form: dict[str, str]) -> str | None:
    """Do ``action``; returns the instance id to show next (None after a purge)."""
    state = await client.get_orchestration_state(instance_id, fetch_payloads=action == "restart")
    if state is None:
        raise OrchestrationNotFoundError(instance_id)
    reason = form.get("reason", "").strip() or None
    if action == "raise":
        name = form.get("event", "").strip()
        if not name:
            raise ValueError("the event name is empty; type the name the orchestration waits for")
        data = parse_json_text(form.get("data", ""), "the event data")
        _require_active(state, "raise an event to")
        await client.raise_orchestration_event(instance_id, name, data=data)
    elif action in ("suspend", "resume", "terminate"):
        _require_active(state, action)
        if action == "terminate":
            await client.terminate_orchestration(instance_id, output=reason)
        elif action == "suspend":
            await client.suspend_orchestration(instance_id, reason=reason)
        else:
            await client.resume_orchestration(instance_id, reason=reason)
    elif action == "restart":
        return await restart(client, state, new_id=form.get("new_id") == "true")
    elif action == "rewind":
        await client.rewind_orchestration(instance_id, reason=reason)
    elif action == "purge":
        await client.purge_orchestration(instance_id)
        log.info("dashboard.purged instance_id=%s reason=%s", instance_id, reason)
        return None
    else:
        raise ValueError(f"unknown action {action!r}; allowed: {', '.join(ACTIONS)}")
    log.info("dashboard.action action=%s instance_id=%s reason=%s", action, instance_id, reason)
    return instance_id


async def restart(client: TaskHubClient, state: OrchestrationState, *, new_id: bool) -> str:
    return await client.restart_orchestration(state.instance_id, new_instance_id=new_id)


def eligible(action: str, s: OrchestrationState) -> bool:
    """Whether a bulk ``action`` applies to ``s``: terminate active ones, purge finished ones, restart all."""
    if action == "terminate":
        return s.runtime_status.value in _ACTIVE
    if action == "purge":
        return s.runtime_status.is_terminal and s.runtime_status is not OrchestrationStatus.CONTINUED_AS_NEW
    return True


async def run_job(client: TaskHubClient, job: Job, instance_ids: list[str], reason: str | None) -> None:
    """Apply ``job.action`` to each instance, a few at a time, counting done and failed in ``job``."""
    sem = asyncio.Semaphore(_BULK_CONCURRENCY)

    async def one(iid: str) -> None:
        async with sem:
            try:
                if job.action == "terminate":
                    await client.terminate_orchestration(iid, output=reason)
                elif job.action == "purge":
                    await client.purge_orchestration(iid)
                else:
                    state = await client.get_orchestration_state(iid)
                    if state is None:
                        raise OrchestrationNotFoundError(iid)
                    await restart(client, state, new_id=True)
                job.done += 1
            except Exception as err:  # one instance's failure is reported, the job goes on
                job.failed += 1
                job.errors.append(f"{iid}: {err}")
                log.warning("dashboard.bulk_failed action=%s instance_id=%s error=%s", job.action, iid, err)

    try:
        await asyncio.gather(*(one(i) for i in instance_ids))
    finally:
        job.finished = True
        log.info("dashboard.bulk_done action=%s done=%d failed=%d", job.action, job.done, job.failed)
