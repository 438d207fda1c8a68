"""The bot's own HTTP server (aiohttp): `GET /healthz` and `GET /metrics`, in every mode.

One `web.Application` per process, created before anything starts so other adapters can
add their routes to it (Slack HTTP mode mounts `POST /slack/events`); `start()` freezes
the routes and listens on `port`. `aclose()` stops accepting connections and lets requests
in flight finish within `shutdown_timeout` seconds.

`/healthz` answers 200 with the checks when all pass, else 503 naming what failed
(`{"ok": false, "checks": {"store": "unreachable (OSError)", ...}}`).

A request aiohttp cannot parse (bad request line, header over 8 KiB, broken chunking) is
answered 400 by aiohttp and logged as one `http.bad_request` warning line, as is a client
that hangs up mid-request: anyone can send those, so they never log a traceback. Other
methods get 405, other paths 404 (aiohttp's own answers, not logged).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = structlog.get_logger("incidentbot.http")


class ClientFaults(logging.Filter):
    """Turns aiohttp's ERROR-with-traceback record of a client's fault (a request it could
    not parse, a connection lost mid-request) into one WARNING line without the traceback.
    Any other exception (a bug in a handler) keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError | ConnectionError):
            what = " ".join(str(getattr(exc, "message", "") or exc).split())[:120]
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "http.bad_request from %s: %s"
            record.args = (remote, f"{type(exc).__name__}: {what}" if what else type(exc).__name__)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


# aiohttp's request-handling log, with the client faults made one line (see ClientFaults).
_server_log = logging.getLogger("incidentbot.http.server")
if not any(isinstance(f, ClientFaults) for f in _server_log.filters):
    _server_log.addFilter(ClientFaults())


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
            self.web,
            access_log=None,
            shutdown_timeout=self.shutdown_timeout,
            handle_signals=False,
            logger=_server_log,
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
