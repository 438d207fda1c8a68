"""Graceful shutdown: SIGTERM during a probe run, and reminders across a restart.

The first test runs `incidentbot run` as a real process (console platform, PORT set) whose
only probe targets a deliberately slow local HTTP server; SIGTERM arrives while the probe
request is in flight. The bot must finish the run, deliver its result, release its claims
and exit 0 within the grace bound. The second test restarts an App on the same store with a
claim still held, and checks the reminder is neither lost nor sent twice.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import App
from bot.config import BotConfig
from bot.core.clock import ManualClock
from bot.core.model import TimerKind
from bot.settings import Settings
from bot.storage import open_store

SLOW_S = 1.5  # the probe target's answer time: long enough to be mid-run at SIGTERM
GRACE_S = 10.0  # App.aclose's default bound
T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


class SlowTarget:
    """An HTTP server whose /slow answers after SLOW_S seconds."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.answered = 0
        self.app = web.Application()
        self.app.router.add_get("/slow", self.slow)
        self.runner = web.AppRunner(self.app)

    async def slow(self, request: web.Request) -> web.Response:
        self.arrived.set()
        await asyncio.sleep(SLOW_S)
        self.answered += 1
        return web.Response(text="ok")


@pytest.fixture
async def slow_target(unused_tcp_port: int) -> AsyncIterator[tuple[SlowTarget, int]]:
    target = SlowTarget()
    await target.runner.setup()
    await web.TCPSite(target.runner, "127.0.0.1", unused_tcp_port).start()
    yield target, unused_tcp_port
    await target.runner.cleanup()


async def _status(port: int, path: str) -> int | None:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}{path}") as resp,
        ):
            return resp.status
    except aiohttp.ClientConnectionError:
        return None


async def test_sigterm_mid_probe_run_delivers_the_result_and_exits_0(
    tmp_path: Path, slow_target: tuple[SlowTarget, int], unused_port: int
) -> None:
    target, target_port = slow_target
    config = tmp_path / "bot.yaml"
    config.write_text(
        "probes:\n"
        f"  - {{name: shop, service: web, kind: http,"
        f" url: 'http://127.0.0.1:{target_port}/slow', timeout: 8s}}\n"
    )
    env = {
        **os.environ,
        "INCIDENTBOT_DATA_DIR": str(tmp_path / "data"),
        "PORT": str(unused_port),
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "json",
        "USER": "alice",
    }
    for var in ("SLACK_BOT_TOKEN", "DISCORD_TOKEN", "DATABASE_URL", "INCIDENTBOT_CONFIG"):
        env.pop(var, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), "run",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdin is not None
    try:
        deadline = time.monotonic() + 20
        while await _status(unused_port, "/healthz") != 200:
            assert proc.returncode is None, "the bot exited during start-up"
            assert time.monotonic() < deadline, "the bot never became healthy"
            await asyncio.sleep(0.05)

        proc.stdin.write(b"/incident declare Checkout is down sev1\n")
        await proc.stdin.drain()
        await asyncio.wait_for(target.arrived.wait(), 15)  # the probe request is in flight
        assert target.answered == 0

        sent_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), GRACE_S + 10)
        took = time.monotonic() - sent_at
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    stdout, stderr = out.decode(), err.decode()
    assert proc.returncode == 0, stderr[-2000:]
    assert took < GRACE_S + 5
    assert target.answered == 1  # the run was not cut off…
    # …and its result reached the incident's thread (a warn: the target is slow on purpose).
    assert "PROBES: 0 ok · 1 warn" in stdout
    assert "shop (web/http) warn: latency" in stdout
    events = [json.loads(line)["event"] for line in stderr.splitlines() if line.startswith("{")]
    assert "probe.run" in events
    assert events[-1] == "app.stopped"

    # The store agrees: the probe is on the timeline, the outbox is empty, the reminder is
    # still scheduled (not lost) and no claim is left behind.
    store = open_store(f"sqlite:///{tmp_path / 'data' / 'incidentbot.sqlite3'}")
    try:
        await store.migrate()
        kinds = [e.kind for e in await store.timeline(1)]
        assert kinds.count("probe") == 1
        assert await store.next_notice_at() is None
        due = await store.next_due_at()
        assert due is not None
        claimed = await store.claim_due(due, "another-replica", timedelta(seconds=30), 10)
        assert TimerKind.REMINDER in {t.kind for t in claimed}
    finally:
        await store.aclose()


def _app(tmp_path: Path, clock: ManualClock, owner: str) -> App:
    return App(
        Settings(incidentbot_data_dir=str(tmp_path)),
        BotConfig(),
        platforms=["console"],
        clock=clock,
        console_io=(io.StringIO(""), io.StringIO()),
        owner=owner,
    )


def reminders_sent(app: App) -> float:
    sample = app.metrics.registry.get_sample_value(
        "incidentbot_reminders_sent_total", {"kind": "reminder"}
    )
    return sample or 0.0


async def test_restart_with_a_claim_held_neither_loses_nor_repeats_the_reminder(
    tmp_path: Path,
) -> None:
    first = _app(tmp_path, ManualClock(T0), "replica-a")
    await first.start()
    await first.adapters["console"].handle_line("/incident declare Checkout is down sev1")  # type: ignore[attr-defined]
    # The reminder falls due; replica A claims it and is stopped before acting on it.
    due = T0 + timedelta(minutes=15)
    claimed = await first.store.claim_due(due, "replica-a", timedelta(minutes=10), 10)
    assert [t.kind for t in claimed] == [TimerKind.REMINDER]
    await first.aclose()

    # Replica B starts at once, long before A's 10-minute lease would have expired.
    clock = ManualClock(due + timedelta(seconds=1))
    second = _app(tmp_path, clock, "replica-b")
    await second.start()
    try:
        deadline = time.monotonic() + 10
        while reminders_sent(second) < 1:
            assert time.monotonic() < deadline, "the reminder was lost across the restart"
            await asyncio.sleep(0.02)
        await clock.advance(timedelta(seconds=30))  # more loop turns: nothing fires again
        await second.dispatcher.drain(clock.now())
        reminders = [e for e in await second.store.timeline(1) if e.kind == "reminder"]
        assert len(reminders) == 1
        assert reminders_sent(second) == 1
    finally:
        await second.aclose()
