"""The SDK's view of the histories of orchestrations in progress, kept from one episode to the next.

Every episode sends the SDK worker the instance's whole history (the protocol has no session on the SDK
side). Translated anew each time, a step would cost the sidecar time in proportion to the history: a
fifth of its event loop at 100 sequential activities. ``to_proto`` of an event depends on that event
alone, and the session hands the runner the same event objects episode after episode, so each
instance's messages of its latest request are kept and reused for the events that are still the same
objects; the rest (a history reloaded from storage, a new execution) is translated as before.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from taskhub.format.history import HistoryEvent
from worker.sidecar.decisions import to_sdk
from worker.sidecar.history import to_proto
from worker.sidecar.proto import pb

__all__ = ["ShownHistories", "KEPT_INSTANCES"]

KEPT_INSTANCES = 1000
"""Instances whose translated history is kept (the least recently run go first)."""

_Kept = dict[int, tuple[HistoryEvent, pb.HistoryEvent]]


class ShownHistories:
    """Per instance: the protocol messages of the events of its latest request, by event object."""

    def __init__(self, limit: int = KEPT_INSTANCES) -> None:
        self.limit = limit
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self.reused = 0
        """Events whose message was reused rather than translated (for tests and profiles)."""

    def to_sdk(self, instance_id: str, events: Sequence[HistoryEvent]) -> list[pb.HistoryEvent]:
        """``decisions.to_sdk(events)``, reusing the messages of the same event objects seen last time."""
        before = self._kept.pop(instance_id, {})
        now: _Kept = {}

        def proto(e: HistoryEvent) -> pb.HistoryEvent:
            hit = before.get(id(e))
            if hit is not None and hit[0] is e:  # the entry holds the event, so its id is not reused
                message = hit[1]
                self.reused += 1
            else:
                message = to_proto(e)
            now[id(e)] = (e, message)
            return message

        shown = to_sdk(events, proto)
        self._kept[instance_id] = now
        while len(self._kept) > self.limit:
            self._kept.popitem(last=False)
        return shown

    def forget(self, instance_id: str) -> None:
        self._kept.pop(instance_id, None)
