"""App settings (environment + local.settings.json) and the storage connections they define (config.md 1.7).

A connection name ``N`` (``storageProvider.connectionName``, default ``AzureWebJobsStorage``) is looked
up in the app settings, first match wins:

1. ``ConnectionStrings:AzureWebJobsN``   2. ``AzureWebJobsN``   3. ``ConnectionStrings:N``   4. ``N``

A setting with a **value** is a connection string (``k=v;k=v``; ``UseDevelopmentStorage=true`` is
expanded here to the full Azurite string of azurite.md 6.2, because the Python SDKs disagree on it).
A setting with **children** (``N__accountName``, ``N__blobServiceUri``, ``N__queueServiceUri``,
``N__tableServiceUri``, ``N__credential``, ``N__clientId``, ``N__tenantId``, ``N__clientSecret``; ``:``
works in place of ``__``) is an identity-based connection. Nothing at all for ``AzureWebJobsStorage``
means the local Azurite (``is_default=True``); nothing for any other name is an error.

App settings are the environment, with the ``Values`` (and ``ConnectionStrings``) of local.settings.json
filling in what the environment lacks. Names match case-insensitively, ``__`` and ``:`` are the same
separator, and empty values count as unset. Secrets (``AccountKey``, ``SharedAccessSignature``,
``clientSecret``) never appear in a ``repr`` or in an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from taskhub.config.hostjson import plain_json_error
from taskhub.errors import ConfigurationError, ConfigurationFileError

__all__ = [
    "AppSettings",
    "ConnectionInfo",
    "DEFAULT_CONNECTION_NAME",
    "DEVSTORE_ACCOUNT_NAME",
    "DEVSTORE_ACCOUNT_KEY",
    "DEVELOPMENT_STORAGE_CONNECTION_STRING",
    "connection_from_string",
    "default_connection",
    "development_storage_connection_string",
    "normalize_key",
    "parse_connection_string",
    "read_json_file",
    "redact_connection_string",
    "resolve_connection",
]

DEFAULT_CONNECTION_NAME = "AzureWebJobsStorage"
DEVSTORE_ACCOUNT_NAME = "devstoreaccount1"
DEVSTORE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_SERVICES = ("blob", "queue", "table")
_DEV_PORTS = {"blob": 10000, "queue": 10001, "table": 10002}
_ENDPOINT_PARTS = {
    f"{s}{x}endpoint": f"{s.capitalize()}{x.capitalize()}Endpoint"
    for s in (*_SERVICES, "file")
    for x in ("", "secondary")
}
_PLAIN_PARTS = {
    "accountname",
    "defaultendpointsprotocol",
    "endpointsuffix",
    "usedevelopmentstorage",
    "developmentstorageproxyuri",
    *_ENDPOINT_PARTS,
}
_IDENTIFIER = re.compile(r"[A-Za-z]{1,40}")


def development_storage_connection_string(proxy_uri: str | None = None) -> str:
    """The full equivalent of ``UseDevelopmentStorage=true`` (with ``DevelopmentStorageProxyUri``, its
    scheme and host replace ``http://127.0.0.1``, as the .NET storage library does)."""
    scheme, host = "http", "127.0.0.1"
    if proxy_uri is not None:
        parts = urlsplit(proxy_uri)
        scheme, host = parts.scheme.lower(), parts.hostname or host
    ends = "".join(
        f"{s.capitalize()}Endpoint={scheme}://{host}:{_DEV_PORTS[s]}/{DEVSTORE_ACCOUNT_NAME};"
        for s in _SERVICES
    )
    return (
        f"DefaultEndpointsProtocol={scheme};AccountName={DEVSTORE_ACCOUNT_NAME};"
        f"AccountKey={DEVSTORE_ACCOUNT_KEY};{ends}"
    )


DEVELOPMENT_STORAGE_CONNECTION_STRING = development_storage_connection_string()


def normalize_key(key: str) -> str:
    """App-setting names as .NET configuration compares them: case-insensitive, ``__`` == ``:``."""
    return key.replace("__", ":").lower()


_JSON_TOKENS = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.S)


