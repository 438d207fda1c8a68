"""Builds the real core over a real SQLite file with a manual clock, for tests and benches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import BotConfig
from bot.core.clock import ManualClock
from bot.core.dispatcher import Dispatcher
from bot.core.model import Actor, ChannelRef
from bot.core.ports import IncidentStore, Pager, ProbeRunner
from bot.core.scheduler import Scheduler
from bot.core.service import IncidentService
from bot.storage import open_store
from tests.fakes.recording import RecordingNotifier

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
ALICE = Actor("U_ALICE", "alice")
BOB = Actor("U_BOB", "bob")
HERE = ChannelRef("test", "C_INCIDENTS")


@dataclass
class Stack:
    clock: ManualClock
    store: IncidentStore
    service: IncidentService
    scheduler: Scheduler
    dispatcher: Dispatcher
    notifier: RecordingNotifier

    async def settle(self) -> None:
        """Fires what is due now and delivers the outbox, until nothing is left to do."""
        for _ in range(50):
            now = self.clock.now()
            fired = await self.scheduler.step(now)
            sent = await self.dispatcher.step(now)
            if not fired and not sent:
                return

    async def advance(self, delta: timedelta) -> None:
        await self.clock.advance(delta)
        await self.settle()

    async def cmd(self, text: str, actor: Actor = ALICE, where: ChannelRef = HERE) -> str:
        reply = await self.service.handle_text(text, actor, where)
        await self.settle()
        assert reply.message is not None or reply.modal is not None
        return reply.message.text() if reply.message else ""

    async def aclose(self) -> None:
        await self.service.aclose()
        await self.store.aclose()


async def make_stack(
    tmp: Path,
    config: BotConfig | None = None,
    *,
    store_url: str | None = None,
    pagers: Mapping[str, Pager] | None = None,
    probes: ProbeRunner | None = None,
) -> Stack:
    config = config or BotConfig(
        contacts={"oncall": ["U_ONCALL"], "engineering_manager": ["U_EM"], "security": ["U_SEC"]}
    )
    clock = ManualClock(T0)
    store = open_store(store_url or f"sqlite:///{tmp / 'bot.sqlite3'}")
    await store.migrate()
    notifier = RecordingNotifier()
    service = IncidentService(
        store=store,
        policy=config.policy(),
        templates=config.templates_set(),
        clock=clock,
        probes=probes,
        on_declare_probes=config.on_declare,
    )
    scheduler = Scheduler(store=store, service=service, clock=clock, owner="test")
    dispatcher = Dispatcher(
        store=store,
        service=service,
        notifiers={"test": notifier},
        pagers=pagers or {},
        clock=clock,
        owner="test",
    )
    return Stack(clock, store, service, scheduler, dispatcher, notifier)
