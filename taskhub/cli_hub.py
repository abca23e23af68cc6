"""CLI verbs for the hub's resources: create-task-hub, delete-task-hub."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from taskhub.cli import verb
from taskhub.hub import TaskHub
from taskhub.settings import Settings


@verb("create-task-hub", "create the task hub's queues, tables and containers (idempotent)")
async def create_task_hub(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        return {"taskHubName": settings.hub_name, "created": True, **asdict(await hub.resources())}


@verb("delete-task-hub", "delete every queue, table and container of the task hub (and nothing else)")
async def delete_task_hub(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHub(settings) as hub:
        deleted = await hub.delete()
        return {"taskHubName": settings.hub_name, "deleted": asdict(deleted)}
