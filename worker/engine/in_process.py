"""Deciding an orchestration in this process: ``OrchestrationWork`` -> ``Decisions`` by replaying (or
carrying on) the orchestrator of a ``taskhub.App`` (``worker.engine.replay``). Pure and synchronous: the
in-process executors (``worker.executors.app``) and the pure ``run_episode`` both call it."""

from __future__ import annotations

from taskhub.model.app import App
from worker.engine.decisions import Decisions, OrchestrationWork
from worker.engine.replay import Replay

__all__ = ["decide"]


def decide(app: App, work: OrchestrationWork, *, keeps_sessions: bool = True) -> Decisions:
    """Run ``work`` through ``app``'s orchestrator: carry on from ``work.session`` (a ``Replay``) when it
    is one, else replay from the start. With ``keeps_sessions`` the orchestrator comes back as the
    decisions' ``session`` while it can carry on."""
    session = work.session
    if isinstance(session, Replay):
        replay, result = session, session.resume(work.past, work.new)
    else:
        replay, result = Replay.start(app, work.past, work.new, instance_id=work.instance_id)
    return Decisions(
        actions=result.actions,
        completion=result.completion,
        custom_status=result.custom_status,
        started=result.started,
        is_suspended=result.is_suspended,
        session=replay if keeps_sessions and replay.can_resume else None,
    )
