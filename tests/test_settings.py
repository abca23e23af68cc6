"""Settings: host.json + environment + local.settings.json -> frozen Settings (pure tier, no storage)."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from taskhub.config.connection import (
    DEVELOPMENT_STORAGE_CONNECTION_STRING,
    DEVSTORE_ACCOUNT_KEY,
    AppSettings,
    resolve_connection,
)
from taskhub.config.settings import (
    Settings,
    StorageSettings,
    format_timespan,
    parse_timespan,
    sanitize_hub_name,
)
from taskhub.errors import ConfigurationError

# A well-formed but made-up account key; it must never show up in reprs or error messages.
SECRET_KEY = "c2VjcmV0LWtleS1tYXRlcmlhbC1kby1ub3QtbGVhaw=="
ACCOUNT_STRING = f"DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey={SECRET_KEY};EndpointSuffix=core.windows.net"
AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)
ENV = "AzureFunctionsJobHost__extensions__durableTask__"


def write_json(directory: Path, data: Any, name: str = "host.json") -> Path:
    path = directory / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def host(durable: dict[str, Any]) -> dict[str, Any]:
    return {"version": "2.0", "extensions": {"durableTask": durable}}


def load(
    tmp_path: Path, durable: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> Settings:
    path = write_json(tmp_path, host(durable or {}))
    return Settings.load(path, env=env or {})


def config_error(excinfo: pytest.ExceptionInfo[ConfigurationError], *parts: str) -> str:
    """The message is one line and names every part (key, value, rule)."""
    message = str(excinfo.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    return message


# --- defaults and files --------------------------------------------------------------------------------


def test_defaults_without_files_or_environment() -> None:
    s = Settings.load(None, env={})
    assert s.hub_name == "TestHubName"
    assert s.storage == StorageSettings()
    assert s.storage.partition_count == 4 and s.storage.control_queue_batch_size == 32
    assert s.storage.control_queue_buffer_threshold == 256
    assert s.storage.control_queue_visibility_timeout == timedelta(minutes=5)
    assert s.storage.work_item_queue_visibility_timeout == timedelta(minutes=5)
    assert s.storage.max_queue_polling_interval == timedelta(seconds=30)
    assert s.storage.fetch_large_messages_automatically is True
    assert s.storage.use_table_partition_management is False
    assert s.storage.queue_client_message_encoding == "UTF8"
    assert s.storage.tracking_store_connection_name is None and s.storage.tracking_store_name_prefix is None
    assert s.storage.poison_message_threshold == 10
    assert (s.storage.lease_renew_interval, s.storage.lease_acquire_interval, s.storage.lease_interval) == (
        timedelta(seconds=10),
        timedelta(seconds=10),
        timedelta(seconds=30),
    )
    assert (
        s.max_concurrent_activity_functions
        == s.max_concurrent_orchestrator_functions
        == 10 * (os.cpu_count() or 1)
    )
    assert s.extended_sessions_enabled is None and s.extended_session_idle_timeout == timedelta(seconds=30)
    assert s.use_app_lease is True and s.app_name == ""
    assert s.connection.is_default and s.connection.connection_string == AZURITE
    assert s.tracking_connection is None and s.source == ()
    assert s == Settings()


def test_default_host_json_may_be_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.load(env={}).hub_name == "TestHubName"


def test_explicit_host_json_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        Settings.load(tmp_path / "nope.json", env={})
    config_error(excinfo, "nope.json", "file not found")


def test_every_key_from_host_json_with_odd_casing(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        {
            "HubName": "MyHub1",
            "MAXCONCURRENTACTIVITYFUNCTIONS": 7,
            "maxconcurrentorchestratorfunctions": "3",
            "ExtendedSessionsEnabled": True,
            "extendedSessionIdleTimeoutInSeconds": 45,
            "UseAppLease": False,
            "StorageProvider": {
                "Type": "azureStorage",
                "ConnectionName": "Main",
                "PARTITIONCOUNT": 8,
                "controlqueuebatchsize": 16,
                "ControlQueueBufferThreshold": 100,
                "ControlQueueVisibilityTimeout": "00:02:00",
                "workItemQueueVisibilityTimeout": "00:10:00",
                "MaxQueuePollingInterval": "00:00:05",
                "FetchLargeMessagesAutomatically": False,
                "UseTablePartitionManagement": True,
                "queueclientmessageencoding": "base64",
                "TrackingStoreConnectionName": "Tracking",
                "TrackingStoreNamePrefix": "Track",
                "PoisonMessageThreshold": 3,
                "LeaseRenewInterval": "00:00:05",
                "LeaseAcquireInterval": "00:00:07",
                "LeaseInterval": "00:00:20",
                "someFutureKey": {"ignored": True},
            },
        },
        env={"AzureWebJobsMain": ACCOUNT_STRING, "Tracking": AZURITE},
    )
    assert (s.hub_name, s.max_concurrent_activity_functions, s.max_concurrent_orchestrator_functions) == (
        "MyHub1",
        7,
        3,
    )
    assert s.extended_sessions_enabled is True and s.extended_session_idle_timeout == timedelta(seconds=45)
    assert s.use_app_lease is False
    assert s.storage == StorageSettings(
        connection_name="Main",
        partition_count=8,
        control_queue_batch_size=16,
        control_queue_buffer_threshold=100,
        control_queue_visibility_timeout=timedelta(minutes=2),
        work_item_queue_visibility_timeout=timedelta(minutes=10),
        max_queue_polling_interval=timedelta(seconds=5),
        fetch_large_messages_automatically=False,
        use_table_partition_management=True,
        queue_client_message_encoding="Base64",
        tracking_store_connection_name="Tracking",
        tracking_store_name_prefix="Track",
        poison_message_threshold=3,
        lease_renew_interval=timedelta(seconds=5),
        lease_acquire_interval=timedelta(seconds=7),
        lease_interval=timedelta(seconds=20),
    )
    assert s.connection.name == "AzureWebJobsMain" and s.connection.account_name == "myacct"
    assert s.tracking_connection is not None and s.tracking_connection.connection_string == AZURITE
    assert not s.tracking_connection.is_default


def test_aliases_and_tracking_prefix_default(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        {"storageProvider": {"connectionStringName": "Main", "trackingStoreConnectionStringName": "Main"}},
        env={"Main": ACCOUNT_STRING},
    )
    assert s.storage.connection_name == "Main" and s.storage.tracking_store_connection_name == "Main"
    assert s.storage.tracking_store_name_prefix == "DurableTask"
    # the prefix means nothing without a tracking connection
    assert (
        load(
            tmp_path, {"storageProvider": {"trackingStoreNamePrefix": "X"}}
        ).storage.tracking_store_name_prefix
        is None
    )


def test_functions_v1_shape(tmp_path: Path) -> None:
    path = write_json(
        tmp_path, {"durableTask": {"hubName": "VOneHub", "storageProvider": {"partitionCount": 2}}}
    )
    s = Settings.load(path, env={})
    assert (s.hub_name, s.storage.partition_count) == ("VOneHub", 2)
    # Durable 1.x: storage keys flat under durableTask
    flat = {"durableTask": {"partitionCount": 6, "azureStorageConnectionStringName": "Legacy"}}
    s = Settings.load(write_json(tmp_path, flat), env={"Legacy": ACCOUNT_STRING})
    assert (s.storage.partition_count, s.storage.connection_name, s.connection.name) == (
        6,
        "Legacy",
        "Legacy",
    )


def test_host_json_comments_and_nulls(tmp_path: Path) -> None:
    text = """{
      // the Functions host accepts comments
      "version": "2.0", /* block
      comment */ "extensions": {"durableTask": {"hubName": "Comment//Free", "storageProvider": {"partitionCount": null}}}
    }"""
    with pytest.raises(
        ConfigurationError
    ) as excinfo:  # the // inside the string is kept, so the name is invalid
        Settings.load(write_json(tmp_path, text), env={})
    config_error(excinfo, "'Comment//Free'")
    s = Settings.load(write_json(tmp_path, text.replace("Comment//Free", "CommentFree")), env={})
    assert (s.hub_name, s.storage.partition_count) == ("CommentFree", 4)


@pytest.mark.parametrize(
    ("text", "where"),
    [('{"version": "2.0",\n  "extensions": {,}}', "line 2 column 18"), ("{\n\n  'x': 1}", "line 3 column 3")],
)
def test_bad_json_names_file_and_position(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        Settings.load(write_json(tmp_path, text), env={})
    config_error(excinfo, str(tmp_path / "host.json"), where, "not valid JSON")
    write_json(tmp_path, "{}")
    write_json(tmp_path, text, "local.settings.json")
    with pytest.raises(ConfigurationError) as excinfo:
        Settings.load(tmp_path / "host.json", env={})
    config_error(excinfo, "local.settings.json", where)


def test_host_json_sections_must_be_objects(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        Settings.load(write_json(tmp_path, host({"storageProvider": "AzureStorage"})), env={})
    config_error(excinfo, "extensions.durableTask.storageProvider", "'AzureStorage'", "JSON object")
    with pytest.raises(ConfigurationError):
        Settings.load(write_json(tmp_path, "[1, 2]"), env={})


# --- TimeSpans -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:05:00", timedelta(minutes=5)),
        ("01:00:00", timedelta(hours=1)),
        ("00:05", timedelta(minutes=5)),  # hh:mm, as TimeSpan.Parse reads it
        ("1.02:03:04", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("00:00:01.5", timedelta(seconds=1.5)),
        ("00:00:00.1234567", timedelta(microseconds=123457)),
        (" 00:00:30 ", timedelta(seconds=30)),
        ("-00:00:01", timedelta(seconds=-1)),
    ],
)
def test_timespan_forms(text: str, expected: timedelta) -> None:
    assert parse_timespan(text) == expected


@pytest.mark.parametrize(
    "text", ["30", "5m", "00:60:00", "24:00:00", "00:00:60", "00:00:00.12345678", "", "1:2:3:4"]
)
def test_timespan_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timespan(text)


def test_format_timespan() -> None:
    for span in (
        timedelta(minutes=5),
        timedelta(days=2, seconds=1),
        timedelta(seconds=1.25),
        timedelta(seconds=-90),
    ):
        assert parse_timespan(format_timespan(span)) == span
    assert format_timespan(timedelta(minutes=5)) == "00:05:00"
    assert format_timespan(timedelta(days=1, hours=2)) == "1.02:00:00"


@pytest.mark.parametrize("value", ["5 minutes", "300", 300, True])
def test_bad_timespan_names_key_value_and_form(tmp_path: Path, value: Any) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        load(tmp_path, {"storageProvider": {"controlQueueVisibilityTimeout": value}})
    config_error(
        excinfo,
        "extensions.durableTask.storageProvider.controlQueueVisibilityTimeout",
        repr(value),
        "hh:mm:ss",
    )


# --- environment and local.settings.json ---------------------------------------------------------------


def test_environment_overrides_host_json(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        {"hubName": "FileHub", "storageProvider": {"partitionCount": 2, "useTablePartitionManagement": True}},
        env={
            ENV + "hubName": "EnvHub",
            "azurefunctionsjobhost__EXTENSIONS__durabletask__storageProvider__PartitionCount": "5",
            "AzureFunctionsJobHost:extensions:durableTask:storageProvider:useTablePartitionManagement": "FALSE",
            ENV + "storageProvider__controlQueueVisibilityTimeout": "00:03:00",
            ENV + "extendedSessionIdleTimeoutInSeconds": "12",
            ENV + "maxConcurrentActivityFunctions": "",  # empty counts as unset
        },
    )
    assert (s.hub_name, s.storage.partition_count, s.storage.use_table_partition_management) == (
        "EnvHub",
        5,
        False,
    )
    assert s.storage.control_queue_visibility_timeout == timedelta(minutes=3)
    assert s.extended_session_idle_timeout == timedelta(seconds=12)
    assert s.max_concurrent_activity_functions == 10 * (os.cpu_count() or 1)
    assert s.source == (str(tmp_path / "host.json"), "environment")


def test_environment_override_errors_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        load(tmp_path, env={ENV + "storageProvider__partitionCount": "four"})
    config_error(excinfo, ENV + "storageProvider__partitionCount", "'four'", "integer")


def test_local_settings_values_fill_in_missing_environment(tmp_path: Path) -> None:
    write_json(
        tmp_path,
        {
            "IsEncrypted": False,
            "Values": {
                ENV + "hubName": "LocalHub",
                ENV + "storageProvider__partitionCount": "3",
                "AzureWebJobsStorage": ACCOUNT_STRING,
                "FUNCTIONS_WORKER_RUNTIME": "python",
            },
        },
        "local.settings.json",
    )
    path = write_json(tmp_path, host({"hubName": "FileHub", "storageProvider": {"partitionCount": 2}}))
    s = Settings.load(path, env={})
    assert (s.hub_name, s.storage.partition_count, s.connection.account_name) == ("LocalHub", 3, "myacct")
    assert s.source == (str(path), str(tmp_path / "local.settings.json"), "environment")
    # the real environment wins over local.settings.json
    s = Settings.load(
        path, env={ENV + "HUBNAME": "RealEnvHub", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    )
    assert (s.hub_name, s.storage.partition_count, s.connection.connection_string) == (
        "RealEnvHub",
        3,
        AZURITE,
    )
    # no file at all: local.settings.json is not read either
    assert Settings.load(None, env={}).hub_name == "TestHubName"


def test_local_settings_connection_strings_section(tmp_path: Path) -> None:
    write_json(
        tmp_path, {"ConnectionStrings": {"Main": {"ConnectionString": ACCOUNT_STRING}}}, "local.settings.json"
    )
    s = load(tmp_path, {"storageProvider": {"connectionName": "Main"}})
    assert s.connection.name == "ConnectionStrings:Main" and s.connection.account_name == "myacct"


def test_encrypted_local_settings_are_rejected(tmp_path: Path) -> None:
    write_json(tmp_path, {"IsEncrypted": True, "Values": {}}, "local.settings.json")
    with pytest.raises(ConfigurationError) as excinfo:
        load(tmp_path)
    config_error(excinfo, "IsEncrypted")


# --- hub names -----------------------------------------------------------------------------------------


def test_app_setting_hub_name(tmp_path: Path) -> None:
    assert (
        load(tmp_path, {"hubName": "%MyHubSetting%"}, env={"myhubsetting": "FromEnv"}).hub_name == "FromEnv"
    )
    write_json(tmp_path, {"Values": {"MyHubSetting": "FromLocal"}}, "local.settings.json")
    assert load(tmp_path, {"hubName": "%MyHubSetting%"}).hub_name == "FromLocal"
    with pytest.raises(ConfigurationError) as excinfo:
        load(tmp_path, {"hubName": "%Missing%"})
    config_error(excinfo, "extensions.durableTask.hubName", "'%Missing%'", "Missing")
    with pytest.raises(ConfigurationError) as excinfo:  # the resolved name is validated like any explicit one
        load(tmp_path, {"hubName": "%MyHubSetting%"}, env={"MyHubSetting": "bad-name"})
    config_error(excinfo, "'bad-name'", "alphanumeric")


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        ("my-function-app", "myfunctionapp"),
        ("1st-app", "t1stapp"),
        ("a", "aHub"),
        ("---", "DefaultTaskHub"),
        ("x" * 60, "x" * 45),
        ("café-app", "cafapp"),
    ],
)
def test_default_hub_name_from_website_site_name(tmp_path: Path, site: str, expected: str) -> None:
    s = load(tmp_path, env={"WEBSITE_SITE_NAME": site})
    assert (s.hub_name, s.app_name) == (expected, site)
    assert sanitize_hub_name(site) == expected


def test_explicit_hub_name_beats_site_name_and_app_name_fallback(tmp_path: Path) -> None:
    s = load(tmp_path, {"hubName": "Explicit"}, env={"WEBSITE_SITE_NAME": "site", "DTFX_APP_NAME": "dtfx"})
    assert (s.hub_name, s.app_name) == ("Explicit", "site")
    assert load(tmp_path, env={"DTFX_APP_NAME": "dtfx"}).app_name == "dtfx"


def test_default_hub_name_is_refused_in_a_slot(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        load(tmp_path, env={"WEBSITE_SITE_NAME": "site", "WEBSITE_SLOT_NAME": "staging"})
    config_error(excinfo, "extensions.durableTask.hubName", "slots")
    assert load(tmp_path, env={"WEBSITE_SLOT_NAME": "Production"}).hub_name == "TestHubName"
    assert load(tmp_path, {"hubName": "SlotHub"}, env={"WEBSITE_SLOT_NAME": "staging"}).hub_name == "SlotHub"


# --- validation ----------------------------------------------------------------------------------------

HUB = "extensions.durableTask."
SP = "extensions.durableTask.storageProvider."


@pytest.mark.parametrize(
    ("durable", "key", "shown", "rule"),
    [
        ({"hubName": "ab"}, HUB + "hubName", "'ab'", "between 3 and 45"),
        ({"hubName": "a" * 46}, HUB + "hubName", "a" * 46, "between 3 and 45"),
        ({"hubName": "1hub"}, HUB + "hubName", "'1hub'", "start with a letter"),
        ({"hubName": "my-hub"}, HUB + "hubName", "'my-hub'", "only alphanumeric"),
        ({"hubName": 123}, HUB + "hubName", "123", "string"),
        ({"storageProvider": {"partitionCount": 0}}, SP + "partitionCount", "0", "between 1 and 16"),
        ({"storageProvider": {"partitionCount": 17}}, SP + "partitionCount", "17", "between 1 and 16"),
        ({"storageProvider": {"partitionCount": "four"}}, SP + "partitionCount", "'four'", "integer"),
        ({"storageProvider": {"partitionCount": 4.5}}, SP + "partitionCount", "4.5", "integer"),
        ({"storageProvider": {"partitionCount": True}}, SP + "partitionCount", "True", "integer"),
        ({"storageProvider": {"controlQueueBatchSize": 33}}, SP + "controlQueueBatchSize", "33", "between 1 and 32"),
        ({"storageProvider": {"controlQueueBufferThreshold": 1001}}, SP + "controlQueueBufferThreshold", "1001", "1000"),
        ({"storageProvider": {"controlQueueVisibilityTimeout": "00:00:30"}}, SP + "controlQueueVisibilityTimeout",
         "'00:00:30'", "between 00:01:00 and 01:00:00"),
        ({"storageProvider": {"controlQueueVisibilityTimeout": "02:00:00"}}, SP + "controlQueueVisibilityTimeout",
         "'02:00:00'", "between 00:01:00 and 01:00:00"),
        ({"storageProvider": {"workItemQueueVisibilityTimeout": "00:00:00"}}, SP + "workItemQueueVisibilityTimeout",
         "'00:00:00'", "> 0"),
        ({"storageProvider": {"maxQueuePollingInterval": "-00:00:01"}}, SP + "maxQueuePollingInterval", "-00:00:01", "> 0"),
        ({"storageProvider": {"fetchLargeMessagesAutomatically": "yes"}}, SP + "fetchLargeMessagesAutomatically",
         "'yes'", "true or false"),
        ({"storageProvider": {"queueClientMessageEncoding": "UTF16"}}, SP + "queueClientMessageEncoding", "'UTF16'",
         "UTF8 or Base64"),
        ({"storageProvider": {"useTablePartitionManagement": True, "useLegacyPartitionManagement": True}},
         SP + "useLegacyPartitionManagement", "True", "cannot be combined"),
        ({"storageProvider": {"leaseInterval": "00:00:10"}}, SP + "leaseInterval", "00:00:10", "leaseRenewInterval"),
        ({"storageProvider": {"poisonMessageThreshold": 0}}, SP + "poisonMessageThreshold", "0", "> 0"),
        ({"maxConcurrentActivityFunctions": 0}, HUB + "maxConcurrentActivityFunctions", "0", "> 0"),
        ({"maxConcurrentOrchestratorFunctions": -1}, HUB + "maxConcurrentOrchestratorFunctions", "-1", "> 0"),
        ({"extendedSessionIdleTimeoutInSeconds": "00:00:30"}, HUB + "extendedSessionIdleTimeoutInSeconds",
         "'00:00:30'", "integer"),
        ({"storageProvider": {"type": "mssql"}}, SP + "type", "'mssql'", "AzureStorage provider only"),
        ({"storageProvider": {"type": "Netherite"}}, SP + "type", "'Netherite'", "AzureStorage provider only"),
    ],
)  # fmt: skip
def test_validation_errors_are_one_line_with_key_value_and_rule(
    tmp_path: Path, durable: dict[str, Any], key: str, shown: str, rule: str
) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        load(tmp_path, durable)
    config_error(excinfo, key, shown, rule)
    assert excinfo.value.key == key


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        StorageSettings(partition_count=0)
    config_error(excinfo, SP + "partitionCount", "0")
    with pytest.raises(ConfigurationError) as excinfo:
        StorageSettings(control_queue_visibility_timeout=timedelta(hours=2))
    config_error(excinfo, SP + "controlQueueVisibilityTimeout", "02:00:00")
    with pytest.raises(ConfigurationError):
        StorageSettings(partition_count="4")  # type: ignore[arg-type]
    assert StorageSettings(queue_client_message_encoding="base64").queue_client_message_encoding == "Base64"
    assert StorageSettings(tracking_store_connection_name="T").tracking_store_name_prefix == "DurableTask"


def test_with_overrides_revalidates() -> None:
    s = Settings.load(None, env={})
    changed = s.with_overrides(hub_name="OtherHub", partition_count=8)
    assert (changed.hub_name, changed.storage.partition_count, changed.connection) == (
        "OtherHub",
        8,
        s.connection,
    )
    assert s.hub_name == "TestHubName" and s.storage.partition_count == 4
    with pytest.raises(ConfigurationError) as excinfo:
        s.with_overrides(hub_name="no")
    config_error(excinfo, "'no'", "between 3 and 45")
    with pytest.raises(ConfigurationError):
        s.with_overrides(control_queue_batch_size=64)
    with pytest.raises(TypeError):
        s.with_overrides(no_such_field=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.hub_name = "x"  # type: ignore[misc]


# --- connections ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting",
    [
        "ConnectionStrings:AzureWebJobsStorage",
        "ConnectionStrings__AzureWebJobsStorage",
        "AzureWebJobsStorage",
        "ConnectionStrings:Storage",
        "Storage",
        "STORAGE",
    ],
)
def test_connection_name_lookup_forms(setting: str) -> None:
    info = resolve_connection("Storage", {setting: ACCOUNT_STRING})
    assert info.account_name == "myacct" and info.name == setting and not info.is_default


def test_connection_lookup_order() -> None:
    order = [
        "ConnectionStrings:AzureWebJobsStorage",
        "AzureWebJobsStorage",
        "ConnectionStrings:Storage",
        "Storage",
    ]
    for index, winner in enumerate(order):
        env = {
            name: f"AccountName=acct{i};AccountKey={SECRET_KEY}" for i, name in enumerate(order) if i >= index
        }
        assert resolve_connection("Storage", env).name == winner
    # connectionName "AzureWebJobsStorage" also finds "AzureWebJobsAzureWebJobsStorage" first
    env = {"AzureWebJobsStorage": AZURITE, "AzureWebJobsAzureWebJobsStorage": ACCOUNT_STRING}
    assert resolve_connection("AzureWebJobsStorage", env).account_name == "myacct"


def test_default_connection_is_local_azurite_only_for_the_default_name(tmp_path: Path) -> None:
    info = resolve_connection("AzureWebJobsStorage", {"AzureWebJobsStorage": "  "})  # blank counts as unset
    assert info.is_default and info.connection_string == DEVELOPMENT_STORAGE_CONNECTION_STRING == AZURITE
    with pytest.raises(ConfigurationError) as excinfo:
        load(tmp_path, {"storageProvider": {"connectionName": "MyStorage"}})
    config_error(excinfo, "Unable to resolve the Azure Storage connection named 'MyStorage'")
    with pytest.raises(ConfigurationError) as excinfo:
        load(tmp_path, {"storageProvider": {"trackingStoreConnectionName": "AzureWebJobsStorage"}})
    config_error(excinfo, "Unable to resolve the Azure Storage connection named 'AzureWebJobsStorage'")


@pytest.mark.parametrize(
    "value",
    ["UseDevelopmentStorage=true", "UseDevelopmentStorage=true;", " usedevelopmentstorage=TRUE ; "],
)
def test_use_development_storage_is_expanded(value: str) -> None:
    info = resolve_connection("AzureWebJobsStorage", {"AzureWebJobsStorage": value})
    assert info.connection_string == AZURITE and not info.is_default
    assert info.account_name == "devstoreaccount1" and DEVSTORE_ACCOUNT_KEY in AZURITE
    assert info.endpoints() == {
        "blob": "http://127.0.0.1:10000/devstoreaccount1",
        "queue": "http://127.0.0.1:10001/devstoreaccount1",
        "table": "http://127.0.0.1:10002/devstoreaccount1",
    }


def test_development_storage_proxy_uri() -> None:
    value = "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=https://proxy.local"
    info = resolve_connection("AzureWebJobsStorage", {"AzureWebJobsStorage": value})
    assert info.connection_string is not None and info.connection_string.startswith(
        "DefaultEndpointsProtocol=https;"
    )
    assert info.queue_service_uri == "https://proxy.local:10001/devstoreaccount1"


def test_account_connection_string_kept_as_given_with_derived_endpoints() -> None:
    info = resolve_connection("AzureWebJobsStorage", {"AzureWebJobsStorage": ACCOUNT_STRING + ";"})
    assert info.connection_string == ACCOUNT_STRING + ";" and not info.is_identity
    assert info.endpoints() == {
        "blob": "https://myacct.blob.core.windows.net",
        "queue": "https://myacct.queue.core.windows.net",
        "table": "https://myacct.table.core.windows.net",
    }
    sas = "sv=2024-01-01&ss=bqt&sig=SASSECRETSIG"
    explicit = (
        f"BlobEndpoint=https://b.example/;QueueEndpoint=https://q.example/?{sas};"
        f"TableEndpoint=https://t.example/;SharedAccessSignature={sas}"
    )
    info = resolve_connection("X", {"X": explicit})
    assert info.endpoints() == {
        "blob": "https://b.example",
        "queue": "https://q.example",
        "table": "https://t.example",
    }
    assert "SASSECRETSIG" not in repr(info) and "SASSECRETSIG" in (info.connection_string or "")


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (SECRET_KEY, "not a connection string"),  # a bare key pasted in place of a connection string
        (f"AccountName=myacct;;AccountKey={SECRET_KEY}", "not a connection string of key=value pairs"),
        (f"AccountKey={SECRET_KEY}", "AccountKey needs AccountName"),
        ("AccountName=myacct;EndpointSuffix=core.windows.net", "AccountKey, or SharedAccessSignature"),
        (
            f"DefaultEndpointsProtocol=ftp;AccountName=myacct;AccountKey={SECRET_KEY}",
            "DefaultEndpointsProtocol",
        ),
        (
            f"AccountName=myacct;AccountKey={SECRET_KEY};QueueEndpoint=localhost:10001",
            "QueueEndpoint must be",
        ),
        (
            f"SharedAccessSignature=sig={SECRET_KEY};BlobEndpoint=https://b.example",
            "QueueEndpoint, TableEndpoint",
        ),
        ("AccountName=myacct;AccountKey=not*base64!" + SECRET_KEY, "base64"),
        ("UseDevelopmentStorage=false", "must be true"),
        (f"UseDevelopmentStorage=true;AccountKey={SECRET_KEY}", "DevelopmentStorageProxyUri"),
    ],
)
def test_malformed_connection_string_errors_hide_key_material(value: str, rule: str) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        resolve_connection("AzureWebJobsStorage", {"AzureWebJobsStorage": value})
    message = config_error(excinfo, "AzureWebJobsStorage", rule)
    assert SECRET_KEY not in message and SECRET_KEY not in repr(excinfo.value.value)


def test_identity_connection_from_account_name() -> None:
    env = {
        "AzureWebJobsStorage__accountName": "myacct",
        "AzureWebJobsStorage__credential": "ManagedIdentity",
        "AzureWebJobsStorage:clientId": "client-guid",
    }
    info = resolve_connection("AzureWebJobsStorage", env)
    assert info.is_identity and not info.is_default and info.connection_string is None
    assert (info.name, info.account_name, info.credential, info.client_id) == (
        "AzureWebJobsStorage",
        "myacct",
        "managedidentity",
        "client-guid",
    )
    assert info.endpoints() == {
        "blob": "https://myacct.blob.core.windows.net",
        "queue": "https://myacct.queue.core.windows.net",
        "table": "https://myacct.table.core.windows.net",
    }


def test_identity_connection_explicit_uris_override_account_name(tmp_path: Path) -> None:
    env = {
        "Storage__accountName": "myacct",
        "Storage__queueServiceUri": "https://custom-queue.example/",
        "Storage__tenantId": "tenant",
        "Storage__clientId": "client",
        "Storage__clientSecret": "SPSECRET",
    }
    s = load(tmp_path, {"storageProvider": {"connectionName": "Storage"}}, env=env)
    info = s.connection
    assert info.queue_service_uri == "https://custom-queue.example"
    assert info.blob_service_uri == "https://myacct.blob.core.windows.net"
    assert info.client_secret == "SPSECRET" and "SPSECRET" not in repr(info) and "SPSECRET" not in str(s)
    three = {f"Storage__{svc}ServiceUri": f"https://{svc}.example" for svc in ("blob", "queue", "table")}
    assert resolve_connection("Storage", three).table_service_uri == "https://table.example"


def test_identity_connection_errors() -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        resolve_connection(
            "Storage", {"Storage__blobServiceUri": "https://b.example", "Storage__credential": "x"}
        )
    config_error(excinfo, "Storage__queueServiceUri", "Storage__tableServiceUri", "Storage__accountName")
    with pytest.raises(ConfigurationError) as excinfo:
        resolve_connection(
            "Storage", {"Storage__accountName": "myacct", "Storage__blobServiceUri": "http://b.example"}
        )
    config_error(excinfo, "Storage__blobServiceUri", "https")
    with pytest.raises(ConfigurationError) as excinfo:
        resolve_connection("Storage", {"Storage__accountName": "myacct", "Storage__clientSecret": "SPSECRET"})
    assert "SPSECRET" not in config_error(excinfo, "Storage__clientSecret", "Storage__tenantId")
    with pytest.raises(ConfigurationError):
        resolve_connection("Storage", {"Storage__accountName": "My_Account"})


def test_exact_connection_value_wins_over_children() -> None:
    info = resolve_connection(
        "AzureWebJobsStorage", {"AzureWebJobsStorage": AZURITE, "AzureWebJobsStorage__accountName": "x"}
    )
    assert info.connection_string == AZURITE


def test_repr_never_shows_the_account_key(tmp_path: Path) -> None:
    s = load(tmp_path, env={"AzureWebJobsStorage": ACCOUNT_STRING})
    for text in (repr(s), str(s), repr(s.connection), str(s.connection)):
        assert SECRET_KEY not in text and "AccountKey=***" in text
    assert DEVSTORE_ACCOUNT_KEY not in repr(Settings())


def test_app_settings_lookup_rules() -> None:
    app = AppSettings({"A__B": "1", "Empty": "", "c:d": "low"}, {"C__D": "high"})
    assert app["a:b"] == "1" and "empty" not in app and app["C:D"] == "high" and len(app) == 2
    assert app.original_key("c__d") == "C__D"
    assert app.children("A") == {"b": ("A__B", "1")}
