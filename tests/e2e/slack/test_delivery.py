"""The Notifier side against FakeSlack: what `deliver` raises tells the outbox what to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.slack.adapter import SlackAdapter
from bot.core.messages import Message, Notice, NoticeKind
from bot.core.model import Actor, ChannelRef, Incident, Severity, Status
from bot.errors import DeliveryDeferred, DeliveryError, DeliveryRejected
from tests.e2e.slack.conftest import SlackBot
from tests.fakes.slack import FakeSlack

INC = Incident(
    number=4,
    title="Cache stampede",
    severity=Severity.SEV2,
    status=Status.INVESTIGATING,
    platform="slack",
    declared_at=datetime(2026, 11, 22, 16, 0, tzinfo=UTC),
    declared_by=Actor("U0ALICE"),
)
MSG = Message(title="INCIDENT DECLARED: Cache stampede", mentions=("U0ONCALL",))


def _notice(kind: NoticeKind, channel: str = "incidents") -> Notice:
    return Notice(4, "slack", kind, MSG, channel=channel)


async def test_announce_returns_the_thread_it_opened(http_bot: SlackBot, fake: FakeSlack) -> None:
    ref = await http_bot.adapter.deliver(_notice(NoticeKind.ANNOUNCE), INC)
    msg = fake.channel_messages("C0INCIDENTS")[0]
    assert ref == ChannelRef("slack", "C0INCIDENTS", msg.ts)
    assert msg.text.startswith("<@U0ONCALL> INCIDENT DECLARED: Cache stampede")
    threaded = INC.evolve(thread=ref)
    assert await http_bot.adapter.deliver(_notice(NoticeKind.THREAD, ""), threaded) is None
    assert fake.thread("C0INCIDENTS", msg.ts)[0].text.endswith("Cache stampede")


async def test_failures_map_to_retry_or_reject(http_bot: SlackBot, fake: FakeSlack) -> None:
    adapter: SlackAdapter = http_bot.adapter
    with pytest.raises(DeliveryError) as no_thread:
        await adapter.deliver(_notice(NoticeKind.THREAD, ""), INC)  # thread not opened yet
    assert not isinstance(no_thread.value, DeliveryRejected)

    fake.rate_limit("chat.postMessage", retry_after=90)
    with pytest.raises(DeliveryError) as limited:
        await adapter.deliver(_notice(NoticeKind.POST, "ops"), INC)
    assert limited.value.retry_after == 90
    assert not isinstance(limited.value, DeliveryRejected)
    sent = len(fake.calls)  # the channel is held for those 90 s: nothing more goes there
    with pytest.raises(DeliveryDeferred):
        await adapter.deliver(_notice(NoticeKind.POST, "ops"), INC)
    assert len(fake.calls) == sent
    await http_bot.clock.advance(timedelta(seconds=90))

    fake.fail("chat.postMessage", error="channel_not_found")
    with pytest.raises(DeliveryRejected, match="channel_not_found"):
        await adapter.deliver(_notice(NoticeKind.POST, "ops"), INC)

    with pytest.raises(DeliveryRejected, match="no Slack channel configured"):
        await adapter.deliver(_notice(NoticeKind.POST, "nowhere"), INC)

    fake.fail("chat.postMessage", error="invalid_blocks")  # layout refused: text still goes
    await adapter.deliver(_notice(NoticeKind.POST, "ops"), INC)
    posted = fake.channel_messages("C0OPS")[-1]
    assert "INCIDENT DECLARED: Cache stampede" in posted.text
    assert posted.blocks == []
    assert fake.bot_token not in str(limited.value) + str(no_thread.value)
