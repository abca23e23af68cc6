"""One orchestration episode, purely: (history so far, messages of a batch) -> rows to append + messages.

``EpisodeBuilder`` is the one pure step on each side of the executor seam. It appends
``OrchestratorStarted(now)`` and the batch's events to the execution, hands the execution to an executor
(``OrchestrationWork``), and applies the executor's ``Decisions`` (``worker.engine.decisions``) to build
the episode; ``run_episode`` drives it in this process (synchronously: the pure tier's way in),
``decide_episode`` through an executor (``worker.executors``). The episode holds

- ``Episode.history``: the events to append, in order: ``OrchestratorStarted``, the batch's events,
  one decision event per new action (EventId = action id), ``ExecutionCompleted`` when the execution
  ended (EventId = the next action id), ``OrchestratorCompleted`` (storage-format.md 9.1);
- ``Episode.outbound``: the messages to send (storage-format.md 3.9), as :class:`Outbound`.

ContinueAsNew is handled in the same call, as DTFx's dispatcher does for this backend (4.6): the old
execution's last episode is never written; a new execution starts with
``[OrchestratorStarted, ExecutionStarted(new execution id), carried EventRaised...]`` and runs at once,
again while it continues as new (at most ``MAX_CONTINUE_AS_NEW_PER_EPISODE`` times). ``history`` is
then the new execution's whole history, to be written from RowKey 0. Of the old execution's messages
only those to other instances (sub-orchestration starts, events sent) go out; activities and timers
are dropped, as in DTFx.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from taskhub.format.history import (
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    FailureDetails,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
)
from taskhub.model.app import App
from worker.engine.decisions import Decisions, OrchestrationWork
from worker.engine.in_process import decide
from worker.engine.outbound import (
    FIRE_AND_FORGET_TAG,
    Outbound,
    decision_event,
    execution_id_of,
    messages_of,
    next_execution,
)
from worker.engine.replay import failure_details_of
from worker.engine.state import Completion

__all__ = [
    "run_episode",
    "decide_episode",
    "EpisodeBuilder",
    "Episode",
    "Outbound",
    "MAX_CONTINUE_AS_NEW_PER_EPISODE",
    "FIRE_AND_FORGET_TAG",
]

MAX_CONTINUE_AS_NEW_PER_EPISODE = 1000
"""More immediate continue-as-new rounds than this in one episode fail the orchestration (a loop)."""


@dataclass
class Episode:
    """What one episode produced; see the module docstring."""

    instance_id: str
    execution_id: str
    """The execution ``history`` belongs to (the new one after continue-as-new)."""
    started: ExecutionStartedEvent
    """That execution's ``ExecutionStarted`` (name, input, tags, parent, generation for the Instances row)."""
    history: list[HistoryEvent]
    outbound: list[Outbound]
    runtime_status: OrchestrationStatus
    custom_status: str | None = None
    """JSON text, or ``None`` when the code set no custom status."""
    output: str | None = None
    failure_details: FailureDetails | None = None
    continued_as_new: bool = False
    new_execution_id: str | None = None
    """Set when the episode continued as new: ``history`` then starts at RowKey 0 of this execution."""
    discarded: list[tuple[HistoryEvent, str]] = field(default_factory=list)
    """Incoming events that were not applied, each with the reason."""
    session: object | None = None
    """Where the executor left the orchestrator, when it can carry on in the next episode (pass it as
    ``session`` with the history this episode's checkpoint wrote); ``None`` when the execution ended or
    the executor replays every episode."""


