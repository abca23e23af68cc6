"""Stopping a long-running verb (``worker``, ``serve``, ``func start``) the way an operator expects.

The first SIGINT or SIGTERM starts a graceful stop, bounded by the grace period; a second one exits at
once (``os._exit``: nothing more runs; unfinished messages reappear after their visibility timeout, as
after a crash). A sync activity still running in its thread when the stop is done cannot be stopped
and would keep the process alive: :func:`exit_if_threads_linger` ends the process then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time

__all__ = ["install_stop_signals", "exit_if_threads_linger"]


def install_stop_signals(stop: asyncio.Event, *, what: str, grace_s: float) -> None:
    """SIGINT/SIGTERM: the first sets ``stop``; the second exits the process at once."""
    loop = asyncio.get_running_loop()
    seen = 0

    def on_signal(signum: int) -> None:
        nonlocal seen
        seen += 1
        if seen == 1:
            print(
                f"{what}: stopping within {grace_s:g} s (running work finishes); a second signal exits at once",
                file=sys.stderr,
                flush=True,
            )
            stop.set()
            return
        print(
            f"{what}: second signal: exiting now (unfinished messages reappear after their visibility timeout)",
            file=sys.stderr,
            flush=True,
        )
        os._exit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
            loop.add_signal_handler(sig, on_signal, int(sig))


async def exit_if_threads_linger(what: str, *, wait_s: float = 0.5) -> None:
    """After a stop: if threads that cannot be stopped still run (a sync activity past the grace period)
    after ``wait_s``, say so on one line and end the process (exit status 0: the stop is done)."""
    deadline = time.monotonic() + wait_s
    while True:
        others = [
            t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()
        ]
        if not others or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    if not others:
        return
    print(
        f"{what}: exiting with {len(others)} thread(s) still running (sync activities past the grace period; "
        "their work items reappear after their visibility timeout)",
        file=sys.stderr,
        flush=True,
    )
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)
