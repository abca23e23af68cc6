"""host.json in plain words: unknown keys with the nearest known one, JSON errors a person can act on.

Durable Functions ignores keys it does not know, so a misspelled one (``partitonCount``) silently keeps
the default. :func:`unknown_key_notes` names such keys with the nearest known key ("did you mean
partitionCount?"); keys far from every known one are left alone (other extensions' keys, newer
Durable Functions keys). :func:`plain_json_error` turns ``json`` module messages into plain words.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = ["OTHER_DURABLE_KEYS", "plain_json_error", "unknown_key_notes"]

OTHER_DURABLE_KEYS = frozenset(
    k.lower()
    for k in (
        "hubName", "storageProvider", "tracing", "notifications", "httpSettings", "maxConcurrentEntityFunctions",
        "localRpcEndpointEnabled", "rollbackEntityOperationsOnExceptions", "useGracefulShutdown",
        "storeInputsInOrchestrationHistory", "defaultVersion", "versionMatchStrategy", "versionFailureStrategy",
        "maxEntityOperationBatchSize", "entityMessageReorderWindowInMinutes", "maxOrchestrationActions",
        "overridableExistingInstanceStates", "customLifeCycleNotificationHelperType",
        "useTablePartitionManagement", "type", "maxQueuePollingInterval",
    )
)  # fmt: skip
"""Durable Functions keys this project reads elsewhere or ignores on purpose (never reported)."""

_PLAIN = (
    ("Expecting ',' delimiter", "a comma is missing between two items"),
    ("Expecting ':' delimiter", "a colon is missing after a key"),
    (
        "Expecting property name enclosed in double quotes",
        "expected a key in double quotes (a trailing comma?)",
    ),
    ("Expecting value", "expected a value (a trailing comma, or an unquoted word?)"),
    ("Illegal trailing comma", "a trailing comma before the closing bracket"),  # Python 3.13+
    ("Extra data", "there is more text after the end of the JSON object"),
    ("Unterminated string", "a string is not closed with a double quote"),
    ("Invalid control character", "a string holds a line break or control character"),
    ("Invalid \\escape", "a string holds an invalid backslash escape"),
)


def plain_json_error(message: str) -> str:
    """The ``json`` module's message in plain words (unknown messages are returned as they are)."""
    for prefix, plain in _PLAIN:
        if message.startswith(prefix):
            return plain
    return message


def _suggest(name: str, known: Iterable[str]) -> str | None:
    by_lower = {k.lower(): k for k in known}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.8)
    return by_lower[match[0]] if match else None


def unknown_key_notes(
    section: Any, prefix: str, top_keys: Iterable[str], storage_keys: Iterable[str]
) -> list[str]:
    """One line per key of the ``durableTask`` ``section`` (original spelling) that is unknown but close
    to a known key: ``host.json: unknown key extensions.durableTask.storageProvider.partitonCount is
    ignored; did you mean partitionCount?``."""
    if not isinstance(section, dict):
        return []
    top, storage = list(top_keys), list(storage_keys)
    notes: list[str] = []

    def check(keys: Iterable[str], known: list[str], where: str, others: frozenset[str]) -> None:
        lowered = {k.lower() for k in known}
        for name in keys:
            if name.lower() in lowered or name.lower() in others:
                continue
            nearest = _suggest(name, known)
            if nearest is not None:
                notes.append(f"host.json: unknown key {where}{name} is ignored; did you mean {nearest}?")

    check(section, top, prefix + ".", OTHER_DURABLE_KEYS)
    provider = next((v for k, v in section.items() if k.lower() == "storageprovider"), None)
    if isinstance(provider, dict):
        check(provider, storage, prefix + ".storageProvider.", frozenset())
    return notes


def raw_section(root: dict[str, Any], prefix: str) -> Any:
    """The section at the dotted ``prefix`` of host.json, keys matched case-insensitively (None if absent)."""
    node: Any = root
    for part in prefix.split("."):
        if not isinstance(node, dict):
            return None
        node = next((v for k, v in node.items() if k.lower() == part.lower()), None)
    return node
