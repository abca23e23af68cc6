"""``taskhub func start`` with an app that uses versioning: ``start_new(version=)`` and host.json
``defaultVersion`` stamp instances, ``context.version`` reads the stamp, ``call_sub_orchestrator(version=)``
pins a child's version, and an instance newer than the host's ``defaultVersion`` is left Pending
(``versionMatchStrategy`` CurrentOrOlder, ``versionFailureStrategy`` Reject), as the extension does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.functions.host import FuncHost, request, start_func

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def func(azurite_connection_string: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuncHost]:
    hub = "fver" + uuid.uuid4().hex[:10]
    host = start_func("versioning", tmp_path_factory.mktemp("func-ver"), azurite_connection_string, hub)
    yield host
    host.stop()


def _start(func: FuncHost, instance_id: str, version: str | None = None) -> dict:
    url = f"{func.origin}/api/orchestrators/upgrade_aware/{instance_id}"
    r = request("POST", url + (f"?version={version}" if version else ""))
    assert r.status == 202, (r.status, r.body[:300])
    payload: dict = r.json()
    return payload


def test_default_version_and_sub_orchestrations(func: FuncHost) -> None:
    status = func.wait(_start(func, "stamped")["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"version": "1.0", "inherited": "1.0", "pinned": "0.9"}
    assert status["version"] == "1.0"
    assert request("GET", f"{func.origin}/api/version/stamped").body == b"1.0"


def test_start_new_with_a_version(func: FuncHost) -> None:
    status = func.wait(_start(func, "legacy", "0.5")["statusQueryGetUri"])
    assert (status["runtimeStatus"], status["output"]) == ("Completed", {"version": "0.5", "path": "legacy"})


def test_a_newer_instance_waits_for_a_newer_host(func: FuncHost) -> None:
    check = _start(func, "future", "2.0")
    # a 1.0 instance started after it, on the same (only) control queue, completes: the host has seen
    # the 2.0 start message and left it alone
    assert func.wait(_start(func, "after")["statusQueryGetUri"])["runtimeStatus"] == "Completed"
    status = request("GET", check["statusQueryGetUri"]).json()
    assert (status["runtimeStatus"], status["version"]) == ("Pending", "2.0")
