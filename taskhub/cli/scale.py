"""``taskhub scale-status``: the worker count the hub needs now, with the inputs of the formula."""

from __future__ import annotations

import argparse
from typing import Any

from taskhub.cli.registry import verb
from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings


@verb("scale-status", "the target worker count from the queue backlogs and concurrency limits (KEDA JSON)")
async def scale_status(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHubClient(settings) as client:
        return await client.service.admin.scale_status()
