"""A notice the platform's pacer holds back (DeliveryDeferred) goes back to the outbox in its
place: no failure counted, nothing after it in its incident overtakes it, and it is
delivered when the notifier said, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.dispatcher import Dispatcher
from bot.core.messages import Notice, NoticeKind
from bot.core.model import ChannelRef, Incident
from bot.errors import DeliveryDeferred
from tests.fakes.recording import RecordingNotifier
from tests.pgschema import fresh_schema
from tests.stack import Stack, make_stack


@dataclass
class PacedNotifier(RecordingNotifier):
    """Holds back the next `defer_next` deliveries, as a busy channel's pacer does."""

    defer_next: int = 0

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        if self.defer_next > 0:
            self.defer_next -= 1
            raise DeliveryDeferred("channel busy: next free slot in 2.0 s", retry_after=2.0)
        return await super().deliver(notice, incident)


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    if request.param == "sqlite":
        yield None  # make_stack's own SQLite file
        return
    async with fresh_schema(request.getfixturevalue("pg_url")) as url:
        yield url


@pytest.fixture
async def stack(tmp_path: Path, store_url: str | None) -> AsyncIterator[Stack]:
    s = await make_stack(tmp_path, store_url=store_url)
    notifier = PacedNotifier()
    dispatcher = Dispatcher(
        store=s.store,
        service=s.service,
        notifiers={"test": notifier},
        pagers={},
        clock=s.clock,
        owner="test",
    )
    s = replace(s, dispatcher=dispatcher, notifier=notifier)
    yield s
    await s.aclose()


async def test_deferred_notice_keeps_its_place_and_is_not_a_failure(stack: Stack) -> None:
    notifier = stack.notifier
    assert isinstance(notifier, PacedNotifier)
    notifier.defer_next = 1  # the announcement's channel is busy for 2 s
    await stack.cmd('declare "Checkout API 500s" sev2')
    assert notifier.delivered == []  # nothing overtook the held announcement
    assert stack.dispatcher.deferred[("test", "announce")] == 1
    assert not stack.dispatcher.failures
    # Back in the outbox, due when the notifier said.
    assert await stack.store.next_notice_at() == stack.clock.now() + timedelta(seconds=2)

    await stack.advance(timedelta(seconds=1))
    assert notifier.delivered == []  # not before the time it was given
    await stack.advance(timedelta(seconds=1))
    assert [d.kind for d in notifier.delivered][:3] == [
        NoticeKind.ANNOUNCE,
        NoticeKind.POST,
        NoticeKind.THREAD,
    ]
    assert not stack.dispatcher.failures
