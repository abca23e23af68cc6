"""host.json + environment -> one frozen ``Settings`` tree, parsed once (api.md 5, config.md 1.1-1.4, 1.7).

Keys live under host.json ``extensions.durableTask`` (Functions v1: ``durableTask`` at the root, where
the storage keys may also sit flat, with ``azureStorageConnectionStringName``). Keys match
case-insensitively; unknown keys are ignored. Precedence: defaults < host.json < environment
(``AzureFunctionsJobHost__extensions__durableTask__<path>``, ``__`` or ``:`` as separator). The
``Values`` of ``local.settings.json`` beside host.json fill in environment variables that are missing.
Empty environment values count as unset; JSON ``null`` counts as unset.

=================================================  ========================================================
key under ``durableTask``                          default (rule)
=================================================  ========================================================
hubName                                            ``WEBSITE_SITE_NAME`` sanitized, else ``TestHubName``
                                                   (3-45 letters/digits from a letter; ``%Name%`` reads
                                                   the app setting ``Name``)
maxConcurrentActivityFunctions                     10 x CPU count (> 0)
maxConcurrentOrchestratorFunctions                 10 x CPU count (> 0)
extendedSessionsEnabled                            not set: on for this worker's orchestrators (an SDK
                                                   app's never carry on; see ``worker.instance_cache``)
extendedSessionIdleTimeoutInSeconds                30 (> 0)
useAppLease                                        true
maxEntityOperationBatchSize                        5000 (> 0)
entityMessageReorderWindowInMinutes                30 (>= 0; fractions allowed)
defaultVersion                                     none: the version new instances get (a string)
versionMatchStrategy                               ``CurrentOrOlder``; ``None``, ``Strict`` (any case)
versionFailureStrategy                             ``Reject``; ``Fail`` (any case)
shutdownGracePeriodInSeconds                       30 (> 0): how long a stopping worker lets running
                                                   work finish (SIGTERM, Ctrl-C)  [our extension]
storageProvider.type                               ``AzureStorage`` (other backends are rejected)
storageProvider.connectionName                     ``AzureWebJobsStorage``; alias ``connectionStringName``
storageProvider.partitionCount                     4 (1..16)
storageProvider.controlQueueBatchSize              32 (1..32, the Azure Queues maximum)
storageProvider.controlQueueBufferThreshold        256 (1..1000)
storageProvider.controlQueueVisibilityTimeout      00:05:00 (00:01:00..01:00:00)
storageProvider.workItemQueueVisibilityTimeout     00:05:00 (> 0, at most 7 days)
storageProvider.maxQueuePollingInterval            00:00:30 (> 0)
storageProvider.fetchLargeMessagesAutomatically    true
storageProvider.useTablePartitionManagement        false (true: the Partitions table, docs/partition-table.md)
storageProvider.useLegacyPartitionManagement       false (not together with the table one)
storageProvider.queueClientMessageEncoding         ``UTF8`` or ``Base64`` (any case)
storageProvider.trackingStoreConnectionName        none; alias ``trackingStoreConnectionStringName``
storageProvider.trackingStoreNamePrefix            ``DurableTask`` when a tracking connection is set
storageProvider.poisonMessageThreshold             10 dequeues (>= 1)                 [our extension]
storageProvider.leaseRenewInterval                 00:00:10 (> 0)                     [our extension]
storageProvider.leaseAcquireInterval               00:00:10 (> 0)                     [our extension]
storageProvider.leaseInterval                      00:00:30 (> leaseRenewInterval)    [our extension]
storageProvider.partitionTableOperationTimeout     00:00:02 (> 0)                     [our extension]
=================================================  ========================================================

TimeSpans are strings as .NET ``TimeSpan.Parse`` reads them: ``hh:mm:ss``, ``hh:mm``, ``d.hh:mm:ss``,
``hh:mm:ss.fffffff``. A bare number is rejected (.NET would read ``"30"`` as 30 days). Integers may be
JSON numbers or digit strings; booleans are ``true``/``false`` (strings too). ``app_name`` comes from
``WEBSITE_SITE_NAME``, else ``DTFX_APP_NAME``. Every error is a ``ConfigurationError`` naming the key (a
dotted host.json path or the environment variable), the value and the rule.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from taskhub.config.connection import (
    AppSettings,
    ConnectionInfo,
    default_connection,
    normalize_key,
    read_json_file,
    resolve_connection,
)
from taskhub.config.hostjson import raw_section, unknown_key_notes
from taskhub.config.rules import (
    CONVERTERS,
    HUB_NAME,
    HUB_RULE,
    POSITIVE,
    Rule,
    between,
    check_all,
    check_value,
    cpus_x10,
    format_timespan,
    key,
    parse_timespan,
    sanitize_hub_name,
    to_bool,
    to_encoding,
    to_failure,
    to_int,
    to_match,
    to_seconds,
    to_str,
    to_version,
)
from taskhub.errors import ConfigurationError
from taskhub.model.versioning import VersionFailureStrategy, Versioning, VersionMatchStrategy

__all__ = [
    "DEFAULT_HUB_NAME",
    "ConnectionInfo",
    "Settings",
    "StorageSettings",
    "format_timespan",
    "parse_timespan",
    "sanitize_hub_name",
]

log = logging.getLogger(__name__)

DEFAULT_HUB_NAME = "TestHubName"
_ENV_PREFIX = "azurefunctionsjobhost:extensions:durabletask:"
_HUB_PREFIX = "extensions.durableTask."
_STORAGE_PREFIX = "extensions.durableTask.storageProvider."
_S2, _S10, _S30, _M, _M5, _H = (timedelta(seconds=n) for n in (2, 10, 30, 60, 300, 3600))
_NOT_EMPTY: Rule = (str.strip, "must not be empty")
_UP_TO_A_WEEK: Rule = (lambda v: timedelta(0) < v <= timedelta(days=7), "must be > 0 and at most 7.00:00:00")
_ENCODING: Rule = (lambda v: v in ("UTF8", "Base64"), "must be UTF8 or Base64")
_TABLE_PREFIX: Rule = (re.compile(r"[A-Za-z][A-Za-z0-9]{0,53}").fullmatch, "must be 1-54 letters/digits")


@dataclass(frozen=True)
class StorageSettings:
    """host.json ``extensions.durableTask.storageProvider`` for the Azure Storage backend."""

    connection_name: str = key(("connectionName", "connectionStringName"), "AzureWebJobsStorage", _NOT_EMPTY)
    partition_count: int = key("partitionCount", 4, between(1, 16))
    control_queue_batch_size: int = key("controlQueueBatchSize", 32, between(1, 32, " (Azure Queues limit)"))
    control_queue_buffer_threshold: int = key("controlQueueBufferThreshold", 256, between(1, 1000))
    control_queue_visibility_timeout: timedelta = key("controlQueueVisibilityTimeout", _M5, between(_M, _H))  # noqa: RUF009
    work_item_queue_visibility_timeout: timedelta = key("workItemQueueVisibilityTimeout", _M5, _UP_TO_A_WEEK)  # noqa: RUF009
    max_queue_polling_interval: timedelta = key("maxQueuePollingInterval", _S30, POSITIVE)  # noqa: RUF009
    fetch_large_messages_automatically: bool = key("fetchLargeMessagesAutomatically", True)
    use_table_partition_management: bool = key("useTablePartitionManagement", False)
    use_legacy_partition_management: bool = key("useLegacyPartitionManagement", False)
    queue_client_message_encoding: str = key("queueClientMessageEncoding", "UTF8", _ENCODING, to_encoding)
    tracking_store_connection_name: str | None = key(
        ("trackingStoreConnectionName", "trackingStoreConnectionStringName"), None
    )
    tracking_store_name_prefix: str | None = key("trackingStoreNamePrefix", None, _TABLE_PREFIX)
    """``DurableTask`` when a tracking connection is set; None (ignored) without one."""
    poison_message_threshold: int = key("poisonMessageThreshold", 10, POSITIVE)
    """Our extension: dequeues before a message counts as poison."""
    lease_renew_interval: timedelta = key("leaseRenewInterval", _S10, POSITIVE)  # noqa: RUF009
    lease_acquire_interval: timedelta = key("leaseAcquireInterval", _S10, POSITIVE)  # noqa: RUF009
    lease_interval: timedelta = key("leaseInterval", _S30, POSITIVE)  # noqa: RUF009
    """Our extension, like DurableTask.AzureStorage's lease settings; must be > leaseRenewInterval."""
    partition_table_operation_timeout: timedelta = key("partitionTableOperationTimeout", _S2, POSITIVE)  # noqa: RUF009
    """Our extension, as DTFx's ``PartitionTableOperationTimeout``: the storage time one pass of the table
    partition manager may take (docs/partition-table.md)."""

    def __post_init__(self) -> None:
        if isinstance(self.queue_client_message_encoding, str):
            encoding = to_encoding("", self.queue_client_message_encoding)
            object.__setattr__(self, "queue_client_message_encoding", encoding)
        if self.tracking_store_connection_name is None:
            object.__setattr__(self, "tracking_store_name_prefix", None)
        elif self.tracking_store_name_prefix is None:
            object.__setattr__(self, "tracking_store_name_prefix", "DurableTask")
        check_all(self, _STORAGE_PREFIX)
        if self.use_table_partition_management and self.use_legacy_partition_management:
            rule = "cannot be combined with useTablePartitionManagement=true"
            raise ConfigurationError(_STORAGE_PREFIX + "useLegacyPartitionManagement", True, rule)
        if self.lease_interval <= self.lease_renew_interval:
            rule = f"must be longer than leaseRenewInterval ({format_timespan(self.lease_renew_interval)})"
            raise ConfigurationError(
                _STORAGE_PREFIX + "leaseInterval", format_timespan(self.lease_interval), rule
            )


