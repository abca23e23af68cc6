"""What ``taskhub func start`` checks in the hub before it starts taking work.

Two apps on one hub (both on the default ``TestHubName``, say) take each other's instances: the host that
lacks an orchestrator fails the instance (``orchestrator 'x' is not registered``), as Durable Functions
does. Neither says so up front; this does, from one bounded query of the Instances table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from taskhub.errors import StorageError
from taskhub.format.types import OrchestrationStatus
from taskhub.hub.lifecycle import TaskHub
from taskhub.hub.tracking import instances_filter

__all__ = ["QUERY_LIMIT", "foreign_orchestrators", "foreign_warning", "query_foreign_orchestrators"]

QUERY_LIMIT = 1000
"""Instances rows read at most (one page): enough to notice, cheap on a hub with a long past."""


def foreign_orchestrators(names: Iterable[str | None], known: Iterable[str]) -> Counter[str]:
    """Per orchestrator name the app does not have (case-insensitive), how many instances use it.
    Entities (``@name``) and rows without a name are not orchestrators and are left out."""
    have = {n.lower() for n in known}
    return Counter(n for n in names if n and not n.startswith("@") and n.lower() not in have)


def foreign_warning(hub_name: str, foreign: Counter[str], capped: bool) -> str | None:
    """The one warning line, or None when every running instance's orchestrator is the app's."""
    if not foreign:
        return None
    total = sum(foreign.values())
    listed = ", ".join(f"{name} ({count})" for name, count in foreign.most_common(5))
    more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
    seen = f"at least {total}" if capped else str(total)
    return (
        f"taskhub func start: warning: hub {hub_name} holds {seen} running or pending "
        f"instance{'' if total == 1 else 's'} of "
        f"orchestrators this app does not have: {listed}{more}; this host fails those it picks up "
        "(as Durable Functions does): give each app its own hubName in host.json"
    )


async def query_foreign_orchestrators(hub: TaskHub, known: Iterable[str]) -> tuple[Counter[str], bool]:
    """Foreign orchestrators among at most QUERY_LIMIT Running/Pending instances, and whether the
    limit was reached. A hub that does not exist yet holds nothing."""
    query = instances_filter(statuses=[OrchestrationStatus.RUNNING, OrchestrationStatus.PENDING])
    try:
        page = await hub.storage.query_page(
            hub.tracking.instances_table, query, select=["Name"], page_size=QUERY_LIMIT
        )
    except StorageError as err:
        if err.not_found:
            return Counter(), False
        raise
    names = [row.get("Name") for row in page.rows]
    return foreign_orchestrators(names, known), page.continuation_token is not None
