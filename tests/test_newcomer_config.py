"""Pure parts of issue 10: did-you-mean for host.json keys, plain JSON errors, finding the local Azurite,
and the Azurite port probe that must see ports in TIME-WAIT as free (as Node's SO_REUSEADDR does)."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest

from taskhub.config.hostjson import plain_json_error
from taskhub.config.local_azurite import find_local_azurite
from taskhub.config.settings import Settings
from taskhub.errors import ConfigurationFileError
from tests.helpers import load_azurite_ctl, wait_until


def test_misspelled_key_gets_the_nearest_known_key(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(
        json.dumps({"extensions": {"durableTask": {"hubNme": "X", "tracing": {}, "storageProvider": {
            "partitonCount": 2, "controlQueueBatchSize": 8, "somethingElseEntirely": 1}}}})
    )  # fmt: skip
    s = Settings.load(tmp_path / "host.json", env={})
    assert s.notes == (
        "host.json: unknown key extensions.durableTask.hubNme is ignored; did you mean hubName?",
        "host.json: unknown key extensions.durableTask.storageProvider.partitonCount is ignored; "
        "did you mean partitionCount?",
    )
    assert s.storage.partition_count == 4 and s.storage.control_queue_batch_size == 8


def test_file_errors_name_the_file_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationFileError) as err:
        Settings.load(tmp_path / "nope.json", env={})
    assert str(err.value) == f"{tmp_path / 'nope.json'}: file not found"
    (tmp_path / "host.json").write_text('{\n  "version": "2.0",\n}')
    with pytest.raises(ConfigurationFileError) as err:
        Settings.load(tmp_path / "host.json", env={})
    if sys.version_info >= (3, 13):  # Python 3.13's json names the comma itself
        assert str(err.value) == (
            f"{tmp_path / 'host.json'} line 2 column 19: not valid JSON: a trailing comma before the closing bracket"
        )
        assert (err.value.line, err.value.column) == (2, 19)
    else:
        assert str(err.value) == (
            f"{tmp_path / 'host.json'} line 3 column 1: not valid JSON: expected a key in double quotes "
            "(a trailing comma?)"
        )
        assert (err.value.line, err.value.column) == (3, 1)
    assert plain_json_error("Expecting ',' delimiter") == "a comma is missing between two items"


def test_find_local_azurite_reads_a_live_run_dir(tmp_path: Path) -> None:
    run = tmp_path / "azurite" / ".run"
    run.mkdir(parents=True)
    (run / "connection-string").write_text("UseDevelopmentStorage=true\n")
    (run / "azurite.pid").write_text(f"{os.getpid()}\n")
    below = tmp_path / "sub" / "dir"
    below.mkdir(parents=True)
    assert find_local_azurite(below, env={}) == ("UseDevelopmentStorage=true", run)
    (run / "azurite.pid").write_text("999999999\n")  # a dead process is ignored
    found = find_local_azurite(below, env={})
    assert found is None or found[1] != run


def test_port_probe_sees_time_wait_ports_as_free() -> None:
    ctl = load_azurite_ctl()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Azurite's Node listener does
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    server_side, _ = listener.accept()
    server_side.close()  # the side that closes first keeps the port in TIME-WAIT
    client.close()
    listener.close()
    with socket.socket() as plain:  # what the old probe did: fails while TIME-WAIT lasts
        try:
            plain.bind(("127.0.0.1", port))
            pytest.skip("this kernel lets a plain bind reuse a TIME-WAIT port; nothing to show")
        except OSError:
            pass
    wait_until(lambda: ctl._port_free(port), timeout=10)  # the closing handshake may still be under way
