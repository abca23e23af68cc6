#!/usr/bin/env python3
"""Install, start, stop and inspect the project's pinned Azurite (standard library only).

It runs before any virtualenv exists (``scripts/bootstrap`` calls ``install``), so it imports nothing
outside the standard library. Commands::

    azurite_ctl.py install                       npm ci when node_modules is missing or out of date
    azurite_ctl.py start [options]               start (or reuse) Azurite; prints the connection string
    azurite_ctl.py stop [--run-dir DIR]          stop it; nothing running is not an error
    azurite_ctl.py wipe [--run-dir DIR]          stop it and delete its data folder (every task hub in it)
    azurite_ctl.py status [--run-dir DIR]        exit 0 when running and answering, 1 otherwise
    azurite_ctl.py env [--run-dir DIR]           prints: export AzureWebJobsStorage='...'

A run directory (default ``azurite/.run``) records one Azurite: ``azurite.pid``, ``connection-string``,
``ports.json`` and ``azurite.log``. From the command line Azurite keeps its data on disk, in
``azurite/data`` for the default run directory (``<run dir>/data`` for another; ``--location`` chooses,
``--in-memory`` keeps nothing), so a stop and a start keep every task hub. Starting while the recorded process is alive and answering starts
nothing and returns the recorded connection string. Tests use the API: ``start``, ``stop``,
``is_running``, ``install``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_RUN_DIR = HERE / ".run"
DEFAULT_DATA_DIR = HERE / "data"
AZURITE_BIN = HERE / "node_modules" / ".bin" / "azurite"
STAMP = HERE / "node_modules" / ".taskhub-install-stamp"
INSTALL_LOCK = HERE / ".install.lock"

HOST = "127.0.0.1"
DEFAULT_PORTS = (10000, 10001, 10002)
START_DEADLINE_S = 30.0
STOP_GRACE_S = 10.0

ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

PID_FILE = "azurite.pid"
CONN_FILE = "connection-string"
PORTS_FILE = "ports.json"
LOG_FILE = "azurite.log"
LOCK_FILE = ".lock"

# Children started by this process, kept so they are reaped (no zombies, no ResourceWarning).
_children: dict[int, subprocess.Popen[bytes]] = {}


class AzuriteError(RuntimeError):
    """Azurite could not be installed, started or stopped; the message says why."""


@dataclasses.dataclass(frozen=True)
class AzuriteInfo:
    pid: int
    connection_string: str
    blob_port: int
    queue_port: int
    table_port: int


def connection_string(blob_port: int, queue_port: int, table_port: int) -> str:
    """The full development-account connection string for Azurite on 127.0.0.1 (azurite.md 6.2)."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{HOST}:{blob_port}/{ACCOUNT};"
        f"QueueEndpoint=http://{HOST}:{queue_port}/{ACCOUNT};"
        f"TableEndpoint=http://{HOST}:{table_port}/{ACCOUNT};"
    )


# --------------------------------------------------------------------------------------------- install


def _lock_digest() -> str:
    h = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        h.update((HERE / name).read_bytes())
    return h.hexdigest()


