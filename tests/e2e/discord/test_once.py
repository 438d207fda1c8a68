"""Effectively once on Discord (SPEC §7): every message is created with `nonce` = its notice
and `enforce_nonce: true`, so a create Discord carried out whose answer was lost (the
connection dropped, or the attempt was given up) returns the original message when the
outbox retries it, and nothing is posted twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import discord

from bot.adapters.discord.outbound import notice_nonce
from bot.core.messages import Message, Notice, NoticeKind
from tests.e2e.discord.conftest import DiscordBot, eventually
from tests.e2e.discord.test_lifecycle import declare
from tests.fakes.discord import FakeDiscord, message_text

CREATE = r"/channels/\d+/messages"


def creates(fake: FakeDiscord) -> list[dict[str, Any]]:
    return [c.body for c in fake.calls_to("POST", CREATE)]


def nonces_posted(fake: FakeDiscord) -> Counter[str]:
    """How many messages exist per nonce (what the channel shows, not what was sent)."""
    return Counter(str(m.get("nonce")) for m in fake.messages.values() if "nonce" in m)


async def test_every_message_is_created_with_its_notice_as_nonce(
    fake: FakeDiscord, bot: DiscordBot
) -> None:
    thread = await declare(fake, "Checkout failing", "SEV2")
    await fake.wait_for(lambda: len(fake.messages_in(thread["id"])) >= 2)
    bodies = creates(fake)
    assert bodies and all(b["enforce_nonce"] is True for b in bodies)
    nonces = [str(b["nonce"]) for b in bodies]
    assert all(n.startswith("notice-") and len(n) <= 25 for n in nonces)
    assert len(set(nonces)) == len(nonces)
    assert notice_nonce(Notice(1, "discord", NoticeKind.POST, Message("x"), id=42)) == "notice-42"


async def test_an_announcement_whose_answer_was_lost_is_not_posted_again(
    fake: FakeDiscord, bot: DiscordBot
) -> None:
    """Discord creates the announcement and the connection drops before the answer: the
    outbox retries with the same nonce, gets the original back and opens its thread."""
    fake.never_answer("POST", CREATE, drop=True)
    rec = await fake.slash(
        "declare", {"title": "Payments down", "severity": "SEV1"}, channel="general"
    )
    await fake.wait_for(lambda: rec.callbacks)
    [first] = await fake.wait_for(lambda: fake.messages_in("incidents"))
    await eventually(lambda: sum(bot.dispatcher.failures.values()) == 1)
    await bot.clock.advance(timedelta(seconds=5))  # past the retry's backoff
    thread = await fake.wait_for(lambda: next(iter(fake.threads()), None))
    await fake.wait_for(lambda: len(fake.messages_in(thread["id"])) >= 2)
    assert fake.messages_in("incidents") == [first]
    assert thread["id"] == first["id"]  # the thread opened from the original message
    assert [c.status for c in fake.calls_to("POST", CREATE)][:2] == [0, 200]
    assert set(nonces_posted(fake).values()) == {1}


async def test_a_thread_message_given_up_mid_request_is_not_posted_again(
    fake: FakeDiscord, bot: DiscordBot
) -> None:
    thread = await declare(fake, "Queue backlog", "SEV2")
    tid = thread["id"]
    await fake.wait_for(lambda: len(fake.messages_in(tid)) >= 2)
    bot.dispatcher.attempt_limit = timedelta(seconds=0.5)
    fake.never_answer("POST", CREATE, drop=False)  # Discord posts it, the answer never comes
    note = await fake.slash("note", {"text": "consumers restarted"}, channel=tid)
    await fake.wait_for(lambda: note.callbacks)
    await eventually(lambda: sum(bot.dispatcher.failures.values()) == 1)
    await bot.clock.advance(timedelta(seconds=5))
    await eventually(
        lambda: (
            [c.status for c in fake.calls_to("POST", CREATE)][-1:] == [200]
            and len(fake.calls_to("POST", CREATE)) > 3
        )
    )
    notes = [m for m in fake.messages_in(tid) if "consumers restarted" in message_text(m)]
    assert len(notes) == 1
    assert set(nonces_posted(fake).values()) == {1}


# ---------------------------------------------------------------- the fake speaks Discord


async def test_fake_returns_the_original_for_a_repeated_nonce_within_its_window(
    fake: FakeDiscord, bot: DiscordBot
) -> None:
    channel = bot.adapter.client.get_partial_messageable(int(fake.channel_id("ops")))
    a = await channel.send("first", nonce="n-1")
    again = await channel.send("first, again", nonce="n-1")
    other = await channel.send("second", nonce="n-2")
    assert again.id == a.id and other.id != a.id
    assert [m["content"] for m in fake.messages_in("ops")] == ["first", "second"]
    fake.nonce_window = 0.0  # Discord forgets nonces after a few minutes
    later = await channel.send("first, much later", nonce="n-1")
    assert later.id != a.id
    try:
        await channel.send("x", nonce="n" * 26)
    except discord.HTTPException as exc:
        assert exc.status == 400 and exc.code == 50035
    else:
        raise AssertionError("a 26-character nonce was accepted")
