"""The steps every work item of a control queue shares, orchestration or entity: admit (poison what
was taken too often, sort the rest), run, and give the whole batch back when running fails; and the
dispatch of a batch to the runner of its kind (``ControlQueueWork``).

The kinds' own steps: ``worker.pipeline.orchestrations`` (load, triage, decide, commit) and
``worker.pipeline.entities`` (load, accept, run the batch, commit).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from taskhub.format.entities import is_entity_instance
from worker.backends.base import CommitConflict, OrchestrationWorkItems, WorkMessage

__all__ = ["admit", "run_or_give_back", "Runner", "ControlQueueWork", "RetryTogether", "RETRY_TOGETHER_S"]

log = logging.getLogger(__name__)


async def admit(
    items: OrchestrationWorkItems, instance_id: str, messages: Sequence[WorkMessage], *, threshold: int, what: str
) -> list[WorkMessage]:
    """The messages to work on, in order; those taken more than ``threshold`` times go to the poison
    queue first (``poisonMessageThreshold``)."""
    for m in messages:
        if m.dequeue_count > threshold:
            await items.poison(
                m,
                f"{m.event.event_type.name} for {what} {instance_id!r} was dequeued {m.dequeue_count} times "
                f"without being processed (poisonMessageThreshold is {threshold})",
            )
    return sorted((m for m in messages if m.dequeue_count <= threshold), key=lambda m: m.order_key)


RETRY_TOGETHER_S = 1


class RetryTogether(Exception):
    """A commit failed after its messages may have gone out: the batch must be decided again as it was
    (``worker.pipeline.episode_memo``), so its messages go back with one short delay and come back
    together, not each after its own backoff (a batch whose messages came back apart waited for the
    missing ones until the memo gave up, and then decided afresh)."""


async def run_or_give_back(
    items: OrchestrationWorkItems,
    instance_id: str,
    messages: Sequence[WorkMessage],
    work: Awaitable[None],
    *,
    forget: Callable[[Sequence[str]], None],
    kind: str,
    worker_id: str,
) -> None:
    """Run one work item; when it fails, forget what this process cached for the instance and give the
    whole batch back at once: after a lost commit race without delay, after any other failure with the
    backoff of runtime.md 7.5, retried while the storage fails. Never left hidden until a visibility
    timeout."""
    try:
        await work
    except CommitConflict:
        forget([instance_id])
        await items.give_back(messages, at_once=True)
    except RetryTogether as err:
        forget([instance_id])
        cause = err.__cause__ or err
        action = f"{kind} {instance_id}: its messages go back to the queue, to be processed again together in 1 s"
        if not items.report(cause, action):
            log.warning("%s.commit_failed instance_id=%s worker_id=%s error=%s", kind, instance_id, worker_id, cause)
        await items.give_back(messages, delay=RETRY_TOGETHER_S)
    except Exception as err:
        forget([instance_id])
        action = f"{kind} {instance_id}: its messages go back to the queue and are processed again in a few seconds"
        if not items.report(err, action):
            log.exception("%s.process_failed instance_id=%s worker_id=%s", kind, instance_id, worker_id)
        await items.give_back(messages)


class Runner(Protocol):
    async def process(self, instance_id: str, messages: Sequence[WorkMessage]) -> None: ...

    def forget(self, instance_ids: Sequence[str] | None = None) -> None: ...


class ControlQueueWork:
    """A control queue's work item goes to the runner of its kind: instance ids starting with '@' are
    entities (entities.md 1.1), the others orchestrations."""

    def __init__(self, orchestrations: Runner, entities: Runner) -> None:
        self.orchestrations = orchestrations
        self.entities = entities

    async def process(self, instance_id: str, messages: Sequence[WorkMessage]) -> None:
        runner = self.entities if is_entity_instance(instance_id) else self.orchestrations
        await runner.process(instance_id, messages)

    def forget(self, instance_ids: Sequence[str] | None = None) -> None:
        """Drop what this process keeps of these instances (all: a lost lease, a failed episode)."""
        self.orchestrations.forget(instance_ids)
        self.entities.forget(instance_ids)
