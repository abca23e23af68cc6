"""The runtime that executes a task hub's orchestrations and activities.

Pure parts: ``worker.replay`` (history -> actions), ``worker.context`` (the orchestration context over a
``worker.state.ReplayState``) and ``worker.episode`` (one orchestration episode -> history rows and
outbound messages). The I/O parts (sessions, checkpoints, partitions, the ``Worker``) build on them.
"""

from __future__ import annotations

from worker.host import Worker, WorkerState, default_worker_id

__all__ = ["Worker", "WorkerState", "default_worker_id"]
