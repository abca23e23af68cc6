"""W5's client process: ``python -m bench.w5_client PATH [--host-json H]`` starts one ``W5Probe``.

It prints one JSON line: the wall time just before ``schedule_new_orchestration`` was called
(``t_call``), when it returned (``t_returned``), the instance id and the storage calls it made.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings


async def run(path: str, host_json: str | None) -> dict[str, object]:
    settings = Settings.load(host_json)
    async with TaskHubClient(settings) as client:
        t_call = time.time()
        instance_id = await client.schedule_new_orchestration("W5Probe", input=path)
        t_returned = time.time()
        calls = dict(client.service.hub.storage.calls)
    return {"t_call": t_call, "t_returned": t_returned, "instance_id": instance_id, "calls": calls}


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.w5_client")
    p.add_argument("path", help="file the W5Probe activity appends its start time to")
    p.add_argument("--host-json")
    ns = p.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(run(ns.path, ns.host_json))) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