def read_json_file(path: Path) -> dict[str, Any]:
    """A JSON object from a file (UTF-8, BOM allowed; ``//`` and ``/* */`` comments allowed, as the
    Functions host allows them). Errors name the file and, for bad JSON, the line and column."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigurationFileError(str(path), "file not found") from None
    except IsADirectoryError:
        raise ConfigurationFileError(str(path), "is a folder, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationFileError(str(path), f"cannot be read ({type(exc).__name__})") from None
    text = _JSON_TOKENS.sub(lambda m: m[0] if m[0][0] == '"' else re.sub(r"[^\n]", " ", m[0]), text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON: {plain_json_error(exc.msg)}"
        raise ConfigurationFileError(str(path), problem, line=exc.lineno, column=exc.colno) from None
    if not isinstance(data, dict):
        raise ConfigurationFileError(str(path), f"must hold a JSON object, not {type(data).__name__}")
    return data


def _local_settings_layers(path: Path) -> list[dict[str, str]]:
    """local.settings.json -> [its ConnectionStrings as ``ConnectionStrings:<name>``, its Values]."""
    top = {k.lower(): v for k, v in read_json_file(path).items()}
    if top.get("isencrypted") is True:
        raise ConfigurationError(
            f"{path}: IsEncrypted", True, "encrypted values are not supported (run `func settings decrypt`)"
        )
    layers: list[dict[str, str]] = []
    for section, prefix in (("connectionstrings", "ConnectionStrings:"), ("values", "")):
        items = top.get(section) or {}
        if not isinstance(items, dict):
            raise ConfigurationError(f"{path}: {section}", type(items).__name__, "must be a JSON object")
        layer: dict[str, str] = {}
        for key, value in items.items():
            if isinstance(value, dict):  # {"ConnectionString": "...", "ProviderName": "..."}
                value = next((v for k, v in value.items() if k.lower() == "connectionstring"), None)
            if isinstance(value, (str, int, float)):
                layer[prefix + key] = str(value).lower() if isinstance(value, bool) else str(value)
        layers.append(layer)
    return layers


class AppSettings(Mapping[str, str]):
    """App settings and environment variables, looked up like .NET configuration.

    ``AppSettings(lower, higher, ...)``: a later layer wins. Names match case-insensitively with ``__``
    and ``:`` interchangeable; empty or blank values count as unset.
    """

    def __init__(self, *layers: Mapping[str, str]) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for layer in layers:
            for key, value in layer.items():
                if isinstance(value, str) and value.strip():
                    self._items[normalize_key(key)] = (key, value)

    def __getitem__(self, key: str) -> str:
        return self._items[normalize_key(key)][1]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and normalize_key(key) in self._items

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    @classmethod
    def load(cls, env: Mapping[str, str], local_settings: Path | None = None) -> AppSettings:
        """``env``, with the settings of ``local_settings`` (if that file exists) filling in what it lacks."""
        layers = _local_settings_layers(local_settings) if local_settings and local_settings.is_file() else []
        return cls(*layers, env)

    def original_key(self, key: str) -> str:
        """The name as it was written (``AzureWebJobsStorage`` rather than ``azurewebjobsstorage``)."""
        return self._items[normalize_key(key)][0]

    def children(self, prefix: str) -> dict[str, tuple[str, str]]:
        """Settings under ``prefix``: lower-cased remainder -> (name as written, value)."""
        start = normalize_key(prefix) + ":"
        return {k[len(start) :]: item for k, item in self._items.items() if k.startswith(start)}


@dataclass(frozen=True, repr=False)
class ConnectionInfo:
    """One resolved storage connection: a connection string or an identity-based connection.

    The three ``*_service_uri`` fields are filled for both kinds (for a connection string, from its
    endpoints or from ``AccountName`` + ``EndpointSuffix``; query strings are dropped).
    """

    name: str
    """The app setting (or identity prefix) it was resolved from."""
    connection_string: str | None = None
    """The full connection string, ``UseDevelopmentStorage=true`` already expanded; None for identity."""
    account_name: str | None = None
    blob_service_uri: str | None = None
    queue_service_uri: str | None = None
    table_service_uri: str | None = None
    credential: str | None = None
    """``managedidentity``, ``managedidentityasfederatedidentity``, ... (lower-cased); None: default chain."""
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: str | None = None
    is_default: bool = False
    """Nothing was configured: the local Azurite is used (the caller announces it once)."""

    @property
    def is_identity(self) -> bool:
        """True for an identity-based (azure-identity token) connection."""
        return self.connection_string is None

    def endpoints(self) -> dict[str, str | None]:
        """``{"blob": url, "queue": url, "table": url}`` for display (no secrets in them)."""
        return {service: getattr(self, f"{service}_service_uri") for service in _SERVICES}

    def __repr__(self) -> str:
        masked = {
            "connection_string": self.connection_string and redact_connection_string(self.connection_string),
            "client_secret": self.client_secret and "***",
        }
        shown = (f"{f.name}={masked.get(f.name, getattr(self, f.name))!r}" for f in fields(self))
        return f"ConnectionInfo({', '.join(shown)})"

    __str__ = __repr__


def connection_from_string(setting: str, text: str) -> ConnectionInfo:
    """A ConnectionInfo for a connection string (``setting`` names where it came from, for messages)."""
    return _from_connection_string(setting, text)


def default_connection() -> ConnectionInfo:
    """The local Azurite, used when no connection is configured at all."""
    return _from_connection_string(DEFAULT_CONNECTION_NAME, "UseDevelopmentStorage=true", is_default=True)


def resolve_connection(
    name: str, settings: Mapping[str, str], *, allow_default: bool | None = None
) -> ConnectionInfo:
    """Resolve the connection called ``name`` from app settings (config.md 1.7).

    ``allow_default`` (by default: ``name`` is ``AzureWebJobsStorage``) turns "nothing configured"
    into the local Azurite instead of an error.
    """
    app = settings if isinstance(settings, AppSettings) else AppSettings(settings)
    for candidate in (
        f"ConnectionStrings:AzureWebJobs{name}",
        f"AzureWebJobs{name}",
        f"ConnectionStrings:{name}",
        name,
    ):
        if candidate in app:  # an exact match wins over children
            return _from_connection_string(app.original_key(candidate), app[candidate])
        children = app.children(candidate)
        if children:
            return _from_identity(candidate, children)
    if allow_default is None:
        allow_default = normalize_key(name) == normalize_key(DEFAULT_CONNECTION_NAME)
    if allow_default:
        return default_connection()
    raise ConfigurationError(
        name,
        None,
        f"Unable to resolve the Azure Storage connection named '{name}' (looked for "
        f"ConnectionStrings:AzureWebJobs{name}, AzureWebJobs{name}, ConnectionStrings:{name}, {name}, "
        f"and {name}__accountName / {name}__*ServiceUri)",
    )


def parse_connection_string(text: str) -> dict[str, str]:
    """``k=v;k=v`` -> {lower-cased key: value}. Values may contain ``=``; one trailing ``;`` is fine.

    Raises ``ValueError`` (without the text) for an empty segment or a segment with no ``key=``.
    """
    body = text.strip()
    body = body[:-1] if body.endswith(";") else body
    pairs: dict[str, str] = {}
    for index, segment in enumerate(body.split(";")):
        key, sep, value = segment.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"segment {index + 1} is not a key=value pair")
        pairs[key.strip().lower()] = value.strip()
    return pairs


def redact_connection_string(text: str) -> str:
    """The connection string with every value that may be secret replaced by ``***``: AccountKey,
    SharedAccessSignature, URL query strings, unknown keys' values, and malformed segments (which may be
    a pasted key). Only known, plain values stay readable."""
    out: list[str] = []
    for segment in text.strip().split(";"):
        key, sep, value = segment.partition("=")
        known = key.strip().lower()
        if not segment or (known in _PLAIN_PARTS and "?" not in value):
            out.append(segment)
        elif known in _PLAIN_PARTS:
            out.append(f"{key}={value.split('?', 1)[0]}?***")
        else:
            out.append(f"{key}=***" if sep and _IDENTIFIER.fullmatch(key.strip()) else "***")
    return ";".join(out)


def _is_url(value: str, schemes: tuple[str, ...] = ("http", "https")) -> bool:
    parts = urlsplit(value)
    return parts.scheme.lower() in schemes and bool(parts.netloc)


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0].rstrip("/")


def _from_connection_string(setting: str, text: str, *, is_default: bool = False) -> ConnectionInfo:
    def fail(rule: str) -> ConfigurationError:
        return ConfigurationError(setting, redact_connection_string(text), rule)

    try:
        pairs = parse_connection_string(text)
    except ValueError as exc:
        raise fail(f"not a connection string of key=value pairs ({exc})") from None

    if not set(pairs) & (_PLAIN_PARTS | {"accountkey", "sharedaccesssignature"}):
        raise fail(
            "not a connection string: no AccountName, AccountKey, SharedAccessSignature or *Endpoint key"
        )
    if "usedevelopmentstorage" in pairs:
        if pairs["usedevelopmentstorage"].lower() != "true":
            raise fail("UseDevelopmentStorage must be true")
        if set(pairs) - {"usedevelopmentstorage", "developmentstorageproxyuri"}:
            raise fail("UseDevelopmentStorage=true can only be combined with DevelopmentStorageProxyUri")
        proxy = pairs.get("developmentstorageproxyuri")
        if proxy is not None and not _is_url(proxy):
            raise fail("DevelopmentStorageProxyUri must be an http(s) URL")
        text = development_storage_connection_string(proxy)
        pairs = parse_connection_string(text)

    protocol = pairs.get("defaultendpointsprotocol", "https").lower()
    if protocol not in ("http", "https"):
        raise fail("DefaultEndpointsProtocol must be http or https")
    for key, shown in _ENDPOINT_PARTS.items():
        if key in pairs and not _is_url(pairs[key]):
            raise fail(f"{shown} must be an http(s) URL")

    account = pairs.get("accountname") or None
    if "accountkey" in pairs:
        if account is None:
            raise fail("AccountKey needs AccountName")
        try:
            base64.b64decode(pairs["accountkey"], validate=True)
        except (binascii.Error, ValueError):
            raise fail("AccountKey is not valid base64") from None
    elif not pairs.get("sharedaccesssignature"):
        raise fail("needs AccountName and AccountKey, or SharedAccessSignature")

    explicit = {s: _strip_query(pairs[f"{s}endpoint"]) for s in _SERVICES if pairs.get(f"{s}endpoint")}
    uris = _service_uris(explicit, account, protocol, pairs.get("endpointsuffix") or "core.windows.net")
    missing = [f"{s.capitalize()}Endpoint" for s, uri in zip(_SERVICES, uris, strict=True) if uri is None]
    if missing:
        raise fail(f"has no AccountName and no {', '.join(missing)} (a task hub needs blob, queue and table)")
    return ConnectionInfo(setting, text.strip(), account, *uris, is_default=is_default)


def _service_uris(
    explicit: dict[str, str], account: str | None, scheme: str = "https", suffix: str = "core.windows.net"
) -> tuple[str | None, str | None, str | None]:
    """(blob, queue, table) URLs: the explicit ones, else derived from the account name, else None."""
    blob, queue, table = (
        explicit.get(s) or (account and f"{scheme}://{account}.{s}.{suffix}") for s in _SERVICES
    )
    return blob, queue, table


_ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")


def _from_identity(prefix: str, children: dict[str, tuple[str, str]]) -> ConnectionInfo:
    def get(child: str) -> str | None:
        item = children.get(child)
        return item[1].strip() if item else None

    def fail(child: str, value: object, rule: str) -> ConfigurationError:
        key = children[child][0] if child in children else prefix
        return ConfigurationError(key, value, rule)

    account = get("accountname")
    if account is not None and not _ACCOUNT_NAME.fullmatch(account):
        raise fail("accountname", account, "a storage account name has 3 to 24 lower-case letters and digits")
    explicit = {s: uri.rstrip("/") for s in _SERVICES if (uri := get(f"{s}serviceuri"))}
    for service, uri in explicit.items():
        if not _is_url(uri, ("https",)):
            raise fail(
                f"{service}serviceuri", uri, "must be an https URL (identity-based connections need TLS)"
            )
    uris = _service_uris(explicit, account)
    missing = [f"{prefix}__{s}ServiceUri" for s, uri in zip(_SERVICES, uris, strict=True) if uri is None]
    if missing:
        given = ", ".join(sorted(original for original, _ in children.values()))
        raise ConfigurationError(
            prefix,
            given,
            f"an identity-based connection needs {prefix}__accountName or all three service URIs; missing "
            + ", ".join(missing),
        )
    client_id, tenant_id, secret = get("clientid"), get("tenantid"), get("clientsecret")
    if secret is not None and (client_id is None or tenant_id is None):
        raise fail(
            "clientsecret", "***", f"{prefix}__clientSecret needs {prefix}__clientId and {prefix}__tenantId"
        )
    credential = get("credential")
    return ConnectionInfo(
        prefix,
        None,
        account,
        *uris,
        credential=credential.lower() if credential else None,
        client_id=client_id,
        tenant_id=tenant_id,
        client_secret=secret,
    )
