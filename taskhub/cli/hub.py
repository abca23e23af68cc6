"""CLI verbs for the hub's resources: create-task-hub, delete-task-hub."""

from __future__ import annotations

import argparse
from typing import Any

from taskhub.cli.registry import verb
from taskhub.client.async_client import TaskHubClient
from taskhub.config.settings import Settings


@verb("create-task-hub", "create the task hub's queues, tables and containers (idempotent)")
async def create_task_hub(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHubClient(settings) as client:
        return {"taskHubName": settings.hub_name, "created": True, **await client.service.admin.create_hub()}


@verb(
    "get-partitions",
    "show who owns, and who intends to own, each control queue (lease blobs or the Partitions table)",
)
async def get_partitions(ns: argparse.Namespace, settings: Settings) -> list[dict[str, Any]]:
    async with TaskHubClient(settings) as client:
        return await client.service.admin.partition_owners()


def _poison_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "requeue"], help="list the poisoned messages, or requeue one")
    p.add_argument("message_id", nargs="?", help="with requeue: the id shown by `taskhub poison list`")


@verb("poison", "list poisoned messages, or requeue one to the queue it came from", _poison_args)
async def poison(ns: argparse.Namespace, settings: Settings) -> Any:
    async with TaskHubClient(settings) as client:
        if ns.action == "list":
            return await client.service.admin.poisoned()
        if not ns.message_id:
            raise ValueError("poison requeue needs the message id shown by `taskhub poison list`")
        queue = await client.service.admin.requeue_poisoned(ns.message_id)
        return {"requeued": ns.message_id, "queue": queue}


@verb("delete-task-hub", "delete every queue, table and container of the task hub (and nothing else)")
async def delete_task_hub(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async with TaskHubClient(settings) as client:
        deleted = await client.service.admin.delete_hub()
        return {"taskHubName": settings.hub_name, "deleted": deleted}
