"""Harness for the Slack end-to-end tests: the real store, service, dispatcher, scheduler and
slack-bolt adapter, wired as the composition root does, against FakeSlack on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from bot.adapters.slack import SlackAdapter
from bot.core.clock import ManualClock
from bot.core.dispatcher import Dispatcher
from bot.core.policy import Policy
from bot.core.scheduler import Scheduler
from bot.core.service import IncidentService
from bot.core.templates import Templates
from bot.probing import ConfiguredProbeRunner
from bot.storage import open_store
from tests.fakes.slack import FakeSlack, Mode

CHANNELS = {
    "incidents": "C0INCIDENTS",
    "incidents_low": "C0INCLOW",
    "ops": "C0OPS",
    "security": "C0SECURITY",
}
CONTACTS = {"oncall": ("U0ONCALL",), "engineering_manager": ("U0EM",)}


class SlackBot:
    """One bot process's worth of parts over a SQLite file; `start`/`stop` like a restart."""

    def __init__(self, fake: FakeSlack, db: Path, mode: Mode, clock: ManualClock) -> None:
        self.fake, self.db, self.mode, self.clock = fake, db, mode, clock
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self.store = open_store(f"sqlite:///{self.db}")
        await self.store.migrate()
        probes = ConfiguredProbeRunner.from_dicts(
            [
                {
                    "name": "slack-api",
                    "service": "edge",
                    "kind": "tcp",
                    "host": "127.0.0.1",
                    "port": self.fake.port,
                    "timeout": "2s",
                }
            ]
        )
        self.service = IncidentService(
            store=self.store,
            policy=Policy(contacts=CONTACTS),
            templates=Templates(),
            clock=self.clock,
            probes=probes,
            on_commit=self._wake,
        )
        self.adapter = SlackAdapter(
            self.service,
            bot_token=self.fake.bot_token,
            channels=CHANNELS,
            signing_secret=self.fake.signing_secret if self.mode == "http" else None,
            app_token=self.fake.app_token if self.mode == "socket" else None,
            api_url=self.fake.api_url,
        )
        self.dispatcher = Dispatcher(
            store=self.store,
            service=self.service,
            notifiers={"slack": self.adapter},
            pagers={},
            clock=self.clock,
            owner="e2e",
        )
        self.scheduler = Scheduler(
            store=self.store, service=self.service, clock=self.clock, owner="e2e"
        )
        await self.adapter.start()
        if self.mode == "http":
            app = web.Application()
            self.adapter.mount(app)
            self._runner = web.AppRunner(app, handle_signals=False)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.fake.bot_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/slack/events"
        self.fake.mode = self.mode
        self._tasks = [
            asyncio.create_task(self.dispatcher.run()),
            asyncio.create_task(self.scheduler.run()),
        ]

    def _wake(self) -> None:
        self.dispatcher.wake()
        self.scheduler.wake()

    async def stop(self) -> None:
        self.dispatcher.stop()
        self.scheduler.stop()
        await asyncio.gather(*self._tasks)
        await self.adapter.aclose()
        await self.service.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.store.aclose()


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
