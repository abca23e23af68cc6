"""Process control: the bench's Azurite (``azurite/azurite_ctl.py``), the worker processes
(``python -m bench.worker_proc`` and its JSON-lines protocol), their environment and settings, and
the CPU, load and memory readings from /proc that go with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from bench.common import ENV_PREFIX, REPO, say
from bench.worker_proc import proc_status
from taskhub.config.settings import Settings

CLK_TCK = os.sysconf("SC_CLK_TCK")


def load_azurite_ctl() -> ModuleType:
    """azurite/azurite_ctl.py (a script, not a package) as the module ``azurite_ctl``."""
    if "azurite_ctl" in sys.modules:
        return sys.modules["azurite_ctl"]
    path = REPO / "azurite" / "azurite_ctl.py"
    spec = importlib.util.spec_from_file_location("azurite_ctl", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules["azurite_ctl"] = module  # its dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


def start_azurite(run_dir: Path) -> Any:
    """The bench's Azurite, on disk in ``run_dir/data`` (its ``AzuriteInfo``).

    Not ``--inMemoryPersistence``: in memory, Azurite's queue garbage collector deletes the extents of
    deleted messages one by one on its main thread every 60 s, and after a few thousand message
    deletes all three services stop answering for 25 s and more (docs/azurite-stalls.md).
    """
    return load_azurite_ctl().start(run_dir, in_memory=False, location=run_dir / "data", ports=(0, 0, 0))


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0 if it is gone)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else 0.0


def session_cpu_seconds(sid: int) -> float:
    """CPU seconds of every process in session ``sid`` (Azurite runs in a session of its own)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields and int(fields[3]) == sid:
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def system_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used (from /proc/stat)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


async def wait_quiet(limit: float, threshold: float = 0.3) -> None:
    """Wait (up to ``limit`` s) until other processes use less than ``threshold`` cores."""
    deadline = time.monotonic() + limit
    load = await other_load(1.0)
    if load < threshold or limit <= 0:
        return
    say(f"  waiting up to {limit:.0f} s for other processes ({load:.1f} cores busy) to quieten down ...")
    while time.monotonic() < deadline:
        load = await other_load(1.0)
        if load < threshold:
            return
    say(f"  still {load:.1f} cores busy with other work; going on")


async def other_load(seconds: float) -> float:
    """Cores kept busy by other processes over ``seconds`` (this process excluded)."""
    sys0, own0 = system_busy_seconds(), sum(os.times()[:2])
    await asyncio.sleep(seconds)
    return max(0.0, (system_busy_seconds() - sys0) - (sum(os.times()[:2]) - own0)) / seconds


def child_env(conn: str, hub: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the worker/client processes: ours, minus inherited task hub settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().startswith("azurefunctionsjobhost") and k != "AzureWebJobsStorage"
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["AzureWebJobsStorage"] = conn
    env[ENV_PREFIX + "hubName"] = hub
    for key, value in (extra or {}).items():
        env[ENV_PREFIX + key] = value
    return env


def settings_for(env: dict[str, str], host_json: Path | None) -> Settings:
    return Settings.load(str(host_json) if host_json else None, env=env)


def open_log(path: Path) -> Any:
    return open(path, "ab")  # handed to the child process, closed by the caller


_P = TypeVar("_P", bound="WorkerProcess")


class WorkerProcess:
    """``python -m bench.worker_proc`` and its JSON-lines protocol."""

    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path
        self.ready: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    async def _spawn(cls: type[_P], args: list[str], env: dict[str, str], log_path: Path, what: str) -> _P:
        """Start ``args`` and wait for its ready line (killed if it does not come, or is not ``ready``)."""
        log = open_log(log_path)
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                cwd=str(REPO),
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        finally:
            log.close()
        self = cls(proc, log_path)
        try:
            self.ready = await self._read(90)
        except BaseException:
            await self.kill()
            raise
        if self.ready.get("event") != "ready":
            await self.kill()
            raise RuntimeError(f"{what} did not start: {self.ready}; see {log_path}")
        return self

    @classmethod
    async def start(
        cls,
        env: dict[str, str],
        host_json: Path | None,
        log_path: Path,
        *,
        ready_timeout: float | None = None,
        sidecar: bool = False,
    ) -> WorkerProcess:
        """``sidecar``: the process serves as a ``taskhub sidecar`` (its ready line names the ``port``)."""
        args = [sys.executable, "-m", "bench.worker_proc", *(["--sidecar"] if sidecar else [])]
        if ready_timeout is not None:
            args += ["--ready-timeout", str(ready_timeout)]
        if host_json:
            args += ["--host-json", str(host_json)]
        self = await cls._spawn(args, env, log_path, "worker")
        if ready_timeout is None and len(self.ready["owned_queues"]) < self.ready["partition_count"]:
            say(
                f"  warning: worker owns {self.ready['owned_queues']} of {self.ready['partition_count']} queues"
            )
        return self

    async def _read(self, limit: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), limit)
        if not line:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"worker process exited (code {self.proc.returncode}); log tail:\n{tail}")
        result: dict[str, Any] = json.loads(line)
        return result

    async def request(self, cmd: str, limit: float = 60, **kwargs: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"cmd": cmd, **kwargs}) + "\n").encode())
        await self.proc.stdin.drain()
        return await self._read(limit)

    async def stop(self) -> dict[str, Any]:
        """Graceful stop; returns the final snapshot."""
        try:
            final = await self.request("stop", limit=120)
            await asyncio.wait_for(self.proc.wait(), 30)
            return final
        except BaseException:
            await self.kill()
            raise

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.proc.wait(), 10)


class SdkWorkerProcess(WorkerProcess):
    """``python -m bench.sdk_worker HOST:PORT``: the durabletask-python worker of the sidecar workloads."""

    @classmethod
    async def connect(cls, env: dict[str, str], address: str, log_path: Path) -> SdkWorkerProcess:
        return await cls._spawn([sys.executable, "-m", "bench.sdk_worker", address], env, log_path, "the SDK worker")


class MemorySampler:
    """Samples a process's VmRSS every ``interval`` seconds while running."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.max_rss_kb = 0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            rss = proc_status(self.pid).get("VmRSS", 0)
            self.max_rss_kb = max(self.max_rss_kb, rss)
            self.samples += 1
            await asyncio.sleep(self.interval)

    def __enter__(self) -> MemorySampler:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
