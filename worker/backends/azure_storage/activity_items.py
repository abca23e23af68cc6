"""Activity work items on Azure Storage (``worker.backends.base.ActivityWorkItems``): the work-item queue,
taken with a short visibility and kept hidden by renewals while held (``taskhub.hub.queues``); a result
goes to the orchestration's control queue before the work item is deleted (runtime.md 7.6), or, with
local dispatch, straight into this process's session of the orchestration.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from taskhub.format.history import (
    FailureDetails,
    HistoryEvent,
    OrchestrationInstance,
    TaskFailedEvent,
    TaskScheduledEvent,
)
from taskhub.format.messages import MessageData
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.queues import Inbound, LocalConsumer, held_visibility
from worker.backends.azure_storage.checkpoint import CheckpointsInProgress
from worker.backends.azure_storage.listener import set_aside
from worker.backends.azure_storage.work_items import inbound, reject_messages
from worker.backends.base import WorkMessage

__all__ = ["AzureActivityItems", "COMPLETE_DELAYS"]

log = logging.getLogger(__name__)

COMPLETE_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits between the attempts to send an activity's result (about 15 s in all)."""


def _name(m: Inbound) -> str | None:
    return m.event.name if isinstance(m.event, TaskScheduledEvent) else None


class AzureActivityItems:
    def __init__(self, hub: TaskHub, in_progress: CheckpointsInProgress) -> None:
        self.hub = hub
        self.in_progress = in_progress
        s = hub.settings.storage
        self.queue = hub.names.work_item_queue
        self.visibility = held_visibility(
            s.work_item_queue_visibility_timeout, s.lease_interval, s.lease_renew_interval
        )

    async def fetch(self, max_messages: int) -> list[WorkMessage]:
        batch = await self.hub.queues.receive(
            self.queue, max_messages=max_messages, visibility_timeout=self.visibility, hold=True
        )
        taken: list[WorkMessage] = []
        for m in batch:
            if m.data is not None:
                taken.append(m)
                continue
            try:
                await set_aside(self.hub, m)
            finally:
                self.hub.queues.held.let_go([m])
        return taken

    async def reject(self, messages: Sequence[WorkMessage]) -> None:
        await reject_messages(self.hub, messages)

    async def settled(self, instance_id: str) -> None:
        await self.in_progress.settled(instance_id)

    async def complete(self, message: WorkMessage, result: HistoryEvent, *, hand_over: bool) -> bool:
        """Send the result, then delete the work item (runtime.md 7.6). The work item stays held while
        a failing send is retried with backoff; if it never goes through, the work item goes back at
        once (abandoned with backoff). A repeated send after a timeout may duplicate the completion:
        the orchestration drops completions it has seen. With ``hand_over`` the result goes straight
        into this process's session of the orchestration when there is one (True), carried by the held
        work item, which that session's checkpoint deletes."""
        m, queues = inbound(message), self.hub.queues
        episode = m.data.episode if m.data is not None and m.data.episode is not None else -1
        md = queues.envelope(result, m.instance, sender=m.instance, episode=episode)
        if hand_over:
            control = self.hub.names.control_queue_for(m.instance.instance_id or "")
            if queues.local.deliver(control, Inbound(m.raw, md)):
                return True
        for attempt, wait in enumerate((*COMPLETE_DELAYS, None), start=1):
            try:
                await queues.send_to_instance(md, local=True)
                break
            except Exception as err:
                name = _name(m)
                if wait is None:
                    action = f"activity {name!r}: result not sent; its work item is given back to run again"
                    if not self.hub.storage.conditions.report(err, action):
                        log.error("activities.complete_failed id=%s name=%s error=%s", m.raw.id, name, err)
                    await queues.give_back(m)
                    return False
                action = f"activity {name!r}: sends its result again in {wait:g} s (attempt {attempt})"
                if not self.hub.storage.conditions.report(err, action):
                    log.warning(
                        "activities.complete_retry id=%s name=%s attempt=%d error=%s",
                        m.raw.id,
                        name,
                        attempt,
                        err,
                    )
                await asyncio.sleep(wait)
        for wait in (*COMPLETE_DELAYS[:3], None):
            try:
                await queues.delete(m)
                return False
            except Exception as err:  # it reappears and runs again; its completion is then dropped
                if wait is None:
                    action = "work item not deleted: it reappears later and its second result is dropped"
                    if not self.hub.storage.conditions.report(err, action):
                        log.warning("activities.delete_failed id=%s error=%s", m.raw.id, err)
                    return False
                await asyncio.sleep(wait)
        return False

    async def give_back(self, messages: Sequence[WorkMessage], *, at_once: bool = False) -> None:
        delay = 0 if at_once else None
        await asyncio.gather(*(self.hub.queues.give_back(inbound(m), delay=delay) for m in messages))

    async def poison(self, message: WorkMessage, reason: str) -> None:
        await self.hub.poison.move(inbound(message), reason)

    async def fail_poisoned(self, message: WorkMessage, event: TaskScheduledEvent) -> HistoryEvent:
        m = inbound(message)
        n = m.raw.dequeue_count - 1
        reason = (
            f"activity {event.name!r} (task {event.event_id}) was moved to the poison queue after {n} "
            "attempts that never completed (it failed or crashed its worker each time)"
        )
        record = await self.hub.poison.move(m, reason, delete=False)  # deleted once the TaskFailed is sent
        details = FailureDetails(
            error_type="taskhub.PoisonMessage",
            message=f"{reason}; poison message id {record.message_id or record.origin_message_id}",
            is_non_retriable=True,
        )
        return TaskFailedEvent(task_scheduled_id=event.event_id, reason=str(details), failure_details=details)

    def report(self, err: BaseException, action: str) -> bool:
        return self.hub.storage.conditions.report(err, action)

    def release(self, messages: Sequence[WorkMessage]) -> None:
        self.hub.queues.held.let_go([inbound(m) for m in messages])

    def subscribe(
        self,
        *,
        wake: Callable[[], None],
        reserve: Callable[[TaskScheduledEvent, OrchestrationInstance], bool] | None,
        take: Callable[[WorkMessage], None],
        release: Callable[[], None],
    ) -> Callable[[], None]:
        queues = self.hub.queues
        unsubscribe = queues.wakeups.on_enqueue(self.queue, wake)
        if reserve is None:
            return unsubscribe

        def reserve_data(data: MessageData) -> bool:
            message = data.task_message
            if message is None or not isinstance(message.event, TaskScheduledEvent):
                return False
            return reserve(message.event, message.orchestration_instance)

        consumer = LocalConsumer(int(self.visibility.total_seconds()), reserve_data, take, release)
        unlocal = queues.local.subscribe(self.queue, consumer)

        def both() -> None:
            unsubscribe()
            unlocal()

        return both
