"""Private incidents and long lists through real slack-bolt against FakeSlack (SPEC §7)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.clock import ManualClock
from bot.core.model import Actor, Incident, Severity, Status
from bot.core.records import Change
from tests.e2e.slack import conftest
from tests.e2e.slack.conftest import SlackBot
from tests.fakes.slack import FakeSlack, UrlResponse

SECRET = "Leaked AWS keys in repo"


async def _answer(fake: FakeSlack, text: str, *, user: str, channel: str) -> UrlResponse:
    """Types `/incident <text>` and returns the bot's answer to that request."""
    ack = await fake.slash_command(text, user=user, channel=channel)
    assert ack.status == 200
    url = ack.response_url
    return await fake.wait_for(
        lambda: next((r for r in fake.responses if f"/{r.url_id}/" in url), None)
    )


async def test_private_incident_is_not_shown_to_outsiders(
    http_bot: SlackBot, fake: FakeSlack
) -> None:
    declared = await _answer(
        fake, f'declare "{SECRET}" sev1 --private', user="U0ALICE", channel="C0SECURITY"
    )
    assert declared.ephemeral and SECRET in declared.text
    await fake.wait_for(lambda: fake.channel_messages("C0SECURITY"))
    await _answer(fake, "declare Checkout slow sev3", user="U0ALICE", channel="C0INCIDENTS")

    listing = await _answer(fake, "list", user="U0MALLORY", channel="C0GENERAL")
    assert "2 open incidents (1 private)" in listing.text
    assert "Checkout slow" in listing.text
    assert SECRET not in json.dumps(listing.body)  # neither in `text` nor in the blocks

    timeline = await _answer(fake, "timeline INC-1", user="U0MALLORY", channel="C0GENERAL")
    assert "INC-1 is a private incident" in timeline.text
    assert SECRET not in json.dumps(timeline.body)

    which = await _answer(fake, "note anyone?", user="U0MALLORY", channel="C0GENERAL")
    assert "Which incident?" in which.text and "(1 private incident not shown)" in which.text
    assert SECRET not in json.dumps(which.body)

    # Its IC sees it anywhere, privately; and anyone in the security channel sees it there.
    own = await _answer(fake, "timeline INC-1", user="U0ALICE", channel="C0GENERAL")
    assert own.ephemeral and f"Timeline of INC-1: {SECRET}" in own.text
    there = await _answer(fake, "list", user="U0MALLORY", channel="C0SECURITY")
    assert SECRET in there.text

    await http_bot.adapter.idle()
    for m in fake.messages:  # what the bot posted: the security channel only
        if SECRET in json.dumps(m.to_api()):
            assert m.channel == "C0SECURITY", m


@pytest.fixture
async def bot_without_security(
    fake: FakeSlack, tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SlackBot]:
    channels = {k: v for k, v in conftest.CHANNELS.items() if k != "security"}
    monkeypatch.setattr(conftest, "CHANNELS", channels)
    b = SlackBot(fake, tmp_path / "bot.db", "http", clock)
    await b.start()
    yield b
    await b.stop()


async def test_private_without_a_security_channel_is_refused(
    bot_without_security: SlackBot, fake: FakeSlack
) -> None:
    answer = await _answer(
        fake, f'declare "{SECRET}" sev1 --private', user="U0ALICE", channel="C0INCIDENTS"
    )
    assert answer.ephemeral and "No security channel is configured" in answer.text
    await bot_without_security.adapter.idle()
    assert await bot_without_security.store.list_incidents(open_only=False) == []
    assert fake.calls_to("chat.postMessage") == []  # nothing announced, anywhere


async def test_a_long_list_pages_within_slack_limits(http_bot: SlackBot, fake: FakeSlack) -> None:
    for i in range(1, 241):
        await http_bot.store.create(
            Incident(
                number=0,
                title=f"{'W' * 190} {i}",
                severity=Severity.SEV2 if i % 2 else Severity.SEV4,
                status=Status.INVESTIGATING,
                platform="slack",
                declared_at=http_bot.clock.now(),
                declared_by=Actor("U0ALICE"),
            ),
            Change(),
        )
    first = await _answer(fake, "list", user="U0ALICE", channel="C0INCIDENTS")
    assert first.text.startswith("240 open incidents · page 1 of 12, newest first\n")
    assert "More: /incident list --page 2" in first.text
    second = await _answer(fake, "list sev4 --page 2", user="U0ALICE", channel="C0INCIDENTS")
    assert "120 open SEV4 incidents · page 2 of 6" in second.text
    for answer in (first, second):
        blocks = answer.body["blocks"]
        assert len(blocks) <= 50
        for b in blocks:
            assert len(b.get("text", {}).get("text", "")) <= 3000
        assert sum(line.startswith("INC-") for line in answer.text.splitlines()) == 20
