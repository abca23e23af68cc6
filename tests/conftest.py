"""Fixtures for the Azurite tier (style.md "Tests").

- ``azurite_connection_string`` (session): ``TASKHUB_TEST_CONNECTION_STRING`` when set; otherwise an
  Azurite (on disk, not in memory: docs/azurite-stalls.md) on free ports, started from the project's
  azurite/ folder in a session temp run dir (never the demo's azurite/.run) and stopped at session end.
- ``hub_name`` (function): a fresh task hub name per test.
- ``settings`` (function): ``taskhub.Settings`` for that hub on that storage.

Tests that use ``azurite_connection_string`` (directly or through ``settings``) are marked ``azurite``,
so ``-m "not azurite"`` runs the pure tier alone.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers import load_azurite_ctl

if TYPE_CHECKING:
    from taskhub.config.settings import Settings

CONNECTION_ENV = "TASKHUB_TEST_CONNECTION_STRING"


@pytest.fixture(scope="session")
def azurite_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get(CONNECTION_ENV)
    if external:
        yield external
        return
    ctl = load_azurite_ctl()
    ctl.install()  # a fresh checkout gets Azurite rather than skipped tests
    run_dir = tmp_path_factory.mktemp("azurite-run")
    # On disk, not --inMemoryPersistence: in memory, Azurite's queue garbage collector deletes the
    # extents of deleted messages one by one on its main thread every 60 s, and after a few thousand
    # message deletes all three services stop answering for 25 s and more (docs/azurite-stalls.md).
    info = ctl.start(run_dir, in_memory=False, location=run_dir / "data", ports=(0, 0, 0))
    try:
        yield info.connection_string
    finally:
        ctl.stop(run_dir)


@pytest.fixture
def hub_name() -> str:
    """Unique per test: letters and digits, starts with a letter, 13 characters."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def settings(hub_name: str, azurite_connection_string: str) -> Settings:
    import taskhub  # imported here so the pure tier does not depend on it

    return taskhub.Settings.load(
        None,
        env={
            "AzureWebJobsStorage": azurite_connection_string,
            "AzureFunctionsJobHost__extensions__durableTask__hubName": hub_name,
        },
    )


PROCESS_TIER = Path(__file__).resolve().parent / "process"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "azurite_connection_string" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.azurite)
        # Asks pytest-xdist (`make test`: --dist loadgroup) to keep the process tier in one test process
        # (it needs pytest < 9.2, see pyproject.toml; tests/test_xdist_group.py checks that it holds).
        if PROCESS_TIER in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.xdist_group("process"))
