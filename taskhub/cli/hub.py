"""CLI verbs for the hub's resources: create-task-hub, delete-task-hub."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from taskhub.cli.registry import verb
from taskhub.config.settings import Settings
from taskhub.hub.lifecycle import TaskHub


@verb("create-task-hub", "create the task hub's queues, tables and containers (idempotent)")
async def create_task_hub(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHub(settings) as hub:
        await hub.create_if_not_exists()
        return {"taskHubName": settings.hub_name, "created": True, **asdict(await hub.resources())}


@verb(
    "get-partitions",
    "show who owns, and who intends to own, each control queue (lease blobs or the Partitions table)",
)
async def get_partitions(ns: argparse.Namespace, settings: Settings) -> list[dict[str, Any]]:
    async with TaskHub(settings) as hub:
        return await hub.partitions()


def _poison_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "requeue"], help="list the poisoned messages, or requeue one")
    p.add_argument("message_id", nargs="?", help="with requeue: the id shown by `taskhub poison list`")


@verb("poison", "list poisoned messages, or requeue one to the queue it came from", _poison_args)
async def poison(ns: argparse.Namespace, settings: Settings) -> Any:
    async with TaskHub(settings) as hub:
        if ns.action == "list":
            return [r.summary() for r in await hub.poison.list()]
        if not ns.message_id:
            raise ValueError("poison requeue needs the message id shown by `taskhub poison list`")
        record = await hub.poison.requeue(ns.message_id)
        return {"requeued": ns.message_id, "queue": record.origin_queue}


@verb("delete-task-hub", "delete every queue, table and container of the task hub (and nothing else)")
async def delete_task_hub(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHub(settings) as hub:
        deleted = await hub.delete()
        return {"taskHubName": settings.hub_name, "deleted": asdict(deleted)}
