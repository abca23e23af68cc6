"""``taskhub sidecar``: this hub as the sidecar of the Durable Task SDKs (the gRPC service
``TaskHubSidecarService`` of microsoft/durabletask-protobuf, in the dialect durabletask 1.12 speaks).

- ``proto``: the protocol's generated code (from the ``durabletask`` package) and the conversions
  between its messages and this project's client types;
- ``client_rpcs``: the client RPCs (start, get, wait, raise, terminate, suspend, resume, rewind,
  restart, query, purge, entities) on ``TaskHubClient``;
- ``service``: the servicer (every other RPC answers UNIMPLEMENTED with a sentence) and the key check;
- ``server``: the grpc.aio server's lifecycle; ``cli``: the ``taskhub sidecar`` verb.

Needs the ``sidecar`` extra (``pip install 'taskhub-durable[sidecar]'``).
"""

from __future__ import annotations

__all__: list[str] = []
