"""Wake-ups between processes on one machine: a cheaper signal than a poll (README "Performance").

A worker process that listens on a hub's queues binds a Unix datagram socket in a directory named
after the hub's work-item queue URL (so: one directory per account and hub), under the temporary
directory, private to the user. Whoever sends a message that is visible at once (a client starting an
orchestration or raising an event, another worker) puts the queue's name into every socket of that
directory: the listener of that queue then polls at once instead of at the end of its backoff (a
client's start wakes it once the Instances row is written too, so that the start dedupe finds it). It is
only a hint: a datagram that is lost, a socket of a dead process (removed by the next sender) or a
worker on another machine fall back to polling, as before. Nothing is stored, no storage transaction.

``TASKHUB_LOCAL_WAKEUP=0`` turns it off (sending and listening).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

__all__ = ["LOCAL_WAKEUP_ENV", "Wakeups", "QueueWakeups", "local_wakeup_enabled", "wake_directory"]

log = logging.getLogger(__name__)

LOCAL_WAKEUP_ENV = "TASKHUB_LOCAL_WAKEUP"
MAX_NAME = 200


def local_wakeup_enabled() -> bool:
    return os.environ.get(LOCAL_WAKEUP_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


def wake_directory(hub_key: str) -> Path:
    """The directory of the sockets of one hub (``hub_key``: its work-item queue URL)."""
    digest = hashlib.sha256(hub_key.lower().encode("utf-8")).hexdigest()[:20]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"taskhub-wake-{uid}" / digest


class Wakeups:
    """Sends wake-ups to the other processes of a hub on this machine, and receives them."""

    def __init__(self, hub_key: str, on_wake: Callable[[str], None], *, enabled: bool | None = None) -> None:
        self.directory = wake_directory(hub_key)
        self._on_wake = on_wake
        self._out: socket.socket | None = None
        self._in: socket.socket | None = None
        self._path: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.enabled = (local_wakeup_enabled() if enabled is None else enabled) and hasattr(socket, "AF_UNIX")
        self.received = 0
        """Wake-ups received from the hub's other processes on this machine so far."""

    def poke(self, queue: str) -> None:
        """Tell the other listening processes of this hub that ``queue`` has a message (best effort)."""
        if not self.enabled:
            return
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        own = self._path.name if self._path is not None else None
        data = queue.encode("utf-8")[:MAX_NAME]
        try:
            if self._out is None:
                self._out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._out.setblocking(False)
            for name in names:
                if not name.endswith(".sock") or name == own:
                    continue
                path = self.directory / name
                try:
                    self._out.sendto(data, str(path))
                except (ConnectionRefusedError, FileNotFoundError):  # its process is gone
                    with contextlib.suppress(OSError):
                        path.unlink()
                except OSError:  # full buffer and the like: it is only a hint
                    pass
        except OSError as err:
            log.debug("wakeup.send_failed dir=%s error=%s", self.directory, err)

    def listen(self) -> None:
        """Start receiving (idempotent; needs a running event loop)."""
        if not self.enabled or self._in is not None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind(str(path))
        except OSError as err:
            log.info("wakeup.listen_unavailable dir=%s error=%s", self.directory, err)
            self.enabled = False
            return
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)
        self._in, self._path = sock, path

    def _readable(self) -> None:
        assert self._in is not None
        for _ in range(64):
            try:
                data = self._in.recv(MAX_NAME)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.received += 1
            with contextlib.suppress(Exception):
                self._on_wake(data.decode("utf-8", "replace"))

    def close(self) -> None:
        """Stop receiving and remove the socket."""
        if self._in is not None:
            if self._loop is not None and not self._loop.is_closed():
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._in.fileno())
            self._in.close()
            self._in = None
        if self._path is not None:
            with contextlib.suppress(OSError):
                self._path.unlink()
            self._path = None
        if self._out is not None:
            self._out.close()
            self._out = None


class QueueWakeups:
    """Who listens on which queue in this process, woken when this process sends there (:meth:`wake`),
    and the same hint to and from the hub's other processes on this machine (:attr:`peers`)."""

    def __init__(self, hub_key: Callable[[], str]) -> None:
        self._hub_key = hub_key
        self._callbacks: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self._peers: Wakeups | None = None
        self._enabled = local_wakeup_enabled()
        """Read when the hub is opened (``TASKHUB_LOCAL_WAKEUP``), not at the first send or receive."""

    @property
    def listening(self) -> bool:
        return bool(self._callbacks)

    def on_enqueue(self, queue: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` whenever this process sends to ``queue``; returns an unsubscribe function."""
        self._callbacks[queue].append(callback)
        return lambda: self._callbacks[queue].remove(callback)

    def wake(self, queue: str) -> None:
        for cb in list(self._callbacks.get(queue, ())):
            cb()

    def notify(self, queue: str) -> None:
        """Wake the listeners of ``queue`` here and in the hub's other processes on this machine (what
        a visible send does, for a sender that sent with ``wake=False`` and is now ready for them)."""
        self.wake(queue)
        self.peers.poke(queue)

    @property
    def received(self) -> int:
        """Wake-ups this process received from the hub's other processes on this machine."""
        return self._peers.received if self._peers is not None else 0

    @property
    def peers(self) -> Wakeups:
        """Wake-ups to and from the other processes of this hub on this machine."""
        if self._peers is None:
            self._peers = Wakeups(self._hub_key(), self.wake, enabled=self._enabled)
        return self._peers

    def close(self) -> None:
        if self._peers is not None:
            self._peers.close()
