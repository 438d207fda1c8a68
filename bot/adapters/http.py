"""The bot's own HTTP server (aiohttp): `GET /healthz` and `GET /metrics`, in every mode.

One `web.Application` per process, created before anything starts so other adapters can
add their routes to it (Slack HTTP mode mounts `POST /slack/events`); `start()` freezes
the routes and listens on `port`. `aclose()` stops accepting connections and lets requests
in flight finish within `shutdown_timeout` seconds.

`/healthz` answers 200 with the checks when all pass, else 503 naming what failed
(`{"ok": false, "checks": {"store": "unreachable (OSError)", ...}}`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import structlog
from aiohttp import web

log = structlog.get_logger("incidentbot.http")


class HealthReport(Protocol):
    """What a health check returns (`bot.app.Health`)."""

    @property
    def ok(self) -> bool: ...

    @property
    def checks(self) -> Mapping[str, str]: ...


HealthCheck = Callable[[], Awaitable[HealthReport]]
Scrape = Callable[[], Awaitable[bytes]]


class HttpServer:
    """Serves health and metrics; `web` is the application other adapters mount onto."""

    def __init__(
        self,
        *,
        health: HealthCheck,
        metrics: Scrape,
        metrics_content_type: str,
        host: str = "0.0.0.0",
        port: int = 3000,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self._health = health
        self._metrics = metrics
        self._content_type = metrics_content_type
        self.host = host
        self.port = port
        self.shutdown_timeout = shutdown_timeout
        self.web = web.Application()
        self.web.router.add_get("/healthz", self.healthz)
        self.web.router.add_get("/metrics", self.metrics)
        self._runner: web.AppRunner | None = None

    @property
    def bound_port(self) -> int | None:
        """The port actually listened on (differs from `port` when that was 0)."""
        if self._runner is None:
            return None
        for addr in self._runner.addresses:
            if isinstance(addr, tuple) and len(addr) >= 2:
                return int(addr[1])
        return None

    async def start(self) -> None:
        """Listens on `host:port`; routes can no longer be added afterwards."""
        runner = web.AppRunner(
            self.web, access_log=None, shutdown_timeout=self.shutdown_timeout, handle_signals=False
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("http.listening", host=self.host, port=self.bound_port)

    async def aclose(self) -> None:
        """Stops listening; requests in flight get `shutdown_timeout` seconds to finish."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def healthz(self, request: web.Request) -> web.Response:
        report = await self._health()
        body = json.dumps({"ok": report.ok, "checks": dict(report.checks)}, sort_keys=True)
        return web.Response(
            status=200 if report.ok else 503,
            text=body + "\n",
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def metrics(self, request: web.Request) -> web.Response:
        body = await self._metrics()
        # aiohttp refuses a content_type carrying parameters, so the header is set whole.
        return web.Response(body=body, headers={"Content-Type": self._content_type})
