"""Put on PYTHONPATH by tests/functions/test_func_traces.py: the ``taskhub func start`` process writes
its spans to the file named by ``TASKHUB_TEST_SPANS`` (tests/otel_jsonl.py)."""

import os

if os.environ.get("TASKHUB_TEST_SPANS"):
    from tests.otel_jsonl import configure

    configure(os.environ["TASKHUB_TEST_SPANS"])
