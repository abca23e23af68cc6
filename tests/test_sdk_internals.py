"""The contract of ``taskhub.storage.sdk_internals`` with the pinned Azure SDKs.

Every private read of the storage seam lives in that module; these tests build real SDK clients from a
development-storage connection string (no request is sent) and check that each read still finds what it
expects, for the SDK versions pinned in ``pyproject.toml``. An SDK upgrade that moves an internal fails
here, not in production.
"""

from __future__ import annotations

import json
import re
import tomllib
import uuid
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

from azure.core.pipeline import AsyncPipeline
from azure.core.pipeline.policies import (
    AsyncHTTPPolicy,
    ContentDecodePolicy,
    DistributedTracingPolicy,
    HttpLoggingPolicy,
    SansIOHTTPPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import AioHttpTransport
from azure.core.rest import HttpRequest
from azure.data.tables.aio import TableServiceClient
from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from taskhub.storage import sdk_internals as sdk
from taskhub.storage.lean import LeanPipeline
from taskhub.storage.transport import KeepAliveTransport

ROOT = Path(__file__).resolve().parents[1]
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEV = (
    f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)
COSMOS = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};TableEndpoint=https://acct.table.cosmos.azure.com:443/;"


def _pins() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*~=\s*([0-9.]+)", dep)
        if match:
            pins[match[1].lower()] = match[2]
    return pins


def test_the_checked_versions_are_the_pinned_and_the_installed_ones() -> None:
    pins = _pins()
    for dist, checked in sdk.CHECKED_VERSIONS.items():
        assert pins.get(dist) == checked, f"pyproject.toml pins {dist} at {pins.get(dist)}, checked: {checked}"
        assert version(dist) == checked, f"{dist} {version(dist)} is installed; internals checked on {checked}"


async def test_table_policies_are_the_clients_policy_objects() -> None:
    async with TableServiceClient.from_connection_string(DEV) as service:
        policies = sdk.table_policies(service)
        assert policies and all(isinstance(p, SansIOHTTPPolicy | AsyncHTTPPolicy) for p in policies)
        names = [type(p).__name__ for p in policies]
        assert {"SharedKeyCredentialPolicy", "AsyncTablesRetryPolicy", "StorageHosts"} <= set(names)
        assert any(isinstance(p, UserAgentPolicy) for p in policies)


async def test_queue_policies_come_unwrapped_from_the_built_pipeline() -> None:
    async with QueueServiceClient.from_connection_string(DEV) as service:
        assert isinstance(service._pipeline, AsyncPipeline)
        policies = sdk.queue_policies(service)
        names = [type(p).__name__ for p in policies]
        assert "_SansIOAsyncHTTPPolicyRunner" not in names  # every wrapper was recognised and unwrapped
        assert {"SharedKeyCredentialPolicy", "ExponentialRetry", "StorageHosts", "UserAgentPolicy"} <= set(names)
        dropped = [p for p in policies if isinstance(p, sdk.STORAGE_ONLY_POLICIES)]
        assert {type(p).__name__ for p in dropped} == {
            "QueueMessagePolicy",
            "RangeHeaderPolicy",
            "AsyncContentValidationPolicy",
            "StorageLoggingPolicy",
            "StorageRequestHook",
            "AsyncStorageResponseHook",
        }


async def test_the_lean_pipeline_keeps_auth_and_retries_and_drops_the_rest() -> None:
    async with TableServiceClient.from_connection_string(DEV) as tables, QueueServiceClient.from_connection_string(
        DEV
    ) as queues:
        for policies, retry in ((sdk.table_policies(tables), "AsyncTablesRetryPolicy"), (sdk.queue_policies(queues), "ExponentialRetry")):
            pipeline = LeanPipeline(policies, AioHttpTransport())
            kept = {type(p).__name__ for p in pipeline.policies}
            assert {retry, "SharedKeyCredentialPolicy", "StorageHosts"} <= kept
            unused = (ContentDecodePolicy, DistributedTracingPolicy, HttpLoggingPolicy, *sdk.STORAGE_ONLY_POLICIES)
            assert not [p for p in pipeline.policies if isinstance(p, unused)]
            assert pipeline.user_agent and pipeline.user_agent.startswith("azsdk-python-")


async def test_cosmos_endpoints_are_told_apart() -> None:
    async with TableServiceClient.from_connection_string(DEV) as azure, TableServiceClient.from_connection_string(
        COSMOS
    ) as cosmos:
        assert sdk.is_cosmos_endpoint(azure.get_table_client("t")) is False
        assert sdk.is_cosmos_endpoint(cosmos.get_table_client("t")) is True


async def test_message_encoding_is_read_from_the_queue_client() -> None:
    async with QueueClient.from_connection_string(DEV, "q") as plain:
        assert sdk.messages_unencoded(plain) is True
    async with QueueClient.from_connection_string(
        DEV, "q", message_encode_policy=TextBase64EncodePolicy(), message_decode_policy=TextBase64DecodePolicy()
    ) as encoded:
        assert sdk.messages_unencoded(encoded) is False


async def test_a_table_request_runs_through_the_clients_pipeline(azurite_connection_string: str) -> None:
    table = "contract" + uuid.uuid4().hex[:8]
    async with TableServiceClient.from_connection_string(azurite_connection_string) as service:
        await service.create_table(table)
        client = service.get_table_client(table)
        assert not urlsplit(client.url).query and client.url.endswith("devstoreaccount1")  # the account's url
        request = HttpRequest("GET", f"{client.url}/{table}()", headers={"Accept": "application/json"})
        response = await sdk.send_table_request(client, request)  # signed by the client: 200, not 403
        await response.read()
        assert response.status_code == 200 and json.loads(response.content)["value"] == []
        await service.delete_table(table)


async def test_the_transports_opened_flag() -> None:
    transport = KeepAliveTransport()
    assert sdk.transport_was_opened(transport) is False
    await transport.open()
    assert sdk.transport_was_opened(transport) is True
    await transport.close()
