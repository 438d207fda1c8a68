"""/healthz and /metrics of a running App, over real HTTP on loopback.

Health runs against a real PostgreSQL reached through a loopback TCP proxy that the test
cuts and restores; metrics are driven by a scripted incident through the console adapter
(SQLite store, manual clock) and read back with prometheus_client's own text parser.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.app import App
from bot.config import BotConfig
from bot.core.clock import ManualClock
from bot.settings import Settings
from tests.fakes.tcp_proxy import TcpProxy

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def _settings(tmp_path: Path, port: int, **kw: Any) -> Settings:
    return Settings(incidentbot_data_dir=str(tmp_path), port=port, **kw)


def _app(settings: Settings, config: BotConfig, **kw: Any) -> App:
    return App(
        settings,
        config,
        platforms=["console"],
        console_io=(io.StringIO(""), io.StringIO()),
        owner="test-replica",
        **kw,
    )


async def _get(port: int, path: str) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}") as resp,
    ):
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Polls a condition (real I/O settling), never a timer the test could drive instead."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _by_labels(samples: dict[Any, float], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --------------------------------------------------------------------------- health


async def test_healthz_503_while_the_store_is_unreachable_then_200_again(
    tmp_path: Path, pg_schema_url: str, proxy: TcpProxy, unused_port: int
) -> None:
    parts = urlsplit(pg_schema_url)
    via_proxy = parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}").geturl()
    app = _app(_settings(tmp_path, unused_port, database_url=via_proxy), BotConfig())
    await app.start()
    try:
        status, ctype, body = await _get(unused_port, "/healthz")
        assert status == 200, body
        assert ctype.startswith("application/json")
        assert '"store": "ok"' in body
        assert '"scheduler": "ok"' in body
        assert '"console": "ok"' in body

        await proxy.cut()
        status, _, body = await _get(unused_port, "/healthz")
        assert status == 503
        assert '"ok": false' in body
        assert '"store": "unreachable' in body
        # Other checks still report on their own: the reason names only the store.
        assert '"scheduler": "ok"' in body

        # Metrics still answer while the store is down, saying so.
        status, _, text = await _get(unused_port, "/metrics")
        assert status == 200
        samples = _samples(text)
        assert _value(samples, "incidentbot_store_up") == 0.0
        assert not any(name == "incidentbot_incidents_open" for name, _ in samples)

        await proxy.restore()

        async def healthy() -> bool:
            return (await _get(unused_port, "/healthz"))[0] == 200

        await _eventually(healthy)
    finally:
        await app.aclose()


async def test_healthz_reports_a_stopped_scheduler(tmp_path: Path, unused_port: int) -> None:
    app = _app(_settings(tmp_path, unused_port), BotConfig())
    await app.start()
    try:
        app.scheduler.stop()
        await asyncio.wait_for(asyncio.gather(*app._tasks[:1]), 5)
        status, _, body = await _get(unused_port, "/healthz")
        assert status == 503
        assert '"scheduler": "stopped"' in body
    finally:
        await app.aclose()


async def test_no_http_server_without_port_in_console_mode(tmp_path: Path) -> None:
    app = App(Settings(incidentbot_data_dir=str(tmp_path)), BotConfig(), platforms=["console"])
    assert app.http_port() is None
    slack_http = App(
        Settings(
            incidentbot_data_dir=str(tmp_path),
            slack_bot_token="xoxb-0000-test",
            slack_signing_secret="s3cret-signing",
        ),
        BotConfig(),
        platforms=["slack"],
    )
    assert slack_http.http_port() == 3000
    await app.aclose()
    await slack_http.aclose()


# --------------------------------------------------------------------------- metrics


async def test_metrics_after_a_scripted_incident(
    tmp_path: Path, unused_port: int, unused_tcp_port_factory: Callable[[], int]
) -> None:
    closed_port = unused_tcp_port_factory()  # nothing listens: the probe fails
    config = BotConfig(
        probes=[
            {"name": "web", "service": "shop", "kind": "tcp", "host": "127.0.0.1"}
            | {"port": closed_port, "timeout": "2s"}
        ]
    )
    clock = ManualClock(T0)
    app = _app(_settings(tmp_path, unused_port), config, clock=clock)
    await app.start()
    console = app.adapters["console"]
    try:
        await console.handle_line("/incident declare Checkout is down sev1")  # type: ignore[attr-defined]
        await console.handle_line("/incident declare Search is slow sev3")  # type: ignore[attr-defined]
        await console.handle_line("/incident frobnicate")  # type: ignore[attr-defined]
        await console.handle_line("/incident resolve INC-2 fixed")  # type: ignore[attr-defined]

        async def scrape() -> dict[Any, float]:
            status, ctype, text = await _get(unused_port, "/metrics")
            assert status == 200
            assert ctype.startswith("text/plain; version=0.0.4")
            return _samples(text)

        async def probe_done() -> bool:
            return _value(await scrape(), "incidentbot_probe_runs_total", result="fail") >= 2

        await _eventually(probe_done)  # both declarations ran the configured probe

        # 16 minutes on: SEV1's 15-minute update reminder is due and one minute late.
        await clock.advance(timedelta(minutes=16))

        async def reminded() -> bool:
            s = await scrape()
            return _value(s, "incidentbot_reminders_sent_total", kind="reminder") >= 1

        await _eventually(reminded)
        s = await scrape()

        assert _value(s, "incidentbot_store_up") == 1.0
        assert _value(s, "incidentbot_incidents_open", severity="SEV1") == 1.0
        assert _value(s, "incidentbot_incidents_open", severity="SEV2") == 0.0
        assert _value(s, "incidentbot_incidents_open", severity="SEV3") == 0.0  # resolved
        assert _value(s, "incidentbot_commands_total", command="declare", outcome="ok") == 2.0
        assert _value(s, "incidentbot_commands_total", command="resolve", outcome="ok") == 1.0
        assert (
            _value(s, "incidentbot_commands_total", command="unparsed", outcome="rejected") == 1.0
        )
        assert _value(s, "incidentbot_command_duration_seconds_count", command="declare") == 2.0
        assert _value(s, "incidentbot_command_duration_seconds_sum", command="declare") > 0.0
        assert _value(s, "incidentbot_reminders_sent_total", kind="reminder") == 1.0
        assert _value(s, "incidentbot_reminder_lateness_seconds_count", kind="reminder") == 1.0
        assert _value(s, "incidentbot_reminder_lateness_seconds_sum", kind="reminder") == 60.0
        assert _value(s, "incidentbot_probe_runs_total", result="fail") == 2.0
        assert _value(s, "incidentbot_probe_run_duration_seconds_count") == 2.0
        delivered = _by_labels(s, "incidentbot_notices_delivered_total")
        assert delivered[(("kind", "announce"), ("target", "console"))] == 2.0  # two declared
        assert delivered[(("kind", "post"), ("target", "console"))] >= 1.0  # the ops line
        assert sum(delivered.values()) >= 6.0
        assert _by_labels(s, "incidentbot_notice_delivery_failures_total") == {}
    finally:
        await app.aclose()
