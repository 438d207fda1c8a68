"""Harness for the Slack end-to-end tests: the real composition root (store, service,
dispatcher, scheduler, slack-bolt adapter, HTTP server) against FakeSlack on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

import pytest
from pydantic import SecretStr

from bot.adapters.slack.adapter import SlackAdapter
from bot.app import App
from bot.config import BotConfig
from bot.core.clock import ManualClock, SystemClock
from bot.settings import Settings
from tests.fakes.slack import FakeSlack, Mode

CHANNELS = {
    "incidents": "C0INCIDENTS",
    "incidents_low": "C0INCLOW",
    "ops": "C0OPS",
    "security": "C0SECURITY",
}
PACE_INTERVAL = 0.1  # seconds between two posts in one channel, in these tests
CONTACTS = {"oncall": ("U0ONCALL",), "engineering_manager": ("U0EM",)}


class PaceTime:
    """The Slack pacer's clock in these tests: real time (FakeSlack answers in real time)
    plus however far the test advanced its ManualClock, so a test that skips a 120 s
    Retry-After skips it for the pacer too."""

    def __init__(self, manual: ManualClock) -> None:
        self.manual, self.start = manual, manual.now()

    def now(self) -> float:
        skipped = (self.manual.now() - self.start).total_seconds()
        return asyncio.get_running_loop().time() + skipped

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


C = TypeVar("C", ManualClock, SystemClock)


class SlackBot(Generic[C]):
    """One bot process: the real composition root (`App`) with the Slack platform, over a
    SQLite file, against FakeSlack; `start`/`stop` like a process start and restart.
    Generic in its clock, so a bot built on a `ManualClock` can be advanced."""

    def __init__(
        self,
        fake: FakeSlack,
        db: Path,
        mode: Mode,
        clock: C,
        *,
        pace_interval: float = PACE_INTERVAL,
    ) -> None:
        self.fake, self.db, self.mode = fake, db, mode
        self.clock: C = clock
        self.pace_interval = pace_interval

    async def start(self) -> None:
        port = _free_port() if self.mode == "http" else None
        settings = Settings(
            slack_bot_token=SecretStr(self.fake.bot_token),
            slack_signing_secret=(
                SecretStr(self.fake.signing_secret) if self.mode == "http" else None
            ),
            slack_app_token=SecretStr(self.fake.app_token) if self.mode == "socket" else None,
            slack_api_url=self.fake.api_url,
            discord_token=None,
            database_url=SecretStr(f"sqlite:///{self.db}"),
            port=port,
        )
        probe = {"name": "slack-api", "service": "edge", "kind": "tcp", "host": "127.0.0.1",
                 "port": self.fake.port, "timeout": "2s"}  # fmt: skip
        config = BotConfig(
            channels=CHANNELS,
            contacts={k: list(v) for k, v in CONTACTS.items()},
            probes=[probe],
        )
        self.app = App(settings, config, platforms=["slack"], clock=self.clock, owner="e2e")
        await self.app.start()
        adapter = self.app.adapters["slack"]
        assert isinstance(adapter, SlackAdapter)
        self.adapter = adapter
        if isinstance(self.clock, ManualClock):
            adapter.pacer.clock = PaceTime(self.clock)
        # By default every post still goes through the pacer, a tenth of Slack's pace
        # apart, so these tests do not take a second per message; Slack's own pace against
        # a fake that enforces it is tests/e2e/slack/test_pacing.py's.
        adapter.pacer.interval = self.pace_interval
        self.store, self.service = self.app.store, self.app.service
        self.dispatcher, self.scheduler = self.app.dispatcher, self.app.scheduler
        if port is not None:
            self.fake.bot_url = f"http://127.0.0.1:{port}/slack/events"
        self.fake.mode = self.mode

    async def stop(self) -> None:
        await self.app.aclose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        yield slack


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture(params=["http", "socket"])
async def bot(
    request: pytest.FixtureRequest, fake: FakeSlack, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[SlackBot]:
    b = SlackBot(fake, tmp_path / "bot.db", request.param, clock)
    await b.start()
    yield b
    await b.stop()


@pytest.fixture
async def http_bot(fake: FakeSlack, tmp_path: Path, clock: ManualClock) -> AsyncIterator[SlackBot]:
    b = SlackBot(fake, tmp_path / "bot.db", "http", clock)
    await b.start()
    yield b
    await b.stop()
