"""``span_exporter``: the OpenTelemetry SDK's in-memory exporter for one test, shut down after it (the
SDK provider is process-wide; a shut-down exporter keeps nothing more)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.otel import in_memory_exporter


@pytest.fixture
def span_exporter() -> Iterator[Any]:
    exporter = in_memory_exporter()
    yield exporter
    exporter.shutdown()
