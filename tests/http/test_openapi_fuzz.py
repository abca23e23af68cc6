"""A bounded property-based run of schemathesis against the server's own OpenAPI description (loopback):
no 5xx, every status code documented, every body matching its schema."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from taskhub.http import create_app


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_schemathesis_finds_no_server_errors_or_schema_breaks(settings):
    server = TestServer(create_app(settings, orchestrator_names=frozenset({"chaining"})), host="127.0.0.1")
    await server.start_server()
    try:
        st = Path(sys.executable).with_name("st")
        proc = await asyncio.create_subprocess_exec(
            str(st),
            "run",
            str(server.make_url("/openapi.json")),
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--phases",
            "fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "20261123",
            "--workers",
            "1",
            "--max-time",
            "25",
            "--request-timeout",
            "10",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
    finally:
        await server.close()
    text = out.decode(errors="replace")
    summary = re.search(r"(\d+) generated, (\d+) (?:passed|found)", text)
    assert summary, text[-3000:]
    generated = int(summary.group(1))
    print(f"schemathesis: {generated} generated requests")
    assert proc.returncode == 0, text[-4000:]
    assert generated >= 200, f"only {generated} requests were generated"
