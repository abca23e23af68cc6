"""What the benchmark modules share: paths, counts, targets, the definitions printed with the table,
the :class:`Run` one benchmark run hands around, and :func:`say`.

It imports nothing from the other bench modules (they all import it).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
HOST_JSON = REPO / "host.json"
ENV_PREFIX = "AzureFunctionsJobHost__extensions__durableTask__"

FLOOR_DEFINITION = (
    "floor = raw Azurite queue round trips per second: one send_message + receive_messages(1) + "
    "delete_message cycle (500-byte message) counts once; 8 concurrent loops in one Python process on "
    "the SDK's async QueueClient directly (use_env_settings=False), on the same Azurite, in the same "
    "run. ratio = figure / floor. The same measured through the storage seam is shown as 'seam'."
)
CALLS_DEFINITION = (
    "storage calls per activity round trip = (worker + client Storage.calls during the workload, "
    "idle polls and lease renewals included) / activities run"
)
THROUGHPUT_SETTINGS = {  # W1-W3: no host.json; defaults plus these
    "storageProvider__maxQueuePollingInterval": "00:00:01",
}


@dataclass(frozen=True)
class Counts:
    floor_queue_seq: int
    floor_queue_conc: int  # per loop, 8 loops
    floor_batches_seq: int
    floor_batches_conc: int  # per loop, 4 loops
    w1: int
    w2: int
    w3: int
    w5_reps: int
    e1: int = 1000
    e2: int = 1000
    c1: int = 1000
    c2: int = 5000


FULL = Counts(300, 100, 30, 10, 100, 100, 500, 3)
QUICK = Counts(60, 20, 6, 3, 20, 25, 100, 1, e1=200, e2=200, c1=200, c2=500)

ISSUE_TARGETS = {  # issue 13's targets (2 cores, Azurite on the same machine); judged beside TARGETS
    "W1": (">=", 80.0),
    "W2": (">=", 450.0),
    "W3": (">=", 320.0),
    "W2.calls": ("<=", 3.0),
    "W5": ("<=", 0.2),
    "C1.growth": (">=", 0.95),
}
"""And C2 (fan-out of 5,000) >= W3's rate in the same run."""

TARGETS = {  # workload -> (comparison, value, unit)
    "W1": (">=", 10.0, "orchestrations/s"),
    "W2": (">=", 25.0, "activities/s"),
    "W3": (">=", 100.0, "activities/s"),
}
MAX_CALLS_PER_ACTIVITY = 10.0
MAX_W1_WORKER_MB = 300.0


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Run:
    conn: str
    run_dir: Path
    azurite_pid: int
    counts: Counts
    results_dir: Path
    stamp: str
    profiles: dict[str, Any] = field(default_factory=dict)
