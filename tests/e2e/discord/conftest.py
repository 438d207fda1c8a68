"""Harness for the Discord end-to-end tests: the real store, service, dispatcher, scheduler and
discord.py adapter, wired as the composition root does, against FakeDiscord on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import pytest

from bot.adapters.discord.adapter import DiscordAdapter
from bot.core.clock import ManualClock
from bot.core.dispatcher import Dispatcher
from bot.core.policy import Policy
from bot.core.scheduler import Scheduler
from bot.core.service import IncidentService
from bot.core.templates import Templates
from bot.probing import ConfiguredProbeRunner
from bot.storage import open_store
from tests.fakes.discord import FakeDiscord


def channel_map(fake: FakeDiscord) -> dict[str, str]:
    return {
        "incidents": fake.channel_id("incidents"),
        "incidents_low": fake.channel_id("incidents-low"),
        "ops": fake.channel_id("ops"),
        "security": fake.channel_id("security"),
    }


class DiscordBot:
    """One bot process's worth of parts over a SQLite file."""

    def __init__(
        self, fake: FakeDiscord, db: Path, clock: ManualClock, *, defer_after: float = 1.5
    ) -> None:
        self.fake, self.db, self.clock, self.defer_after = fake, db, clock, defer_after
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.store = open_store(f"sqlite:///{self.db}")
        await self.store.migrate()
        probes = ConfiguredProbeRunner.from_dicts(
            [
                {
                    "name": "discord-api",
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
            policy=Policy(
                contacts={
                    "oncall": (self.fake.user_id("bob"),),
                    "engineering_manager": (self.fake.user_id("carol"),),
                }
            ),
            templates=Templates(),
            clock=self.clock,
            probes=probes,
            on_commit=self._wake,
            channels={"discord": channel_map(self.fake)},
        )
        self.adapter = DiscordAdapter(
            self.service,
            token=self.fake.token,
            channels=channel_map(self.fake),
            guild_id=self.fake.guild_id,
            api_url=self.fake.api_url,
            guild_ready_timeout=0.05,
            defer_after=self.defer_after,
        )
        self.dispatcher = Dispatcher(
            store=self.store,
            service=self.service,
            notifiers={"discord": self.adapter},
            pagers={},
            clock=self.clock,
            owner="e2e",
        )
        self.scheduler = Scheduler(
            store=self.store, service=self.service, clock=self.clock, owner="e2e"
        )
        await self.adapter.start()
        await self.fake.wait_ready()
        await asyncio.wait_for(self.adapter.wait_ready(), 10)
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
        await self.store.aclose()


async def eventually(pred: Callable[[], Any], within: float = 5.0) -> Any:
    """Polls a condition on state the fake cannot see (e.g. the log lines a test captures)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        v = pred()
        if v:
            return v
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture(autouse=True)
def _restore_discord_endpoints() -> Iterator[None]:
    """DISCORD_API_URL sets discord.py class attributes; put them back after each test."""
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    f = FakeDiscord()
    await f.start()
    yield f
    await f.aclose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
async def bot(fake: FakeDiscord, tmp_path: Path, clock: ManualClock) -> AsyncIterator[DiscordBot]:
    b = DiscordBot(fake, tmp_path / "bot.db", clock)
    await b.start()
    yield b
    await b.stop()
