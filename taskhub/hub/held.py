"""Held messages: a worker takes messages with a short visibility and keeps them hidden by renewing
them (every half visibility) while it works on them; deleting, abandoning or :meth:`HeldMessages.let_go`
ends that. So a dead worker's messages come back within that short visibility, not the configured
5-minute timeout. One renewal keeper task per hub object renews whatever is due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from taskhub.errors import StorageError
from taskhub.hub.inbound import Inbound
from taskhub.storage import ReceivedMessage, Storage

__all__ = ["HeldMessages", "KEEPER_TICK"]

log = logging.getLogger(__name__)

KEEPER_TICK = 1.0
"""How often the renewals of held messages are looked at (seconds)."""


@dataclass
class _Hold:
    raw: ReceivedMessage
    visibility: int
    renew_at: float
    busy: asyncio.Task[None] | None = None


class HeldMessages:
    """The messages this process keeps hidden, and the keeper that renews them."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._held: dict[str, _Hold] = {}
        self._keeper: asyncio.Task[None] | None = None
        self.renewals = 0
        """Renewals of held messages so far (storage calls)."""

    @property
    def count(self) -> int:
        return len(self._held)

    def hold(self, raw: ReceivedMessage, visibility: int) -> None:
        """Keep the message hidden, renewing it to ``visibility`` s every ``visibility / 2`` s."""
        loop = asyncio.get_running_loop()
        self._held[raw.id] = _Hold(raw, visibility, loop.time() + visibility / 2)
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep(), name="held-messages")

    def let_go(self, messages: Iterable[Inbound | ReceivedMessage]) -> None:
        """Stop renewing (the messages come back when their visibility runs out, unless deleted)."""
        for m in messages:
            raw = m.raw if isinstance(m, Inbound) else m
            h = self._held.get(raw.id)
            if h is not None and h.raw is raw:
                del self._held[raw.id]

    async def release(self, raw: ReceivedMessage) -> None:
        """Stop renewing ``raw`` and wait for a renewal in flight (it changes the pop receipt)."""
        h = self._held.get(raw.id)
        if h is None or h.raw is not raw:
            return
        del self._held[raw.id]
        if h.busy is not None:
            await asyncio.wait({h.busy})

    async def renewal_done(self, raw: ReceivedMessage) -> None:
        """Wait for a renewal of ``raw`` in flight, if any (it keeps being held)."""
        h = self._held.get(raw.id)
        if h is not None and h.raw is raw and h.busy is not None:
            await asyncio.wait({h.busy})

    async def stop(self) -> None:
        """Stop renewing everything: what is still held reappears on its own."""
        self._held.clear()
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None

    async def _keep(self) -> None:
        loop = asyncio.get_running_loop()
        while self._held:
            await asyncio.sleep(KEEPER_TICK)
            now = loop.time()
            for h in list(self._held.values()):
                if h.renew_at <= now and h.busy is None:
                    h.busy = asyncio.create_task(self._renew(h))

    async def _renew(self, h: _Hold) -> None:
        loop = asyncio.get_running_loop()
        try:
            await self.storage.update_message(h.raw, visibility_timeout=h.visibility)
            self.renewals += 1
            h.renew_at = loop.time() + h.visibility / 2
        except StorageError as err:
            if err.not_found:  # deleted, or taken by another worker after it reappeared
                log.info("queue.held_gone queue=%s message=%s", h.raw.queue, h.raw.id)
                if self._held.get(h.raw.id) is h:
                    del self._held[h.raw.id]
            else:
                self.storage.conditions.report(err, f"held messages: renewed again in {KEEPER_TICK:g} s")
                h.renew_at = loop.time() + KEEPER_TICK
        except Exception:
            log.exception("queue.renew_failed queue=%s message=%s", h.raw.queue, h.raw.id)
            h.renew_at = loop.time() + KEEPER_TICK
        finally:
            h.busy = None
