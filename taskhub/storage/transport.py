"""The HTTP transport of the SDK clients: aiohttp with a keep-alive shorter than the server's.

Azurite (like many servers) closes an idle keep-alive connection after 5 s; aiohttp keeps idle
connections in its pool for 15 s by default. A request sent on a connection the server is closing at
that moment fails at once with ``ServerDisconnectedError``; aiohttp retries that only for idempotent
methods, and the SDK retry policies never retry a POST/PATCH/MERGE after a connection error. So a
table merge or batch sent after a 5-6 s pause could fail for nothing (300 of 10,000 merges in a
burst test). Dropping idle connections after 4 s, before the server does, avoids the race.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from azure.core.pipeline.transport import AioHttpTransport

from taskhub.storage.sdk_internals import transport_was_opened

__all__ = ["KeepAliveTransport", "IDLE_CONNECTION_SECONDS"]

IDLE_CONNECTION_SECONDS = 4.0
"""How long an idle connection stays in the pool: under Azurite's (and Node's) 5 s keepAliveTimeout."""


class KeepAliveTransport(AioHttpTransport):
    """``AioHttpTransport`` whose session drops idle connections after :data:`IDLE_CONNECTION_SECONDS`."""

    def __init__(self, *, use_env_settings: bool = False, **kwargs: Any) -> None:
        super().__init__(use_env_settings=use_env_settings, **kwargs)
        self._trust_env = use_env_settings

    async def open(self) -> None:
        if getattr(self, "session", None) is None and not transport_was_opened(self):
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(keepalive_timeout=IDLE_CONNECTION_SECONDS),
                trust_env=self._trust_env,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
            )
        await super().open()
