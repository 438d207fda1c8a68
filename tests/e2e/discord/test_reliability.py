"""Gateway reconnects, rate limits, delivery failures and reminder buttons."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.core.messages import Message, Notice, NoticeKind
from bot.errors import DeliveryError
from tests.e2e.discord.conftest import DiscordBot, eventually
from tests.e2e.discord.test_lifecycle import declare
from tests.fakes.discord import FakeDiscord, message_text


def button_ids(msg: dict[str, Any]) -> list[str]:
    return [str(c["custom_id"]) for row in msg["components"] for c in row["components"]]


async def test_gateway_reconnect_loses_no_command_and_no_reminder(
    fake: FakeDiscord, bot: DiscordBot
) -> None:
    thread = await declare(fake, "Payments API 500s", "SEV1")  # SEV1: update every 15 min
    tid = thread["id"]
    await fake.wait_for(lambda: any("TRIAGE" in message_text(m) for m in fake.messages_in(tid)))

    fake.pause_gateway()
    await fake.disconnect()
    await eventually(lambda: not bot.adapter.connected())
    offline = await fake.slash("note", {"text": "typed while the bot was offline"}, channel=tid)
    assert offline.delivered_at is None  # held for the RESUME replay
    await bot.clock.advance(timedelta(minutes=16))  # the update reminder falls due meanwhile
    reminder = await fake.wait_for(
        lambda: next((m for m in fake.messages_in(tid) if "UPDATE DUE" in message_text(m)), None)
    )
    assert f"<@{fake.user_id('alice')}>" in reminder["content"]  # the IC is mentioned
    fake.resume_gateway()

    await fake.wait_for(lambda: offline.callbacks, within=10)
    assert fake.resumes == 1 and fake.identifies == 1  # resumed, not re-identified
    assert offline.latency is not None and offline.latency < 3.0
    assert any(e.text == "typed while the bot was offline" for e in await bot.store.timeline(1))
    await eventually(bot.adapter.connected)

    # the reminder's buttons work after the reconnect: snooze, and post update via the modal
    ids = button_ids(reminder)
    snooze = next(i for i in ids if "snooze" in i and i.endswith("30m"))
    press = await fake.click(reminder["id"], snooze, user="alice")
    await fake.wait_for(lambda: press.callbacks)
    assert press.ephemeral and "snoozed until" in press.text(), press.text()
    inc = await bot.store.get(1)
    assert inc is not None and inc.snoozed_until is not None

    post = next(i for i in ids if "post_update" in i)
    press = await fake.click(reminder["id"], post, user="alice")
    await fake.wait_for(lambda: press.callbacks)
    modal = press.modal
    assert modal is not None and press.response_type == 9
    submit = await fake.submit_modal(
        modal,
        {"findings": "bad deploy rolled back", "actions": "watching error rates"},
        channel=tid,
    )
    await fake.wait_for(lambda: submit.callbacks)
    await fake.wait_for(
        lambda: any(
            "bad deploy rolled back" in message_text(m) for m in fake.messages_in("incidents")
        )
    )
    # one reminder, not a repeat after the reconnect
    assert len([m for m in fake.messages_in(tid) if "UPDATE DUE" in message_text(m)]) == 1


async def test_429_on_message_create_is_waited_out(fake: FakeDiscord, bot: DiscordBot) -> None:
    ops = fake.channel_id("ops")
    fake.rate_limit("POST", rf"/channels/{ops}/messages", retry_after=0.4)
    await declare(fake, "Rate limited announce", "SEV2")
    await fake.wait_for(lambda: fake.messages_in("ops"))
    calls = fake.calls_to("POST", rf"/channels/{ops}/messages")
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.39  # discord.py slept retry_after from the body
    assert len(fake.messages_in("ops")) == 1


async def test_long_rate_limit_raises_delivery_error_with_retry_after(
    fake: FakeDiscord, bot: DiscordBot
) -> None:
    await declare(fake, "Noisy", "SEV3")
    inc = await bot.store.get(1)
    assert inc is not None
    fake.rate_limit("POST", r"/channels/\d+/messages", retry_after=45.0)
    notice = Notice(1, "discord", NoticeKind.POST, Message(title="hello"), channel="ops")
    with pytest.raises(DeliveryError) as err:
        await bot.adapter.deliver(notice, inc)
    assert err.value.retry_after == 45.0
    with pytest.raises(DeliveryError, match="no Discord channel configured"):
        await bot.adapter.deliver(
            Notice(1, "discord", NoticeKind.POST, Message(title="x"), channel="nowhere"), inc
        )


async def test_failed_thread_creation_is_retried_without_reannouncing(
    fake: FakeDiscord, bot: DiscordBot
) -> None:
    fake.fail("POST", r"/channels/\d+/messages/\d+/threads", status=403, times=1)
    rec = await fake.slash("declare", {"title": "Thread refused once", "severity": "SEV2"})
    await fake.wait_for(lambda: rec.callbacks)
    await fake.wait_for(lambda: [c for c in fake.calls if c.status == 403])
    assert fake.threads() == []
    await eventually(lambda: bot.dispatcher.failures[("discord", "announce")] >= 1)
    await bot.clock.advance(timedelta(seconds=5))  # past the outbox's retry backoff
    thread = await fake.wait_for(lambda: next(iter(fake.threads()), None))
    [announcement] = fake.messages_in("incidents")  # the message was reused, not re-sent
    assert thread["id"] == announcement["id"]
    await fake.wait_for(
        lambda: any("TRIAGE" in message_text(m) for m in fake.messages_in(thread["id"]))
    )
    inc = await bot.store.get(1)
    assert inc is not None and inc.thread is not None and inc.thread.thread == thread["id"]