class EpisodeBuilder:
    """The pure step between the engine and an executor: admits the batch's events, hands out the work
    of each execution (``work``), applies the executor's decisions to it (``apply``) and builds the
    episode (``episode``). Driven by :func:`run_episode` (in this process, synchronously) or by the
    pipeline (``worker.pipeline.orchestrations``, through an executor, asynchronously)::

        decisions = executor(builder.work(session))
        while builder.apply(decisions):      # continued as new: the new execution runs at once
            decisions = executor(builder.work())
        episode = builder.episode()
    """

    def __init__(
        self,
        *,
        instance_id: str,
        past_events: Sequence[HistoryEvent],
        incoming_events: Sequence[HistoryEvent],
        now: datetime,
        new_guid: Callable[[], str],
    ) -> None:
        if now.tzinfo is None:
            raise ValueError(f"now must be timezone-aware (UTC), got {now.isoformat()}")
        self.instance_id = instance_id
        self.now = now
        self.new_guid = new_guid
        self.discarded: list[tuple[HistoryEvent, str]] = []
        incoming = _admit(past_events, incoming_events, self.discarded)
        self.past: list[HistoryEvent] = list(past_events)
        self.new: list[HistoryEvent] = [OrchestratorStartedEvent(timestamp=now), *incoming]
        self.outbound: list[Outbound] = []
        self.custom_status: str | None = None
        self.continues = 0
        self._last: Decisions | None = None

    def work(self, session: object | None = None) -> OrchestrationWork:
        """The execution to decide now (``session``: where the executor left it last episode)."""
        return OrchestrationWork(self.instance_id, self.past, self.new, session)

    def apply(self, decisions: Decisions) -> bool:
        """Apply one execution's decisions; True when it continued as new and the new execution must be
        decided now (``work()`` then describes it)."""
        if decisions.custom_status is not None:
            self.custom_status = decisions.custom_status
        completion = decisions.completion
        self._last = decisions
        if completion is None or completion.status is not OrchestrationStatus.CONTINUED_AS_NEW:
            return False
        if self.continues == MAX_CONTINUE_AS_NEW_PER_EPISODE:
            self._last = _too_many_continues(decisions, completion)
            return False
        self.continues += 1
        now, instance_id = self.now, self.instance_id
        old = messages_of(decisions, instance_id, now, self.new_guid)
        self.outbound.extend(message for message in old if message.kind == "orchestrator")
        started = next_execution(decisions.started, completion, instance_id, self.new_guid(), now)
        carried = [replace(event, is_played=True) for event in completion.carried_events]
        self.past, self.new = [], [OrchestratorStartedEvent(timestamp=now), started, *carried]
        return True

    def episode(self) -> Episode:
        """The episode of the last decisions applied: history rows, messages, status."""
        result, now = self._last, self.now
        if result is None:
            raise RuntimeError("no decisions were applied to this episode")
        self.outbound.extend(messages_of(result, self.instance_id, now, self.new_guid))
        completion = result.completion
        history = [*self.new, *(decision_event(action, now) for action in result.actions)]
        if completion is not None:
            history.append(
                ExecutionCompletedEvent(
                    event_id=completion.action_id,
                    orchestration_status=completion.status,
                    result=completion.result,
                    failure_details=completion.failure_details,
                    timestamp=now,
                )
            )
        history.append(OrchestratorCompletedEvent(timestamp=now))
        execution_id = execution_id_of(result.started)
        if completion is not None:
            status = completion.status
        else:
            status = OrchestrationStatus.SUSPENDED if result.is_suspended else OrchestrationStatus.RUNNING
        return Episode(
            instance_id=self.instance_id,
            execution_id=execution_id,
            started=result.started,
            history=history,
            outbound=self.outbound,
            runtime_status=status,
            custom_status=self.custom_status,
            output=completion.result if completion else None,
            failure_details=completion.failure_details if completion else None,
            continued_as_new=self.continues > 0,
            new_execution_id=execution_id if self.continues > 0 else None,
            discarded=self.discarded,
            session=result.session if completion is None else None,
        )


def run_episode(
    app: App,
    *,
    instance_id: str,
    past_events: Sequence[HistoryEvent],
    incoming_events: Sequence[HistoryEvent],
    now: datetime,
    new_guid: Callable[[], str],
    session: object | None = None,
    keeps_sessions: bool = True,
) -> Episode:
    """Run one episode of ``instance_id`` in this process; ``now`` (aware) stamps every new event;
    ``new_guid()`` gives execution ids (32 hex digits) for started sub-orchestrations and continue-as-new.
    With ``session`` (the ``session`` of the episode that wrote the end of ``past_events``) the
    orchestrator carries on from there instead of being replayed from the start; ``keeps_sessions`` False
    (an executor that replays every episode) never hands one back."""
    builder = EpisodeBuilder(
        instance_id=instance_id, past_events=past_events, incoming_events=incoming_events, now=now, new_guid=new_guid
    )
    decisions = decide(app, builder.work(session), keeps_sessions=keeps_sessions)
    while builder.apply(decisions):
        decisions = decide(app, builder.work(), keeps_sessions=keeps_sessions)
    return builder.episode()


async def decide_episode(
    execute: Callable[[OrchestrationWork], Awaitable[Decisions]], builder: EpisodeBuilder, session: object | None
) -> Episode:
    """The episode ``builder`` describes, decided by an executor (``worker.executors.base``)."""
    decisions = await execute(builder.work(session))
    while builder.apply(decisions):
        decisions = await execute(builder.work())
    return builder.episode()


def _admit(
    past: Sequence[HistoryEvent], incoming: Sequence[HistoryEvent], discarded: list[tuple[HistoryEvent, str]]
) -> list[HistoryEvent]:
    """The incoming events to apply (marked played), the ExecutionStarted first; duplicates discarded."""
    started_before = any(isinstance(event, ExecutionStartedEvent) for event in past)
    start: HistoryEvent | None = None
    rest: list[HistoryEvent] = []
    for event in incoming:
        if not isinstance(event, ExecutionStartedEvent):
            rest.append(replace(event, is_played=True))
        elif started_before or start is not None:
            discarded.append((event, "duplicate ExecutionStarted: this execution has already started"))
        else:
            start = replace(event, is_played=True)
    if not started_before and start is None:
        raise ValueError("neither the history nor the incoming events hold an ExecutionStarted event")
    return [start, *rest] if start is not None else rest


def _too_many_continues(result: Decisions, completion: Completion) -> Decisions:
    error = RuntimeError(
        f"orchestrator {result.started.name!r} continued as new {MAX_CONTINUE_AS_NEW_PER_EPISODE} times in one "
        "episode without waiting for anything; this looks like an endless loop"
    )
    failed = Completion(
        action_id=completion.action_id,
        status=OrchestrationStatus.FAILED,
        failure_details=failure_details_of(error),
    )
    return replace(result, actions=[], completion=failed)


