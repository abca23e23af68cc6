"""The floor: raw Azurite queue round trips and table batch writes, measured on the SDK's async
clients directly (:class:`RawOps`, the floor itself) and through the storage seam (:class:`SeamOps`).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from bench.common import FLOOR_DEFINITION, Counts, Run
from bench.procs import child_env, session_cpu_seconds, settings_for, system_busy_seconds
from taskhub.config.settings import Settings
from taskhub.storage import BatchOp, Storage


class SeamOps:
    """Floor operations through the storage seam (``taskhub.storage.Storage``)."""

    def __init__(self, settings: Settings, queue: str, table: str) -> None:
        self.s = Storage(settings)
        self.queue, self.table = queue, table

    async def setup(self) -> None:
        await self.s.create_queue(self.queue)
        await self.s.create_table(self.table)

    async def send(self, body: str) -> None:
        await self.s.send_message(self.queue, body)

    async def receive(self) -> Any:
        got = await self.s.receive_messages(self.queue, max_messages=1, visibility_timeout=30)
        return got[0] if got else None

    async def delete(self, m: Any) -> None:
        await self.s.delete_message(m)

    async def batch(self, rows: list[dict[str, Any]]) -> None:
        await self.s.submit_batch(self.table, [BatchOp("insert", r) for r in rows])

    async def close(self) -> None:
        await self.s.delete_queue(self.queue)
        await self.s.delete_table(self.table)
        await self.s.close()


class RawOps:
    """Floor operations on the SDK's async clients directly, without the seam and without aiohttp's
    per-request environment lookups (``use_env_settings=False``): the raw floor."""

    def __init__(self, conn: str, queue: str, table: str) -> None:
        from azure.data.tables.aio import TableClient
        from azure.storage.queue.aio import QueueClient

        self.q = QueueClient.from_connection_string(conn, queue, use_env_settings=False)
        self.t = TableClient.from_connection_string(conn, table, use_env_settings=False)

    async def setup(self) -> None:
        await self.q.create_queue()
        await self.t.create_table()

    async def send(self, body: str) -> None:
        await self.q.send_message(body, time_to_live=-1)

    async def receive(self) -> Any:
        async for m in self.q.receive_messages(messages_per_page=1, max_messages=1, visibility_timeout=30):
            return m
        return None

    async def delete(self, m: Any) -> None:
        await self.q.delete_message(m.id, m.pop_receipt)

    async def batch(self, rows: list[dict[str, Any]]) -> None:
        await self.t.submit_transaction([("create", r) for r in rows])

    async def close(self) -> None:
        await self.q.delete_queue()
        await self.t.delete_table()
        await self.q.close()
        await self.t.close()


async def measure_floor(ops: SeamOps | RawOps, counts: Counts) -> dict[str, Any]:
    """Queue round trips (send + receive + delete) and table batches of 100 inserts, 1 and N loops."""
    body = "x" * 500  # about the size of an activity message
    await ops.setup()

    async def cycles(n: int) -> None:
        for _ in range(n):
            await ops.send(body)
            while True:
                got = await ops.receive()
                if got is not None:
                    break
            await ops.delete(got)

    payload = "y" * 200
    serial = 0

    async def batches(n: int) -> None:
        nonlocal serial
        for _ in range(n):
            serial += 1
            pk = f"p{serial:06d}"
            rows = [
                {
                    "PartitionKey": pk,
                    "RowKey": f"{i:016X}",
                    "EventType": "TaskCompleted",
                    "EventId": i,
                    "Result": payload,
                }
                for i in range(100)
            ]
            await ops.batch(rows)

    try:
        await cycles(10)  # warm the connections up
        t = time.perf_counter()
        await cycles(counts.floor_queue_seq)
        seq_s = time.perf_counter() - t
        loops = 8
        t = time.perf_counter()
        await asyncio.gather(*(cycles(counts.floor_queue_conc) for _ in range(loops)))
        conc_s = time.perf_counter() - t
        await batches(2)
        t = time.perf_counter()
        await batches(counts.floor_batches_seq)
        bseq_s = time.perf_counter() - t
        bloops = 4
        t = time.perf_counter()
        await asyncio.gather(*(batches(counts.floor_batches_conc) for _ in range(bloops)))
        bconc_s = time.perf_counter() - t
    finally:
        await ops.close()
    return {
        "queue_round_trips_per_s": round(loops * counts.floor_queue_conc / conc_s, 1),
        "queue_round_trips_per_s_sequential": round(counts.floor_queue_seq / seq_s, 1),
        "queue_round_trip_ms_sequential": round(1000 * seq_s / counts.floor_queue_seq, 2),
        "queue_cycles": {
            "sequential": counts.floor_queue_seq,
            "concurrent": f"{loops} x {counts.floor_queue_conc}",
        },
        "queue_message_bytes": len(body),
        "table_batch_entities_per_s": round(bloops * counts.floor_batches_conc * 100 / bconc_s, 1),
        "table_batches_per_s": round(bloops * counts.floor_batches_conc / bconc_s, 1),
        "table_batch_entities_per_s_sequential": round(counts.floor_batches_seq * 100 / bseq_s, 1),
        "table_batches_per_s_sequential": round(counts.floor_batches_seq / bseq_s, 1),
        "table_batches": {
            "sequential": counts.floor_batches_seq,
            "concurrent": f"{bloops} x {counts.floor_batches_conc}",
            "entities_per_batch": 100,
        },
    }


async def measure_floors(run: Run) -> dict[str, Any]:
    """The raw floor (SDK directly) and the same through the storage seam, with the CPU they used."""
    out: dict[str, Any] = {"definition": FLOOR_DEFINITION}
    settings = settings_for(child_env(run.conn, "BenchFloor"), None)
    for key, make in (
        ("raw", lambda: RawOps(run.conn, "bench-floor-raw", "BenchFloorRaw")),
        ("seam", lambda: SeamOps(settings, "bench-floor-seam", "BenchFloorSeam")),
    ):
        cpu0 = (session_cpu_seconds(run.azurite_pid), sum(os.times()[:2]), system_busy_seconds())
        t = time.perf_counter()
        out[key] = await measure_floor(make(), run.counts)
        wall = time.perf_counter() - t
        cpu1 = (session_cpu_seconds(run.azurite_pid), sum(os.times()[:2]), system_busy_seconds())
        out[key]["cpu_utilisation"] = {
            "azurite": round((cpu1[0] - cpu0[0]) / wall, 2),
            "bench_client": round((cpu1[1] - cpu0[1]) / wall, 2),
            "other_processes": round(
                max(0.0, (cpu1[2] - cpu0[2]) - (cpu1[0] - cpu0[0]) - (cpu1[1] - cpu0[1])) / wall, 2
            ),
        }
    out["queue_round_trips_per_s"] = out["raw"]["queue_round_trips_per_s"]
    out["seam_overhead"] = {
        "queue_round_trips_seam_over_raw": round(
            out["seam"]["queue_round_trips_per_s"] / out["raw"]["queue_round_trips_per_s"], 3
        ),
        "table_batches_seam_over_raw": round(
            out["seam"]["table_batch_entities_per_s"] / out["raw"]["table_batch_entities_per_s"], 3
        ),
    }
    return out
