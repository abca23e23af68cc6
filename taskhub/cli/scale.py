"""``taskhub scale-status``: the worker count the hub needs now, with the inputs of the formula."""

from __future__ import annotations

import argparse
from typing import Any

from taskhub.cli.registry import verb
from taskhub.config.settings import Settings
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.scale import read_scale_status


@verb("scale-status", "the target worker count from the queue backlogs and concurrency limits (KEDA JSON)")
async def scale_status(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHub(settings) as hub:
        return (await read_scale_status(hub)).to_json()
