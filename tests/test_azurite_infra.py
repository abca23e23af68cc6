"""The project's Azurite scripts: start/stop/reuse, and that the three services serve the Python SDKs.

Each test runs its own Azurite in a temp run dir, never the demo's azurite/.run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from tests.helpers import REPO_ROOT, load_azurite_ctl, wait_until

CTL_SCRIPT = REPO_ROOT / "azurite" / "azurite_ctl.py"


@pytest.fixture(scope="module")
def ctl() -> ModuleType:
    module = load_azurite_ctl()
    module.install()
    return module


@pytest.fixture
def run_dir(tmp_path: Path, ctl: ModuleType) -> Iterator[Path]:
    path = tmp_path / "run"
    yield path
    ctl.stop(path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _run_ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CTL_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_starting_twice_reuses_the_running_azurite(ctl: ModuleType, run_dir: Path) -> None:
    first = ctl.start(run_dir)
    second = ctl.start(run_dir)

    assert second == first
    assert (run_dir / "azurite.pid").read_text().strip() == str(first.pid)
    assert (run_dir / "connection-string").read_text().strip() == first.connection_string
    # The command line agrees, in another process, and prints the same string.
    out = _run_ctl("start", "--run-dir", str(run_dir))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == first.connection_string
    assert ctl.is_running(run_dir)


def test_stop_then_start_gives_a_new_process(ctl: ModuleType, run_dir: Path) -> None:
    first = ctl.start(run_dir)

    assert ctl.stop(run_dir) is True
    assert not _pid_alive(first.pid)
    assert not ctl.is_running(run_dir)
    assert not (run_dir / "azurite.pid").exists()
    assert ctl.stop(run_dir) is False  # stopping when nothing runs is not an error

    second = ctl.start(run_dir)
    assert second.pid != first.pid
    assert ctl.is_running(run_dir)


def test_stale_pid_file_is_replaced(ctl: ModuleType, run_dir: Path) -> None:
    # What a crashed Azurite leaves behind: a full record whose process is gone.
    crashed = ctl.start(run_dir)
    os.kill(crashed.pid, signal.SIGKILL)
    wait_until(lambda: not ctl._pid_alive(crashed.pid), timeout=10)

    assert not ctl.is_running(run_dir)
    info = ctl.start(run_dir)
    assert info.pid != crashed.pid
    assert ctl.is_running(run_dir)
    assert (run_dir / "azurite.pid").read_text().strip() == str(info.pid)


def test_explicit_ports_are_honoured(ctl: ModuleType, run_dir: Path) -> None:
    blob, queue, table = ctl._free_ports(3)

    info = ctl.start(run_dir, ports=(blob, queue, table))

    assert (info.blob_port, info.queue_port, info.table_port) == (blob, queue, table)
    assert f"BlobEndpoint=http://127.0.0.1:{blob}/devstoreaccount1;" in info.connection_string
    assert f"QueueEndpoint=http://127.0.0.1:{queue}/devstoreaccount1;" in info.connection_string
    assert f"TableEndpoint=http://127.0.0.1:{table}/devstoreaccount1;" in info.connection_string
    status = _run_ctl("status", "--run-dir", str(run_dir))
    assert status.returncode == 0
    assert f"blob {blob}, queue {queue}, table {table}" in status.stdout


def test_env_prints_an_export_line(ctl: ModuleType, run_dir: Path) -> None:
    assert _run_ctl("env", "--run-dir", str(run_dir)).returncode == 1  # nothing running yet
    info = ctl.start(run_dir)

    out = _run_ctl("env", "--run-dir", str(run_dir))

    assert out.returncode == 0
    assert out.stdout.strip() == f"export AzureWebJobsStorage='{info.connection_string}'"


def test_the_command_line_keeps_data_across_a_restart_and_wipe_deletes_it(ctl: ModuleType, run_dir: Path) -> None:
    out = _run_ctl("start", "--run-dir", str(run_dir), "--free-ports")
    assert out.returncode == 0, out.stderr
    queue = QueueClient.from_connection_string(out.stdout.strip(), "kept")
    queue.create_queue()
    queue.send_message("still here")
    ports = json.loads((run_dir / "ports.json").read_text())
    assert _run_ctl("stop", "--run-dir", str(run_dir)).returncode == 0
    assert (run_dir / "data").is_dir()  # <run dir>/data for a run dir of one's own (azurite/data by default)
    port_args = ["--blob-port", str(ports["blob"]), "--queue-port", str(ports["queue"]), "--table-port", str(ports["table"])]
    again = _run_ctl("start", "--run-dir", str(run_dir), *port_args)
    assert again.returncode == 0, again.stderr
    assert [m.content for m in queue.peek_messages()] == ["still here"]

    wiped = _run_ctl("wipe", "--run-dir", str(run_dir))
    assert wiped.returncode == 0, wiped.stderr
    assert f"deleted {run_dir.resolve() / 'data'}" in wiped.stderr
    assert not (run_dir / "data").exists() and not ctl.is_running(run_dir)


def test_the_default_data_folder_is_azurite_data(ctl: ModuleType, tmp_path: Path) -> None:
    assert ctl.data_dir(ctl.DEFAULT_RUN_DIR) == REPO_ROOT / "azurite" / "data"
    assert ctl.data_dir(tmp_path) == tmp_path.resolve() / "data"
    assert ctl.data_dir(tmp_path, tmp_path / "elsewhere") == tmp_path.resolve() / "elsewhere"


def test_the_three_services_serve_the_sdks(azurite_connection_string: str) -> None:
    conn = azurite_connection_string
    name = "infra" + uuid.uuid4().hex[:10]

    queue = QueueClient.from_connection_string(conn, name)
    queue.create_queue()
    sent = queue.send_message("hello", time_to_live=-1)
    assert sent.expires_on is not None and sent.expires_on.year == 9999  # never expires
    received = list(queue.receive_messages(messages_per_page=1, visibility_timeout=30))
    assert [m.content for m in received] == ["hello"]
    queue.delete_message(received[0])
    assert queue.get_queue_properties().approximate_message_count == 0
    queue.delete_queue()

    tables = TableServiceClient.from_connection_string(conn)
    table = tables.create_table_if_not_exists(name)
    table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "Value": 42})
    assert table.get_entity("p", "r")["Value"] == 42
    tables.delete_table(name)

    blobs = BlobServiceClient.from_connection_string(conn)
    container = blobs.create_container(name)
    container.upload_blob("a/b.json", b'{"x": 1}')
    assert container.download_blob("a/b.json").readall() == b'{"x": 1}'
    container.delete_container()
