"""The entity tier reuses the end-to-end fixtures (a worker and a client on a fresh hub, then the storage
format check of every row, message and blob the test left)."""

from tests.e2e.conftest import E2E, e2e, e2e_settings, pytest_configure

__all__ = ["E2E", "e2e", "e2e_settings", "pytest_configure"]
