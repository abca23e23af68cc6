"""The client: start, query and steer orchestrations.

``async_client`` (``TaskHubClient``), ``sync_client`` (``SyncTaskHubClient``, its blocking twin) and
``status`` (``OrchestrationState``, ``Page``, ``PurgeResult``); ``hubs`` (``HubClients``: the bounded
TaskHubClients, one per hub, that ``taskhub serve`` and its dashboard use for ``?taskHub=``); ``service``
(the client's backend seam: ``OrchestrationServiceClient`` and ``HubAdmin``, the only way this package,
the HTTP API, the dashboard and the CLI reach storage; ``SERVICES`` registers the implementations).
"""

from taskhub.client.async_client import TaskHubClient
from taskhub.client.status import OrchestrationState, Page, PurgeResult
from taskhub.client.sync_client import SyncTaskHubClient

__all__ = ["OrchestrationState", "Page", "PurgeResult", "SyncTaskHubClient", "TaskHubClient"]
