"""Signatures, rate limits, server errors, redelivered events, pins and private errors."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from tests.e2e.slack.conftest import SlackBot
from tests.fakes.slack import FakeSlack, SlackMessage


def _top(fake: FakeSlack, channel: str, words: str) -> SlackMessage | None:
    return next((m for m in fake.channel_messages(channel) if words in m.text), None)


async def _declare(fake: FakeSlack, title: str = "API latency high sev2") -> SlackMessage:
    await fake.slash_command(f"declare {title}", user="U0ALICE")
    ann: SlackMessage = await fake.wait_for(lambda: _top(fake, "C0INCIDENTS", "INCIDENT DECLARED"))
    await fake.wait_for(lambda: len(fake.thread(ann.channel, ann.ts)) >= 2)
    return ann


# ---------------------------------------------------------------- request verification


async def test_forged_signature_is_refused(http_bot: SlackBot, fake: FakeSlack) -> None:
    body = urlencode(fake.slash_payload("declare Forged outage sev1")).encode()
    forged = FakeSlack(signing_secret="not-the-secret").sign(body)
    ack = await fake.post_signed(body, "application/x-www-form-urlencoded", headers=forged)
    assert ack.status == 401
    missing = await fake.post_signed(body, "application/x-www-form-urlencoded", headers={})
    assert missing.status == 401
    await http_bot.adapter.idle()
    assert await http_bot.store.get(1) is None
    assert not fake.calls_to("chat.postMessage")


async def test_stale_timestamp_is_refused(http_bot: SlackBot, fake: FakeSlack) -> None:
    body = urlencode(fake.slash_payload("declare Replayed outage sev1")).encode()
    stale = fake.sign(body, timestamp=int(time.time()) - 301)  # correctly signed, 5 min old
    ack = await fake.post_signed(body, "application/x-www-form-urlencoded", headers=stale)
    assert ack.status == 401
    fresh = await fake.post_signed(body, "application/x-www-form-urlencoded")
    assert fresh.status == 200  # the same bytes, signed now, are accepted
    await fake.wait_for(lambda: _top(fake, "C0INCIDENTS", "Replayed outage"))


# ---------------------------------------------------------------- Web API failures


async def test_429_is_retried_after_retry_after(bot: SlackBot, fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", times=1, retry_after=1)
    await fake.slash_command("declare Search index stale sev2")
    await fake.wait_for(lambda: _top(fake, "C0INCIDENTS", "Search index stale"), within=8)
    posts = fake.calls_to("chat.postMessage")
    assert posts[0].status == 429
    assert posts[1].status == 200
    assert posts[1].at - posts[0].at >= 1.0  # Retry-After honoured by the Web API client


async def test_long_retry_after_goes_back_to_the_outbox(bot: SlackBot, fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", times=1, retry_after=120)
    await fake.slash_command("declare Billing export late sev2")
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage"))
    await bot.adapter.idle()
    assert not fake.messages  # not delivered, not dropped: the outbox waits 120 s
    await bot.clock.advance(timedelta(seconds=121))
    ann = await fake.wait_for(lambda: _top(fake, "C0INCIDENTS", "Billing export late"))
    assert ann.blocks


async def test_server_errors_are_retried(bot: SlackBot, fake: FakeSlack) -> None:
    fake.fail("conversations.history", status=503, error="service_unavailable")
    fake.fail("chat.postMessage", status=503, error="service_unavailable")
    await fake.slash_command("declare API latency high sev2", user="U0ALICE")
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage"))
    await bot.adapter.idle()
    # Slack may have posted before failing: the post is not re-sent by the Web API client
    # but by the outbox, which first looks for it (a read, retried by the client at once).
    await bot.clock.advance(timedelta(seconds=5))
    await fake.wait_for(lambda: _top(fake, "C0INCIDENTS", "INCIDENT DECLARED"))
    assert [c.status for c in fake.calls_to("chat.postMessage")][:2] == [503, 200]
    assert [c.status for c in fake.calls_to("conversations.history")] == [503, 200]
    assert len(fake.channel_messages("C0INCIDENTS")) == 1


# ---------------------------------------------------------------- events


async def test_redelivered_event_acts_once(bot: SlackBot, fake: FakeSlack) -> None:
    ann = await _declare(fake)
    event = fake.mention_event(
        "note error rate doubled at 16:02", channel=ann.channel, user="U0BOB", thread_ts=ann.ts
    )
    first = await fake.send_event(event, event_id="Ev0REDELIVER")
    again = await fake.send_event(event, event_id="Ev0REDELIVER", retry_num=1)
    assert (first.status, again.status) == (200, 200)
    await fake.wait_for(lambda: [m for m in fake.thread(ann.channel, ann.ts) if "Note" in m.text])
    await bot.adapter.idle()
    notes = [e for e in await bot.store.timeline(1) if e.kind == "note"]
    assert [n.text for n in notes] == ["error rate doubled at 16:02"]
    assert len([m for m in fake.thread(ann.channel, ann.ts) if "Note from" in m.text]) == 1
    assert not [e for e in fake.ephemerals if "Already" in e.text]


async def test_pushpin_adds_the_message_at_its_own_time(bot: SlackBot, fake: FakeSlack) -> None:
    ann = await _declare(fake)
    said = fake.post_as_user(
        ann.channel, "rolled back deploy 4411", user="U0CAROL", thread_ts=ann.ts
    )
    await bot.clock.advance(timedelta(minutes=3))  # pinned later than it was said
    ack = await fake.send_event(fake.reaction_event(said, user="U0BOB"))
    assert ack.status == 200
    eph = await fake.wait_for(lambda: [e for e in fake.ephemerals if "timeline" in e.text])
    assert eph[0].user == "U0BOB"
    pins = [e for e in await bot.store.timeline(1) if e.kind == "pin"]
    assert len(pins) == 1
    assert "rolled back deploy 4411" in pins[0].text
    assert pins[0].at == datetime.fromtimestamp(float(said.ts), UTC)
    assert pins[0].actor is not None
    assert pins[0].actor.id == "U0BOB"


async def test_pushpin_outside_an_incident_thread_does_nothing(
    bot: SlackBot, fake: FakeSlack
) -> None:
    said = fake.post_as_user("C0RANDOM", "lunch?", user="U0CAROL")
    await fake.send_event(fake.reaction_event(said, user="U0BOB"))
    await fake.wait_for(lambda: fake.calls_to("conversations.replies"))
    await bot.adapter.idle()
    assert not fake.ephemerals
    assert not fake.messages[1:]


# ---------------------------------------------------------------- errors stay private


async def test_bad_command_answers_only_the_invoker(bot: SlackBot, fake: FakeSlack) -> None:
    ack = await fake.slash_command("declare Outage of things sev9", user="U0BOB")
    assert ack.status == 200
    resp = await fake.wait_for(lambda: fake.responses)
    assert resp[0].ephemeral
    assert "Unknown severity 'sev9'" in resp[0].text
    await bot.adapter.idle()
    assert not fake.messages
    assert await bot.store.get(1) is None


async def test_bad_mention_in_thread_is_ephemeral(bot: SlackBot, fake: FakeSlack) -> None:
    ann = await _declare(fake)
    event = fake.mention_event("frobnicate", channel=ann.channel, user="U0BOB", thread_ts=ann.ts)
    await fake.send_event(event)
    eph = await fake.wait_for(lambda: fake.ephemerals)
    assert eph[0].user == "U0BOB"
    assert eph[0].thread_ts == ann.ts
    assert "Unknown command 'frobnicate'" in eph[0].text


async def test_expired_response_url_falls_back_to_an_ephemeral(
    bot: SlackBot, fake: FakeSlack
) -> None:
    fake.expire_response_urls()
    await fake.slash_command("declare Outage sev9", user="U0BOB", channel="C0OPS")
    eph = await fake.wait_for(lambda: fake.ephemerals)
    assert (eph[0].user, eph[0].channel) == ("U0BOB", "C0OPS")
    assert "Unknown severity 'sev9'" in eph[0].text
    assert not fake.responses