def _to_minutes(key: str, raw: Any) -> timedelta:
    """Minutes, as a JSON number (fractions allowed) or digit text."""
    if isinstance(raw, str) and re.fullmatch(r"\d+(\.\d+)?", raw.strip()):
        raw = float(raw)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ConfigurationError(key, raw, "must be a number of minutes")
    return timedelta(minutes=raw)


CONVERTERS[_to_minutes] = (timedelta, "a number of minutes")

_NOT_NEGATIVE: Rule = (lambda v: v >= timedelta(0), "must be >= 0")


@dataclass(frozen=True)
class Settings:
    """Everything the hub and the worker read from configuration. Build it with ``Settings.load``."""

    hub_name: str = key("hubName", DEFAULT_HUB_NAME, (HUB_NAME.fullmatch, HUB_RULE))
    storage: StorageSettings = field(default_factory=StorageSettings)
    connection: ConnectionInfo = field(default_factory=default_connection)
    tracking_connection: ConnectionInfo | None = None
    max_concurrent_activity_functions: int = key("maxConcurrentActivityFunctions", cpus_x10, POSITIVE, to_int)
    max_concurrent_orchestrator_functions: int = key(
        "maxConcurrentOrchestratorFunctions", cpus_x10, POSITIVE, to_int
    )
    extended_sessions_enabled: bool | None = key("extendedSessionsEnabled", None, convert=to_bool)
    """``None`` (not set) means on: an orchestrator carries on in memory between episodes. Durable Functions
    defaults to off and forces it off for Python; ``false`` here replays every episode from history."""
    extended_session_idle_timeout: timedelta = key(  # noqa: RUF009
        "extendedSessionIdleTimeoutInSeconds", _S30, POSITIVE, to_seconds
    )
    use_app_lease: bool = key("useAppLease", True)
    max_entity_operation_batch_size: int = key("maxEntityOperationBatchSize", 5000, POSITIVE)
    """Operations one entity runs per batch at most (entities.md 4.4)."""
    entity_message_reorder_window: timedelta = key(  # noqa: RUF009
        "entityMessageReorderWindowInMinutes", timedelta(minutes=30), _NOT_NEGATIVE, _to_minutes
    )
    """The entity message sorter's window; empty entities older than this are cleaned (entities.md 2.7, 4.3)."""
    default_version: str | None = key("defaultVersion", None, convert=to_version)
    """The version new orchestrations get unless the caller names one; this worker's own version."""
    version_match_strategy: VersionMatchStrategy = key(  # noqa: RUF009
        "versionMatchStrategy", VersionMatchStrategy.CURRENT_OR_OLDER, convert=to_match
    )
    version_failure_strategy: VersionFailureStrategy = key(  # noqa: RUF009
        "versionFailureStrategy", VersionFailureStrategy.REJECT, convert=to_failure
    )
    shutdown_grace_period: timedelta = key(  # noqa: RUF009
        "shutdownGracePeriodInSeconds", _S30, POSITIVE, to_seconds
    )
    """Our extension: a stopping worker exits within this, whatever the storage does (``Worker.stop``)."""
    app_name: str = ""
    """``WEBSITE_SITE_NAME``, else ``DTFX_APP_NAME``, else empty: names the app lease."""
    source: tuple[str, ...] = ()
    """Where values came from (files read, ``environment``), for diagnostics."""
    notes: tuple[str, ...] = ()
    """Warnings about host.json that did not stop loading (a misspelled key: "did you mean ...?")."""

    def __post_init__(self) -> None:
        for name, wire, convert in _STRATEGIES:
            if type(getattr(self, name)) is str:  # with_overrides(version_match_strategy="Strict")
                object.__setattr__(self, name, convert(_HUB_PREFIX + wire, getattr(self, name)))
        check_all(self, _HUB_PREFIX)
        if not isinstance(self.storage, StorageSettings):
            raise ConfigurationError("storage", self.storage, "must be a StorageSettings")
        if not isinstance(self.app_name, str):
            raise ConfigurationError("app_name", self.app_name, "must be a string")

    @property
    def versioning(self) -> Versioning:
        """``defaultVersion`` and the two strategies, as the worker checks them."""
        return Versioning(self.default_version, self.version_match_strategy, self.version_failure_strategy)

    @classmethod
    def load(
        cls, host_json: str | os.PathLike[str] | None = "host.json", *, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Read host.json (``None``: no file; the default ``host.json`` may be missing), the
        local.settings.json beside it, and ``env`` (default ``os.environ``); resolve the connections."""
        return _load(host_json, os.environ if env is None else env)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with fields replaced and validated again; ``StorageSettings`` field names are accepted too
        (``with_overrides(hub_name="Other", partition_count=8)``). Connections are not re-resolved."""
        storage_fields = {f.name for f in dataclasses.fields(StorageSettings)}
        storage = {k: changes.pop(k) for k in list(changes) if k in storage_fields}
        if storage:
            changes["storage"] = dataclasses.replace(changes.get("storage", self.storage), **storage)
        return dataclasses.replace(self, **changes)


_STRATEGIES = (
    ("version_match_strategy", "versionMatchStrategy", to_match),
    ("version_failure_strategy", "versionFailureStrategy", to_failure),
)
_HUB_NAME_FIELD = next(f for f in dataclasses.fields(Settings) if f.name == "hub_name")


# --- loading -------------------------------------------------------------------------------------------


@dataclass
class _Source:
    """The ``durableTask`` section (keys lower-cased) plus the environment overrides of it."""

    section: dict[str, Any]
    prefix: str  # "extensions.durableTask", or "durableTask" for the Functions v1 shape
    overrides: dict[tuple[str, ...], tuple[str, str]]  # lower-cased path -> (variable name, value)

    def get(self, *paths: tuple[str, ...]) -> tuple[str, Any] | None:
        """(key to show in errors, raw value) of the first path set: environment first, then host.json."""
        for path in paths:
            hit = self.overrides.get(tuple(p.lower() for p in path))
            if hit is not None:
                return hit
        for path in paths:
            node: Any = self.section
            for part in path:
                node = node.get(part.lower()) if isinstance(node, dict) else None
            if node is not None:
                return ".".join((self.prefix, *path)), node
        return None


def _durable_section(root: dict[str, Any], app: AppSettings) -> _Source:
    root = _lower_keys(root)
    extensions = root.get("extensions")
    if isinstance(extensions, dict) and "durabletask" in extensions:
        prefix, section = "extensions.durableTask", extensions["durabletask"]
    else:  # Functions v1 keeps durableTask at the root
        prefix, section = (
            "durableTask" if "durabletask" in root else _HUB_PREFIX[:-1],
            root.get("durabletask"),
        )
    section = {} if section is None else section
    if not isinstance(section, dict):
        raise ConfigurationError(prefix, section, "must be a JSON object")
    provider = section.get("storageprovider")
    if not isinstance(provider, dict | None):
        raise ConfigurationError(prefix + ".storageProvider", provider, "must be a JSON object")
    overrides = {
        tuple(normalize_key(name)[len(_ENV_PREFIX) :].split(":")): (name, app[name])
        for name in app
        if normalize_key(name).startswith(_ENV_PREFIX)
    }
    return _Source(section, prefix, overrides)


def _lower_keys(value: Any) -> Any:
    return {str(k).lower(): _lower_keys(v) for k, v in value.items()} if isinstance(value, dict) else value


def _read(src: _Source, cls: type, flat: bool = False) -> dict[str, Any]:
    """The fields of ``cls`` that host.json or the environment set, converted and checked."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        names = f.metadata.get("names", ())
        paths = [(*(("storageProvider",) if cls is StorageSettings else ()), n) for n in names]
        paths += [(n,) for n in names] if flat else []  # Durable 1.x: storage keys flat under durableTask
        hit = src.get(*paths) if names and f.name != "hub_name" else None
        if hit is not None:
            key, raw = hit
            values[f.name] = value = f.metadata["convert"](key, raw)
            check_value(f, value, key, raw)
    return values


def _hub_name(src: _Source, app: AppSettings) -> str:
    hit = src.get(("hubName",))
    if hit is None:  # the default: the app's name made valid, else TestHubName (config.md 1.4)
        slot = app.get("WEBSITE_SLOT_NAME")
        if slot and slot.lower() != "production":
            raise ConfigurationError(
                _HUB_PREFIX + "hubName",
                None,
                f"Task Hub name must be specified in host.json when using slots (WEBSITE_SLOT_NAME={slot})",
            )
        site = app.get("WEBSITE_SITE_NAME")
        return sanitize_hub_name(site) if site else DEFAULT_HUB_NAME
    key, raw = hit
    name = to_str(key, raw)
    setting = re.fullmatch(r"%([^%]+)%", name.strip())
    if setting:  # %AppSettingName% (INameResolver.TryResolveWholeString)
        if setting[1] not in app:
            raise ConfigurationError(key, name, f"app setting '{setting[1]}' is not set")
        name = app[setting[1]]
    check_value(_HUB_NAME_FIELD, name, key)
    return name


def _known(cls: type) -> list[str]:
    names = [n for f in dataclasses.fields(cls) for n in f.metadata.get("names", ())]
    return [*names, "storageProvider"] if cls is Settings else names


def _load(host_json: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Settings:
    root: dict[str, Any] = {}
    sources: list[str] = []
    local: Path | None = None
    if host_json is not None:
        path = Path(host_json)
        if path.is_file() or os.fspath(host_json) != "host.json":  # only the default may be missing
            root = read_json_file(path)
            sources.append(str(path))
        local = path.parent / "local.settings.json"
        if local.is_file():
            sources.append(str(local))
    app = AppSettings.load(env, local)
    src = _durable_section(root, app)
    if src.overrides:
        sources.append("environment")

    provider = src.get(("storageProvider", "type"))
    if provider is not None and str(provider[1]).strip().lower() not in ("", "azurestorage"):
        raise ConfigurationError(*provider, "this project implements the AzureStorage provider only")

    flat = src.prefix == "durableTask"
    values = _read(src, StorageSettings, flat)
    legacy = src.get(("azureStorageConnectionStringName",)) if flat else None
    if legacy is not None and "connection_name" not in values:
        values["connection_name"] = to_str(*legacy)
    storage = StorageSettings(**values)
    tracking = storage.tracking_store_connection_name
    notes = tuple(
        unknown_key_notes(
            raw_section(root, src.prefix), src.prefix, _known(Settings), _known(StorageSettings)
        )
    )
    for note in notes:
        log.warning("config.unknown_key %s", note)
    return Settings(
        notes=notes,
        hub_name=_hub_name(src, app),
        storage=storage,
        connection=resolve_connection(storage.connection_name, app),
        tracking_connection=resolve_connection(tracking, app, allow_default=False) if tracking else None,
        app_name=app.get("WEBSITE_SITE_NAME") or app.get("DTFX_APP_NAME") or "",
        source=tuple(sources),
        **_read(src, Settings),
    )
