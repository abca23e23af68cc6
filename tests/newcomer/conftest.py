"""The newcomer tests reuse the end-to-end fixtures (a worker and a client on a fresh hub)."""

from tests.e2e.conftest import e2e, e2e_settings, pytest_configure  # noqa: F401
