"""The HTTP side: the Durable Functions management API (``taskhub serve``) and the async HTTP pattern
helper for users' own endpoints (:func:`check_status_response`)."""

from taskhub.http.server import CLIENT_FOR, create_app, is_loopback
from taskhub.http.urls import (
    RPC_PREFIX,
    WEBHOOK_PREFIX,
    check_status_response,
    durable_client_binding,
    management_urls,
)

__all__ = [
    "CLIENT_FOR",
    "create_app",
    "is_loopback",
    "check_status_response",
    "durable_client_binding",
    "management_urls",
    "WEBHOOK_PREFIX",
    "RPC_PREFIX",
]