def is_installed() -> bool:
    """True when node_modules was installed from the current package.json/package-lock.json."""
    try:
        return AZURITE_BIN.exists() and STAMP.read_text().strip() == _lock_digest()
    except OSError:
        return False


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def install(*, force: bool = False) -> bool:
    """Run ``npm ci`` when node_modules is missing or older than the lockfile. Returns True if it ran.

    Quiet on success apart from one line on stderr when it actually installs; on failure the npm
    output is printed and AzuriteError raised.
    """
    if not force and is_installed():
        return False
    with _flock(INSTALL_LOCK):
        if not force and is_installed():  # another process installed it while we waited
            return False
        npm = shutil.which("npm")
        if npm is None:
            raise AzuriteError("npm not found: Azurite needs Node.js (>= 20) and npm on PATH")
        print("azurite: installing the pinned Azurite with npm ci ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HERE,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        if proc.returncode != 0 or not AZURITE_BIN.exists():
            sys.stderr.write(proc.stdout.decode(errors="replace"))
            raise AzuriteError(f"npm ci in {HERE} failed with exit code {proc.returncode}")
        STAMP.write_text(_lock_digest() + "\n")
        print(f"azurite: installed in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
        return True


# ------------------------------------------------------------------------------------------- processes


def _pid_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie answers kill(0) but is dead
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _looks_like_azurite(pid: int) -> bool:
    """Guards against a recycled pid: on Linux, the process's command line must mention azurite."""
    try:
        return b"azurite" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no procfs (macOS): cannot tell, trust the pid
    except OSError:
        return True


def _answers(port: int, timeout: float = 1.0) -> bool:
    """True when an HTTP server on the port answers a request (any status counts)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", f"/{ACCOUNT}?comp=properties&restype=service")
        conn.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _port_free(port: int) -> bool:
    """True when Azurite could listen on the port. Node listens with SO_REUSEADDR, so sockets of an
    earlier Azurite still in TIME-WAIT do not block it; probe the same way, or a restart right after a
    stop would move to random ports."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def _free_ports(n: int) -> list[int]:
    """n distinct free ports, chosen by the kernel (all held open until chosen, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _choose_ports(requested: Sequence[int | None]) -> tuple[int, int, int]:
    """0 -> a free port; None -> the default port when free, else a free port; N -> N."""
    spare = iter(_free_ports(3))
    chosen = []
    for want, default in zip(requested, DEFAULT_PORTS, strict=True):
        if want is None:
            want = default if _port_free(default) else 0
        chosen.append(want if want else next(spare))
    return chosen[0], chosen[1], chosen[2]


# ----------------------------------------------------------------------------------------- run dir


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read_pid(run_dir: Path) -> int | None:
    try:
        return int((run_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _read_info(run_dir: Path) -> AzuriteInfo | None:
    pid = _read_pid(run_dir)
    try:
        ports = json.loads((run_dir / PORTS_FILE).read_text())
        conn = (run_dir / CONN_FILE).read_text().strip()
        return AzuriteInfo(pid or 0, conn, int(ports["blob"]), int(ports["queue"]), int(ports["table"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _clear(run_dir: Path) -> None:
    for name in (PID_FILE, CONN_FILE, PORTS_FILE):
        with contextlib.suppress(FileNotFoundError):
            (run_dir / name).unlink()


def _log_tail(run_dir: Path, lines: int = 20) -> str:
    try:
        return "\n".join((run_dir / LOG_FILE).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _all_answer(info: AzuriteInfo) -> bool:
    return all(_answers(p) for p in (info.blob_port, info.queue_port, info.table_port))


def _running_info(run_dir: Path) -> AzuriteInfo | None:
    info = _read_info(run_dir)
    if info is None or not info.pid or not _pid_alive(info.pid) or not _looks_like_azurite(info.pid):
        return None
    return info


def status(run_dir: Path | str = DEFAULT_RUN_DIR) -> AzuriteInfo | None:
    """The recorded Azurite when its process is alive and all three services answer, else None."""
    info = _running_info(Path(run_dir))
    return info if info is not None and _all_answer(info) else None


def is_running(run_dir: Path | str = DEFAULT_RUN_DIR) -> bool:
    return status(run_dir) is not None


# ----------------------------------------------------------------------------------------- start/stop


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # started with start_new_session: its pgid is its pid
    except ProcessLookupError:
        return
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _terminate(pid: int, grace: float = STOP_GRACE_S) -> None:
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _pid_alive(pid):
        if time.monotonic() >= deadline:
            _signal_group(pid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 5
            while _pid_alive(pid) and time.monotonic() < kill_deadline:
                time.sleep(0.05)
            break
        time.sleep(0.05)
    child = _children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1)


def _spawn(
    run_dir: Path,
    ports: tuple[int, int, int],
    location: Path | None,
    debug_log: Path | None,
) -> subprocess.Popen[bytes]:
    blob, queue, table = ports
    cmd = [
        str(AZURITE_BIN),
        "--blobHost", HOST, "--blobPort", str(blob),
        "--queueHost", HOST, "--queuePort", str(queue),
        "--tableHost", HOST, "--tablePort", str(table),
        "--skipApiVersionCheck", "--disableTelemetry", "--silent",
    ]  # fmt: skip
    if location is None:
        cmd.append("--inMemoryPersistence")
    else:
        location.mkdir(parents=True, exist_ok=True)
        cmd += ["--location", str(location)]
    if debug_log is not None:
        debug_log.parent.mkdir(parents=True, exist_ok=True)
        cmd += ["--debug", str(debug_log)]
    env = dict(os.environ)
    # These would disable devstoreaccount1 or clash with in-memory persistence.
    env.pop("AZURITE_ACCOUNTS", None)
    env.pop("AZURITE_DB", None)
    with open(run_dir / LOG_FILE, "wb") as log:
        return subprocess.Popen(
            cmd,
            cwd=location or run_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_ready(proc: subprocess.Popen[bytes], info: AzuriteInfo, run_dir: Path, deadline: float) -> None:
    pending = [info.blob_port, info.queue_port, info.table_port]
    while pending:
        if proc.poll() is not None:
            raise AzuriteError(
                f"Azurite exited with code {proc.returncode} while starting; "
                f"{run_dir / LOG_FILE}:\n{_log_tail(run_dir)}"
            )
        pending = [p for p in pending if not _answers(p, timeout=0.5)]
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise AzuriteError(
                f"Azurite did not answer on ports {pending} within {START_DEADLINE_S:.0f} s; "
                f"{run_dir / LOG_FILE}:\n{_log_tail(run_dir)}"
            )
        time.sleep(0.05)


def start(
    run_dir: Path | str = DEFAULT_RUN_DIR,
    *,
    in_memory: bool = True,
    location: Path | str | None = None,
    ports: Sequence[int | None] = (0, 0, 0),
    debug_log: Path | str | None = None,
) -> AzuriteInfo:
    """Start Azurite for run_dir, or return the one already running there.

    ports are (blob, queue, table): 0 picks a free port, None the default port when free, N exactly N.
    A location (a workspace directory) means persistent storage; without one, in_memory must be True
    (Azurite rejects the two together). Waits until all three services answer HTTP.
    """
    run_dir = Path(run_dir).resolve()
    if location is None and not in_memory:
        raise AzuriteError("in_memory=False needs a location (a workspace directory)")
    if len(ports) != 3:
        raise AzuriteError("ports must be (blob, queue, table)")
    loc = Path(location).resolve() if location is not None else None
    dbg = Path(debug_log).resolve() if debug_log is not None else None
    install()
    run_dir.mkdir(parents=True, exist_ok=True)
    with _flock(run_dir / LOCK_FILE):
        existing = _running_info(run_dir)
        if existing is not None:
            # Alive: it may still be coming up (another start raced us); give it the usual deadline.
            deadline = time.monotonic() + START_DEADLINE_S
            while time.monotonic() < deadline and _pid_alive(existing.pid):
                if _all_answer(existing):
                    _warn_if_ports_differ(existing, ports)
                    return existing
                time.sleep(0.1)
            _terminate(existing.pid)  # alive but not serving: replace it
        _clear(run_dir)
        attempts = 3 if any(p is None or p == 0 for p in ports) else 1
        for attempt in range(1, attempts + 1):
            chosen = _choose_ports(ports)
            proc = _spawn(run_dir, chosen, loc, dbg)
            _children[proc.pid] = proc
            info = AzuriteInfo(proc.pid, connection_string(*chosen), *chosen)
            _write_atomic(run_dir / PID_FILE, f"{proc.pid}\n")
            ports_json = {"blob": chosen[0], "queue": chosen[1], "table": chosen[2]}
            _write_atomic(run_dir / PORTS_FILE, json.dumps(ports_json) + "\n")
            _write_atomic(run_dir / CONN_FILE, info.connection_string + "\n")
            try:
                _wait_ready(proc, info, run_dir, time.monotonic() + START_DEADLINE_S)
                return info
            except AzuriteError:
                _terminate(proc.pid, grace=2)
                _clear(run_dir)
                # A port picked as free can be taken before Azurite binds it: pick again.
                if attempt == attempts or "EADDRINUSE" not in _log_tail(run_dir):
                    raise
    raise AssertionError("unreachable")


def _warn_if_ports_differ(info: AzuriteInfo, ports: Sequence[int | None]) -> None:
    actual = (info.blob_port, info.queue_port, info.table_port)
    if any(want and want != got for want, got in zip(ports, actual, strict=True)):
        print(
            f"azurite: already running (pid {info.pid}) on ports {actual}; requested ports ignored",
            file=sys.stderr,
        )


def stop(run_dir: Path | str = DEFAULT_RUN_DIR) -> bool:
    """Stop the recorded Azurite (SIGTERM to its group, SIGKILL after 10 s). True if one was running."""
    run_dir = Path(run_dir).resolve()
    if not run_dir.exists():
        return False
    with _flock(run_dir / LOCK_FILE):
        pid = _read_pid(run_dir)
        was_running = pid is not None and _pid_alive(pid) and _looks_like_azurite(pid)
        if was_running:
            assert pid is not None
            _terminate(pid)
        _clear(run_dir)
        return was_running


# ---------------------------------------------------------------------------------------------- CLI


def _port_arg(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number")
    return port


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="azurite_ctl.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install", help="npm ci when node_modules is missing or out of date")
    inst.add_argument("--force", action="store_true", help="reinstall even when up to date")
    st = sub.add_parser("start", help="start (or reuse) Azurite and print its connection string")
    st.add_argument("--location", type=Path, help="data folder (default: azurite/data, or <run dir>/data)")
    st.add_argument("--in-memory", action="store_true", help="keep nothing on disk (lost when Azurite stops)")
    st.add_argument("--blob-port", type=_port_arg, help="default 10000 when free; 0 = any free port")
    st.add_argument("--queue-port", type=_port_arg, help="default 10001 when free; 0 = any free port")
    st.add_argument("--table-port", type=_port_arg, help="default 10002 when free; 0 = any free port")
    st.add_argument("--free-ports", action="store_true", help="pick free ports for every service")
    st.add_argument("--debug-log", type=Path, help="Azurite debug log file")
    wp = sub.add_parser("wipe", help=_HELP["wipe"])
    wp.add_argument("--location", type=Path, help="data folder (default: azurite/data, or <run dir>/data)")
    for name in ("start", "stop", "status", "env", "wipe"):
        sp = st if name == "start" else wp if name == "wipe" else sub.add_parser(name, help=_HELP[name])
        sp.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="default: azurite/.run")
    return p


_HELP = {
    "stop": "stop the recorded Azurite; nothing running is not an error",
    "status": "exit 0 when running and answering, 1 otherwise",
    "env": "print: export AzureWebJobsStorage='...'",
    "wipe": "stop Azurite and delete its data folder: every task hub in it is gone",
}


def data_dir(run_dir: Path | str, location: Path | str | None = None) -> Path:
    """Where the command line keeps Azurite's data: ``location``, else azurite/data for the default run
    directory, else ``<run dir>/data``."""
    if location is not None:
        return Path(location).resolve()
    run_dir = Path(run_dir).resolve()
    return DEFAULT_DATA_DIR if run_dir == DEFAULT_RUN_DIR else run_dir / "data"


def wipe(run_dir: Path | str = DEFAULT_RUN_DIR, location: Path | str | None = None) -> Path:
    """Stop the recorded Azurite and delete its data folder; returns the folder."""
    stop(run_dir)
    folder = data_dir(run_dir, location)
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "install":
            install(force=args.force)
        elif args.command == "start":
            ports = [args.blob_port, args.queue_port, args.table_port]
            if args.free_ports:
                ports = [0 if p is None else p for p in ports]
            location = None if args.in_memory else data_dir(args.run_dir, args.location)
            started = start(args.run_dir, location=location, ports=ports, debug_log=args.debug_log)
            print(started.connection_string)
        elif args.command == "wipe":
            folder = wipe(args.run_dir, args.location)
            print(f"azurite: stopped; deleted {folder} (every task hub that was in it)", file=sys.stderr)
        elif args.command == "stop":
            if stop(args.run_dir):
                print("azurite: stopped", file=sys.stderr)
        elif args.command == "status":
            info: AzuriteInfo | None = status(args.run_dir)
            if info is None:
                print("azurite: not running")
                return 1
            print(
                f"azurite: running, pid {info.pid}, blob {info.blob_port}, "
                f"queue {info.queue_port}, table {info.table_port}"
            )
        elif args.command == "env":
            running = status(args.run_dir)
            if running is None:
                print(f"azurite: not running (run dir {args.run_dir})", file=sys.stderr)
                return 1
            print(f"export AzureWebJobsStorage='{running.connection_string}'")
    except AzuriteError as e:
        print(f"azurite: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        if e.errno == errno.EPIPE:
            return 0
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
