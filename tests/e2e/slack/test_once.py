"""Effectively once on Slack (SPEC §7): a message Slack carried out is not posted again when
its answer is lost — the connection hangs until the attempt is given up, or drops after the
request went out — and the outbox retries. Every message names its notice in its metadata;
the retry finds it in the channel or thread history and posts nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from slack_sdk.web.async_client import AsyncWebClient

from tests.e2e.slack.conftest import SlackBot
from tests.fakes.slack import FakeSlack, SlackMessage


def announcements(fake: FakeSlack, title: str) -> list[SlackMessage]:
    return [m for m in fake.channel_messages("C0INCIDENTS") if title in m.text]


async def until(pred: Callable[[], bool], within: float = 5.0) -> None:
    """Polls state the fake does not see change (the dispatcher's counters)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not pred():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.01)


def failures(bot: SlackBot) -> int:
    return sum(bot.dispatcher.failures.values())


def bot_notices(fake: FakeSlack) -> Counter[int | None]:
    return Counter(m.notice for m in fake.messages if m.bot)


async def test_every_bot_message_names_its_notice_in_metadata(
    bot: SlackBot, fake: FakeSlack
) -> None:
    await fake.slash_command("declare Checkout failing sev2", user="U0ALICE")
    [ann] = await fake.wait_for(lambda: announcements(fake, "Checkout failing"))
    await fake.wait_for(lambda: len(fake.thread(ann.channel, ann.ts)) >= 2)
    await bot.adapter.idle()
    counts = bot_notices(fake)
    assert None not in counts and set(counts.values()) == {1}, counts
    assert ann.metadata is not None
    assert ann.metadata["event_type"] == "incidentbot_notice"
    assert ann.metadata["event_payload"]["incident"] == 1
    # No lookup was needed: every notice went out at its first attempt.
    assert not fake.calls_to("conversations.history")


async def test_a_post_slack_carried_out_but_never_answered_is_not_posted_again(
    bot: SlackBot, fake: FakeSlack
) -> None:
    """The announcement is stored by Slack, whose answer never comes: the dispatcher gives
    the attempt up (at 80 % of its lease, here shortened) and retries after a backoff. The
    retry finds the message and takes its ts as the incident's thread."""
    bot.dispatcher.attempt_limit = timedelta(seconds=0.5)
    fake.never_answer("chat.postMessage")
    await fake.slash_command("declare Payments down sev1", user="U0ALICE")
    [ann] = await fake.wait_for(lambda: announcements(fake, "Payments down"))
    await until(lambda: failures(bot) == 1)
    await bot.clock.advance(timedelta(seconds=5))  # past the retry's backoff
    await fake.wait_for(lambda: len(fake.thread(ann.channel, ann.ts)) >= 2)
    await bot.adapter.idle()
    assert announcements(fake, "Payments down") == [ann]
    inc = await bot.store.get(1)
    assert inc is not None and inc.thread is not None
    assert (inc.thread.channel, inc.thread.thread) == ("C0INCIDENTS", ann.ts)
    looked = fake.calls_to("conversations.history")
    assert len(looked) == 1
    assert looked[0].args["include_all_metadata"] in ("1", "true")
    assert float(looked[0].args["oldest"]) <= float(ann.ts)
    assert set(bot_notices(fake).values()) == {1}


async def test_a_connection_dropped_after_sending_is_not_reposted(
    bot: SlackBot, fake: FakeSlack
) -> None:
    """Slack stores the post and the connection drops before the answer. The Web API
    client must not re-send it on its own (it retries connection errors of reads); the
    outbox's retry pages back through a busy channel and finds it."""
    fake.never_answer("chat.postMessage", drop=True)
    await fake.slash_command("declare Search stale sev2", user="U0ALICE")
    [ann] = await fake.wait_for(lambda: announcements(fake, "Search stale"))
    await until(lambda: failures(bot) == 1)
    for i in range(7):  # the channel moves on meanwhile
        fake.post_as_user("C0INCIDENTS", f"chatter {i}", user="U0BOB")
    fake.max_page = 2
    await bot.clock.advance(timedelta(seconds=5))
    await fake.wait_for(lambda: len(fake.thread(ann.channel, ann.ts)) >= 2)
    await bot.adapter.idle()
    assert announcements(fake, "Search stale") == [ann]
    assert fake.calls_to("chat.postMessage")[0].status == 0  # never answered
    assert len(fake.calls_to("conversations.history")) == 4  # 8 messages, 2 a page
    assert set(bot_notices(fake).values()) == {1}


async def test_a_thread_reply_slack_kept_is_found_in_the_thread(
    bot: SlackBot, fake: FakeSlack
) -> None:
    await fake.slash_command("declare Queue backlog sev2", user="U0ALICE")
    [ann] = await fake.wait_for(lambda: announcements(fake, "Queue backlog"))
    await fake.wait_for(lambda: len(fake.thread(ann.channel, ann.ts)) >= 2)
    await bot.adapter.idle()
    for i in range(5):  # a busy thread: the lookup has to page through it
        fake.post_as_user(ann.channel, f"reply {i}", user="U0BOB", thread_ts=ann.ts)
    fake.never_answer("chat.postMessage", drop=True)
    await fake.slash_command("note consumers restarted", channel=ann.channel)
    await until(lambda: failures(bot) == 1)
    fake.max_page = 2
    delivered = sum(bot.dispatcher.delivered.values())
    await bot.clock.advance(timedelta(seconds=5))
    await until(lambda: sum(bot.dispatcher.delivered.values()) > delivered)
    thread = fake.thread(ann.channel, ann.ts)
    notes = [m for m in thread if "consumers restarted" in m.text]
    assert len(notes) == 1 and notes[0] is thread[-1]
    replies = fake.calls_to("conversations.replies")
    # parent + every reply, two a page, the note last
    assert len(replies) == (1 + len(thread) + 1) // 2
    assert all(c.args["ts"] == ann.ts for c in replies)
    assert set(bot_notices(fake).values()) == {1}


async def test_a_post_slack_refused_is_posted_on_retry_even_without_history_access(
    bot: SlackBot, fake: FakeSlack
) -> None:
    """The retry finds nothing when the first attempt did not post: it posts, once. When
    the bot may not read the channel (no channels:history) it cannot check, and posts: a
    duplicate is better than a lost announcement."""
    fake.fail("chat.postMessage", status=500)
    fake.fail("conversations.history", error="missing_scope")
    await fake.slash_command("declare Login errors sev2", user="U0ALICE")
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage"))
    await bot.adapter.idle()
    assert not fake.messages[1:]
    await bot.clock.advance(timedelta(seconds=5))
    [ann] = await fake.wait_for(lambda: announcements(fake, "Login errors"))
    await fake.wait_for(lambda: len(fake.thread(ann.channel, ann.ts)) >= 2)
    assert [c.status for c in fake.calls_to("conversations.history")] == [200]  # the refusal
    assert set(bot_notices(fake).values()) == {1}


async def test_a_lookup_slack_cannot_answer_waits_instead_of_posting_blind(
    bot: SlackBot, fake: FakeSlack
) -> None:
    fake.never_answer("chat.postMessage", drop=True)
    fake.rate_limit("conversations.history", retry_after=60)
    await fake.slash_command("declare Billing late sev2", user="U0ALICE")
    [ann] = await fake.wait_for(lambda: announcements(fake, "Billing late"))
    await until(lambda: failures(bot) == 1)
    await bot.clock.advance(timedelta(seconds=5))
    await until(lambda: failures(bot) == 2)
    assert len(fake.calls_to("chat.postMessage")) == 1  # no post while it could not look
    await bot.clock.advance(timedelta(seconds=61))
    await fake.wait_for(lambda: len(fake.thread(ann.channel, ann.ts)) >= 2)
    assert announcements(fake, "Billing late") == [ann]
    assert [c.status for c in fake.calls_to("conversations.history")] == [429, 200]


# ---------------------------------------------------------------- the fake speaks Slack


async def test_fake_history_returns_metadata_only_when_asked_and_pages_by_cursor(
    fake: FakeSlack,
) -> None:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    meta = {"event_type": "incidentbot_notice", "event_payload": {"notice": 7}}
    parent = await client.chat_postMessage(channel="C0OPS", text="parent", metadata=meta)
    for i in range(5):
        await client.chat_postMessage(
            channel="C0OPS", text=f"reply {i}", thread_ts=parent["ts"], metadata=meta
        )
        await client.chat_postMessage(channel="C0OPS", text=f"top {i}")
    plain = await client.conversations_history(channel="C0OPS")
    assert all("metadata" not in m for m in plain["messages"])
    assert [m["text"] for m in plain["messages"]][-1] == "parent"  # newest first

    seen: list[str] = []
    cursor = None
    while True:
        page = await client.conversations_history(
            channel="C0OPS", limit=2, include_all_metadata=True, cursor=cursor
        )
        seen += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] == bool(cursor)
        if not cursor:
            break
    assert seen == [f"top {i}" for i in reversed(range(5))] + ["parent"]
    assert page["messages"][-1]["metadata"] == meta

    thread: list[str] = []
    cursor = None
    while True:
        page = await client.conversations_replies(
            channel="C0OPS", ts=parent["ts"], limit=2, include_all_metadata=True, cursor=cursor
        )
        thread += [m["text"] for m in page["messages"]]
        assert all(m["metadata"] == meta for m in page["messages"])
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert thread == ["parent"] + [f"reply {i}" for i in range(5)]  # parent on page 1 only
    oldest = fake.thread("C0OPS", parent["ts"])[2].ts
    windowed = await client.conversations_replies(channel="C0OPS", ts=parent["ts"], oldest=oldest)
    assert [m["text"] for m in windowed["messages"]] == ["parent", "reply 3", "reply 4"]
