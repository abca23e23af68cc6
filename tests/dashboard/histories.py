"""Histories with fixed timestamps for the pure dashboard tests (the timeline goldens, folding)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from taskhub.format.history import (
    EventRaisedEvent,
    ExecutionCompletedEvent,
    ExecutionStartedEvent,
    FailureDetails,
    HistoryEvent,
    OrchestrationInstance,
    OrchestrationStatus,
    OrchestratorCompletedEvent,
    OrchestratorStartedEvent,
    SubOrchestrationInstanceCompletedEvent,
    SubOrchestrationInstanceCreatedEvent,
    TaskCompletedEvent,
    TaskFailedEvent,
    TaskScheduledEvent,
    TimerCreatedEvent,
    TimerFiredEvent,
)

T0 = datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def js(v: Any) -> str:
    return json.dumps(v)


class H:
    """A history under construction; every method appends events at second ``s`` after T0."""

    def __init__(self, name: str, input: Any = None, instance_id: str = "i1") -> None:
        self.events: list[HistoryEvent] = [
            OrchestratorStartedEvent(timestamp=at(0)),
            ExecutionStartedEvent(
                orchestration_instance=OrchestrationInstance(instance_id, "e1"),
                name=name,
                input=js(input),
                timestamp=at(0),
            ),
        ]
        self.next_id = 0

    def episode(self, s: float) -> H:
        self.events += [
            OrchestratorCompletedEvent(timestamp=at(s)),
            OrchestratorStartedEvent(timestamp=at(s)),
        ]
        return self

    def schedule(self, s: float, name: str, input: Any = None) -> int:
        i = self.next_id
        self.next_id += 1
        self.events.append(TaskScheduledEvent(event_id=i, name=name, input=js(input), timestamp=at(s)))
        return i

    def complete(self, s: float, task: int, result: Any = None) -> H:
        self.events.append(TaskCompletedEvent(task_scheduled_id=task, result=js(result), timestamp=at(s)))
        return self

    def fail(self, s: float, task: int, message: str = "boom") -> H:
        self.events.append(
            TaskFailedEvent(
                task_scheduled_id=task,
                reason=message,
                failure_details=FailureDetails("RuntimeError", message),
                timestamp=at(s),
            )
        )
        return self

    def timer(self, s: float, fire_at: float) -> int:
        i = self.next_id
        self.next_id += 1
        self.events.append(TimerCreatedEvent(event_id=i, fire_at=at(fire_at), timestamp=at(s)))
        return i

    def fire(self, s: float, timer: int, fire_at: float) -> H:
        self.events.append(TimerFiredEvent(timer_id=timer, fire_at=at(fire_at), timestamp=at(s)))
        return self

    def sub(self, s: float, name: str, child: str) -> int:
        i = self.next_id
        self.next_id += 1
        self.events.append(
            SubOrchestrationInstanceCreatedEvent(event_id=i, name=name, instance_id=child, timestamp=at(s))
        )
        return i

    def sub_done(self, s: float, task: int, result: Any = None) -> H:
        self.events.append(
            SubOrchestrationInstanceCompletedEvent(task_scheduled_id=task, result=js(result), timestamp=at(s))
        )
        return self

    def raised(self, s: float, name: str, data: Any = None) -> H:
        self.events.append(EventRaisedEvent(name=name, input=js(data), timestamp=at(s)))
        return self

    def done(
        self, s: float, result: Any = None, status: OrchestrationStatus = OrchestrationStatus.COMPLETED
    ) -> list[HistoryEvent]:
        self.events += [
            ExecutionCompletedEvent(orchestration_status=status, result=js(result), timestamp=at(s)),
            OrchestratorCompletedEvent(timestamp=at(s)),
        ]
        return self.events


def chaining() -> list[HistoryEvent]:
    h = H("chain", 1)
    for k in range(4):
        t = h.schedule(0.1 + k * 0.5, f"F{k + 1}", k)
        h.complete(0.4 + k * 0.5, t, k + 1).episode(0.45 + k * 0.5)
    return h.done(2.2, 4)


def fan_out_fan_in() -> list[HistoryEvent]:
    h = H("fan_out_fan_in", 5)
    first = h.schedule(0.1, "get_work_batch", 5)
    h.complete(0.3, first, [0, 1, 2, 3, 4]).episode(0.35)
    tasks = [h.schedule(0.35, "process_item", i) for i in range(5)]
    for i, t in enumerate(tasks):
        h.complete(0.6 + 0.2 * i, t, i).episode(0.65 + 0.2 * i)
    last = h.schedule(1.5, "aggregate", 10)
    h.complete(1.7, last, 10).episode(1.75)
    return h.done(1.75, {"items": 5, "total": 10})


def retry() -> list[HistoryEvent]:
    h = H("with_retry", "x")
    a1 = h.schedule(0.1, "flaky", "x")
    h.fail(0.5, a1, "attempt 1 failed").episode(0.5)
    w1 = h.timer(0.5, 1.5)
    h.fire(0.5, w1, 1.5).episode(1.5)
    a2 = h.schedule(1.5, "flaky", "x")
    h.fail(1.8, a2, "attempt 2 failed").episode(1.8)
    w2 = h.timer(1.8, 3.8)
    h.fire(1.8, w2, 3.8).episode(3.8)
    a3 = h.schedule(3.8, "flaky", "x")
    h.complete(4.0, a3, "x").episode(4.0)
    return h.done(4.0, "x")


def timer() -> list[HistoryEvent]:
    """A one-hour timer between two short activities: the idle hour is collapsed."""
    h = H("reminder", None)
    a = h.schedule(0.1, "prepare")
    h.complete(0.4, a).episode(0.4)
    t = h.timer(0.4, 3600.4)
    h.fire(0.4, t, 3600.4).episode(3600.5)
    b = h.schedule(3600.5, "send")
    h.complete(3600.9, b).episode(3600.9)
    return h.done(3600.9)


def external_event() -> list[HistoryEvent]:
    h = H("approval", {"amount": 5})
    a = h.schedule(0.1, "request_approval")
    h.complete(0.3, a).episode(0.3)
    h.raised(12.0, "approved", True).episode(12.0)
    b = h.schedule(12.0, "process_approval")
    h.complete(12.4, b, "ok").episode(12.4)
    return h.done(12.4, "ok")


def sub_orchestration() -> list[HistoryEvent]:
    h = H("parent", 3)
    c1 = h.sub(0.1, "chain", "i1:0000")
    c2 = h.sub(0.1, "chain", "i1:0001")
    h.sub_done(1.2, c1, 1).episode(1.2)
    h.sub_done(1.6, c2, 2).episode(1.6)
    return h.done(1.6, 3)


SCENARIOS = {
    "chaining": chaining,
    "fan_out_fan_in": fan_out_fan_in,
    "retry": retry,
    "timer": timer,
    "external_event": external_event,
    "sub_orchestration": sub_orchestration,
}
