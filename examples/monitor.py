"""Monitor: poll a job's status with durable timers until it reports completed or the monitor expires.

Input: ``{"job_id": "j1", "poll_interval_seconds": 1, "expiry_seconds": 30, "ready_after_seconds": 2}``.
The monitor calls ``get_job_status`` every ``poll_interval_seconds`` (60 by default) until the job is
completed, then ``send_alert``; if ``expiry_seconds`` (one hour by default) pass first, it gives up.
It returns ``{"job_id", "status": "completed" | "expired", "polls"}`` and shows progress in its custom
status.

The "job" is simulated, deterministically: it is done ``ready_after_seconds`` after the monitor
started (never, when that is absent). The monitor passes its start time, read from the deterministic
``ctx.current_utc_datetime``, to the activity, which compares it with the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from taskhub.model.app import App
from taskhub.model.context import ActivityContext, OrchestrationContext

app = App()


@app.orchestrator
def monitor(ctx: OrchestrationContext, job: dict[str, Any]):  # type: ignore[no-untyped-def]
    started = ctx.current_utc_datetime
    expiry = started + timedelta(seconds=job.get("expiry_seconds", 3600))
    interval = timedelta(seconds=job.get("poll_interval_seconds", 60))
    probe = {
        "job_id": job["job_id"],
        "started_at": started.isoformat(),
        "ready_after_seconds": job.get("ready_after_seconds"),
    }
    polls = 0
    while ctx.current_utc_datetime < expiry:
        status = yield ctx.call_activity(get_job_status, input=probe)
        polls += 1
        ctx.set_custom_status({"polls": polls, "job_status": status})
        if status == "completed":
            yield ctx.call_activity(send_alert, input=f"job {job['job_id']} completed after {polls} polls")
            return {"job_id": job["job_id"], "status": "completed", "polls": polls}
        yield ctx.create_timer(min(ctx.current_utc_datetime + interval, expiry))
    return {"job_id": job["job_id"], "status": "expired", "polls": polls}


@app.activity
def get_job_status(ctx: ActivityContext, probe: dict[str, Any]) -> str:
    ready_after = probe.get("ready_after_seconds")
    if ready_after is None:
        return "running"
    ready_at = datetime.fromisoformat(probe["started_at"]) + timedelta(seconds=ready_after)
    return "completed" if datetime.now(UTC) >= ready_at else "running"


@app.activity
async def send_alert(ctx: ActivityContext, message: str) -> str:
    """Stands in for paging someone."""
    return message
