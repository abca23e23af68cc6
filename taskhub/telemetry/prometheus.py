"""The Prometheus text format (version 0.0.4) of :mod:`taskhub.telemetry.metrics`, and a small HTTP
server that serves it on ``/metrics`` (``taskhub worker --metrics-port``).

Rendered by hand from the same instruments: no extra dependency.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from taskhub.telemetry.metrics import BUCKETS, INSTRUMENTS, Metrics

__all__ = ["CONTENT_TYPE", "MetricsServer", "metrics_handler", "render"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: tuple[tuple[str, str], ...], extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = (*pairs, *extra)
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}"


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if value != int(value) else str(int(value))


def render(metrics: Metrics) -> str:
    """Every instrument with its HELP and TYPE lines, series sorted by labels."""
    out: list[str] = []
    for inst in INSTRUMENTS.values():
        out.append(f"# HELP {inst.name} {inst.help}")
        out.append(f"# TYPE {inst.name} {inst.kind}")
        if inst.kind == "histogram":
            for labels, h in sorted(metrics.histograms.get(inst.name, {}).items()):
                cumulative = 0
                for bound, n in zip((*BUCKETS, math.inf), h.counts, strict=True):
                    cumulative += n
                    out.append(f"{inst.name}_bucket{_labels(labels, (('le', _num(bound)),))} {cumulative}")
                out.append(f"{inst.name}_sum{_labels(labels)} {_num(h.total)}")
                out.append(f"{inst.name}_count{_labels(labels)} {h.n}")
        else:
            for labels, value in sorted(metrics.values.get(inst.name, {}).items()):
                out.append(f"{inst.name}{_labels(labels)} {_num(value)}")
    return "\n".join(out) + "\n"


def metrics_handler(metrics: Metrics) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(_request: web.Request) -> web.Response:
        try:
            await metrics.collect()
        except Exception as err:  # a failed read of the queues must not hide the other series
            log.warning("metrics.collect_failed error=%s", err)
        return web.Response(body=render(metrics).encode(), headers={"Content-Type": CONTENT_TYPE})

    return handle


class MetricsServer:
    """``GET /metrics`` on ``host:port`` (port 0: a free one, see :attr:`port`)."""

    def __init__(self, metrics: Metrics, port: int, host: str = "0.0.0.0") -> None:
        self.metrics, self.host, self.requested_port = metrics, host, port
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", metrics_handler(self.metrics))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port)
        await site.start()
        server = site._server  # the bound port when 0 was asked for
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("metrics.serving host=%s port=%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
