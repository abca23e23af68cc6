"""The runtime that executes a task hub's orchestrations and activities.

Pure parts: ``worker.engine.replay`` (history -> actions), ``worker.engine.context`` (the orchestration context over a
``worker.engine.state.ReplayState``) and ``worker.engine.episode`` (one orchestration episode -> history rows and
outbound messages). The I/O parts (sessions, checkpoints, partitions, the ``Worker``) build on them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["Worker", "WorkerState", "default_worker_id"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the pure modules (worker.engine) does not import the Azure SDKs.
    if name in __all__:
        value = getattr(importlib.import_module("worker.host"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'worker' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from worker.host import (
        Worker as Worker,
    )
    from worker.host import (
        WorkerState as WorkerState,
    )
    from worker.host import (
        default_worker_id as default_worker_id,
    )
