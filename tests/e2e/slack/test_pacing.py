"""Slack's pace, for real: incidents declared together against a FakeSlack that allows one
chat.postMessage per channel per second (thread replies included) and answers 429 with
Retry-After beyond that, as Slack does.

These run on the system clock (the fake's limit is real time) with the production pacing
interval of 1 s, so each takes a few seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.clock import SystemClock
from tests.e2e.slack.conftest import SlackBot
from tests.fakes.slack import Call, FakeSlack, SlackMessage

ANNOUNCED = {"sev2": "C0INCIDENTS", "sev3": "C0INCLOW"}


@pytest.fixture
async def paced_bot(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[SlackBot]:
    b = SlackBot(fake, tmp_path / "bot.db", "http", SystemClock(), pace_interval=1.0)
    await b.start()
    yield b
    await b.stop()


def _announce(fake: FakeSlack, title: str) -> SlackMessage | None:
    return next(
        (m for c in ANNOUNCED.values() for m in fake.channel_messages(c) if title in m.text), None
    )


def _ops(fake: FakeSlack, title: str) -> SlackMessage | None:
    return next((m for m in fake.channel_messages("C0OPS") if title in m.text), None)


def _complete(fake: FakeSlack, title: str, replies: int = 2) -> bool:
    """Announcement, ops line, checklist and probe results (two thread replies) are in."""
    ann = _announce(fake, title)
    return bool(ann and _ops(fake, title) and len(fake.thread(ann.channel, ann.ts)) >= replies)


def _accepted(fake: FakeSlack, channel: str) -> list[Call]:
    return [
        c
        for c in fake.calls_to("chat.postMessage")
        if c.args.get("channel") == channel and c.status == 200
    ]


def _limited(fake: FakeSlack) -> list[Call]:
    return [c for c in fake.calls_to("chat.postMessage") if c.status == 429]


async def _declare_together(fake: FakeSlack, titles: list[str]) -> None:
    acks = await asyncio.gather(*(fake.slash_command(f"declare {t}") for t in titles))
    assert all(a.status == 200 for a in acks)


TITLES = [
    "Checkout errors sev2",
    "Login slow sev3",
    "Search stale sev2",
    "Report late sev3",
]


async def test_incidents_declared_together_are_paced_per_channel_in_order(
    paced_bot: SlackBot, fake: FakeSlack
) -> None:
    # 50 ms of leeway: posts cross loopback and a loaded event loop on their way to the
    # fake, and Slack itself allows short bursts; the spacing is asserted below anyway.
    fake.limit_channels(1.0, jitter=0.05)
    await _declare_together(fake, TITLES)
    names = [t.rsplit(" ", 1)[0] for t in TITLES]
    await fake.wait_for(lambda: all(_complete(fake, n) for n in names), within=40)

    assert _limited(fake) == []  # paced: not one 429
    for name, title in zip(names, TITLES, strict=True):
        ann, ops = _announce(fake, name), _ops(fake, name)
        assert ann is not None and ops is not None
        assert ann.channel == ANNOUNCED[title.rsplit(" ", 1)[1]]
        replies = fake.thread(ann.channel, ann.ts)
        # In the order the incident said them: announcement, ops line, checklist, probes.
        assert float(ann.ts) < float(ops.ts) < float(replies[0].ts) < float(replies[1].ts)
        assert replies[0].text.startswith("5-MINUTE TRIAGE")  # the checklist
        assert replies[1].text.startswith("PROBES")
    for channel in ("C0INCIDENTS", "C0INCLOW", "C0OPS"):
        at = [c.at for c in _accepted(fake, channel)]
        assert len(at) >= 4
        assert min(b - a for a, b in itertools.pairwise(at)) >= 0.95
    # Held back slots are not failures: nothing warned, nothing counted as failed.
    assert not [k for k in paced_bot.dispatcher.failures if k[0] == "slack"]
    # Waiting for a slot stays well inside the dispatcher's time limit for an attempt.
    limit = paced_bot.dispatcher.attempt_limit.total_seconds()
    assert 0 < paced_bot.adapter.pacer.max_wait <= limit / 4


async def test_without_pacing_the_same_burst_draws_429s(fake: FakeSlack, tmp_path: Path) -> None:
    """The control for the test above: the fake's limit bites when the bot does not pace."""
    bot = SlackBot(fake, tmp_path / "bot.db", "http", SystemClock(), pace_interval=0.0)
    await bot.start()
    try:
        fake.limit_channels(1.0)
        await _declare_together(fake, TITLES[:2])
        await fake.wait_for(lambda: len(_limited(fake)) >= 2, within=20)
    finally:
        await bot.stop()


async def test_a_429_on_one_channel_holds_only_that_channel(
    paced_bot: SlackBot, fake: FakeSlack
) -> None:
    fake.limit_channels(1.0)
    await fake.slash_command("declare Cache cold sev3")  # every channel has had a post
    await fake.wait_for(lambda: _complete(fake, "Cache cold"), within=10)
    fake.rate_limit("chat.postMessage", channel="C0INCIDENTS", retry_after=3)
    await fake.slash_command("declare Payments down sev2")
    first = await fake.wait_for(lambda: _limited(fake))
    held_from = first[0].at

    declared = time.monotonic()
    await _declare_together(fake, ["Docs typo sev3", "Queue backlog sev2"])
    # The other channels go on at once: the low-severity incident is fully announced
    # while #incidents is still held.
    await fake.wait_for(lambda: _ops(fake, "Docs typo"), within=10)
    low = _announce(fake, "Docs typo")
    assert low is not None and low.channel == "C0INCLOW"
    low_at = next(c.at for c in _accepted(fake, "C0INCLOW") if "Docs typo" in c.args["text"])
    assert low_at - declared < 2.0
    assert _announce(fake, "Payments down") is None

    await fake.wait_for(
        lambda: _complete(fake, "Payments down") and _complete(fake, "Queue backlog"), within=30
    )
    to_incidents = [
        c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == "C0INCIDENTS"
    ]
    # Nothing was sent to #incidents while Slack held it, and no 429 besides Slack's own.
    assert to_incidents[0].status == 429
    assert all(c.at >= held_from + 3 - 0.05 for c in to_incidents[1:])
    assert len(_limited(fake)) == 1
    assert paced_bot.adapter.pacer.rate_limited == 1  # the pacer saw it, not the client alone
    payments, ops = _announce(fake, "Payments down"), _ops(fake, "Payments down")
    assert payments is not None and ops is not None
    assert float(payments.ts) < float(ops.ts)  # its order kept across the hold
