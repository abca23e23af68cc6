"""Find the local Azurite this checkout started, wherever its ports ended up.

``make azurite-start`` / ``make demo`` record the running Azurite in ``azurite/.run`` (``azurite.pid``,
``connection-string``). When nothing configures a storage connection, the ``taskhub`` command uses that
Azurite instead of assuming the standard ports, so nobody has to export anything. Looked for, in order:
``$TASKHUB_AZURITE_RUN_DIR``, ``azurite/.run`` in the current folder and its parents, and the
``azurite/.run`` of the checkout this package was installed from. A record whose process is gone is
ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["RUN_DIR_ENV", "find_local_azurite"]

RUN_DIR_ENV = "TASKHUB_AZURITE_RUN_DIR"
_RUN_DIR = Path("azurite") / ".run"


def _candidates(cwd: Path, env: Mapping[str, str]) -> Iterator[Path]:
    if env.get(RUN_DIR_ENV):
        yield Path(env[RUN_DIR_ENV])
    for folder in (cwd, *cwd.parents):
        yield folder / _RUN_DIR
    yield Path(__file__).resolve().parents[2] / _RUN_DIR


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_local_azurite(
    cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[str, Path] | None:
    """(connection string, run dir) of a running Azurite recorded by ``azurite_ctl.py``, or None."""
    env = os.environ if env is None else env
    seen: set[Path] = set()
    for run_dir in _candidates(cwd or Path.cwd(), env):
        if run_dir in seen:
            continue
        seen.add(run_dir)
        try:
            pid = int((run_dir / "azurite.pid").read_text().strip())
            conn = (run_dir / "connection-string").read_text().strip()
        except (OSError, ValueError):
            continue
        if conn and _alive(pid):
            return conn, run_dir
    return None
