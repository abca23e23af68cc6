"""The entity tier reuses the end-to-end fixtures (a worker and a client on a fresh hub, then the storage
format check of every row, message and blob the test left) and, for the process tests, the process
tier's worker fleets."""

from tests.e2e.conftest import E2E, e2e, e2e_settings, pytest_configure
from tests.process.conftest import figures, fleets

__all__ = ["E2E", "e2e", "e2e_settings", "figures", "fleets", "pytest_configure"]
