"""Issue 11 on Discord (real discord.py against FakeDiscord): the announcement's first line
names the incident, a raise pings whoever was not told yet, the reply names the channel,
and `/incident impact` and `resolve cause:` are native subcommand options."""

from __future__ import annotations

from typing import Any

from tests.e2e.discord.conftest import DiscordBot
from tests.fakes.discord import FakeDiscord, message_text


def first_line(msg: dict[str, Any]) -> str:
    return str(msg["content"]).split("\n")[0]


async def test_key_first_line_raise_mentions_impact_and_cause(
    fake: FakeDiscord, bot: DiscordBot
) -> None:
    rec = await fake.slash(
        "declare", {"title": "Checkout slow", "severity": "SEV3"}, channel="general"
    )
    await fake.wait_for(lambda: rec.callbacks)
    assert f"Announced in <#{fake.channel_id('incidents-low')}>" in rec.text()
    assert "incidents_low" not in rec.text()  # the channel, not the configuration key
    [ann] = await fake.wait_for(lambda: fake.messages_in("incidents-low"))
    bob, carol = fake.user_id("bob"), fake.user_id("carol")
    assert first_line(ann) == f"<@{bob}> [INC-1] INCIDENT DECLARED: Checkout slow"
    assert ann["embeds"][0]["title"] == "[INC-1] INCIDENT DECLARED: Checkout slow"

    rec = await fake.slash("sev", {"severity": "SEV1", "incident": "INC-1"}, channel="general")
    await fake.wait_for(lambda: rec.callbacks)
    raised = await fake.wait_for(
        lambda: next(
            (m for m in fake.messages_in("incidents") if "RECLASSIFIED" in message_text(m)), None
        )
    )
    # on-call is now paged (was only notified), the EM is new: both in the content
    assert first_line(raised) == (
        f"<@{bob}> <@{carol}> [INC-1] INCIDENT RECLASSIFIED: Checkout slow"
    )

    rec = await fake.slash("impact", {"text": "EU checkout times out", "incident": "INC-1"})
    await fake.wait_for(lambda: rec.callbacks)
    assert "Impact of INC-1 set by" in rec.text()
    rec = await fake.slash(
        "resolve", {"summary": "rolled back 4512", "cause": "a pool leak", "incident": "INC-1"}
    )
    await fake.wait_for(lambda: rec.callbacks)
    thread = next(iter(fake.threads()))
    draft = await fake.wait_for(
        lambda: next(
            (m for m in fake.messages_in(thread["id"]) if "[Resolved]" in message_text(m)), None
        )
    )
    assert "The root cause was a pool leak." in message_text(draft)
    inc = await bot.store.get(1)
    assert inc is not None and inc.description == "EU checkout times out"
