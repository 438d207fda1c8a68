"""SPEC §7 on Discord: nobody is mass-pinged by text they typed (through real discord.py).

FakeDiscord works out whom each message notified the way Discord does (content only, as
`allowed_mentions` permits); `tests.mention_audit` also finds any `@everyone`, `@here` or
`<@&role>` left undefused in content or embeds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.e2e.discord.conftest import DiscordBot
from tests.fakes.discord import FakeDiscord, message_text
from tests.mention_audit import discord_pinged, discord_raw_mass

ROLE = "777000777000777000"
MASS = f"@everyone @here <@&{ROLE}> <!here>"


def _bot_messages(fake: FakeDiscord) -> list[dict[str, Any]]:
    return [m for m in fake.messages.values() if m["author"]["id"] == fake.bot["id"]]


def _in(fake: FakeDiscord, channel: str, words: str) -> dict[str, Any] | None:
    return next((m for m in fake.messages_in(channel) if words in message_text(m)), None)


async def test_typed_mass_mentions_stay_text_and_only_the_bots_own_mentions_notify(
    fake: FakeDiscord, bot: DiscordBot
) -> None:
    alice, bob, carol, dave = (fake.user_id(n) for n in ("alice", "bob", "carol", "dave"))
    rec = await fake.slash(
        "declare", {"title": f"{MASS} <@{dave}> checkout down", "severity": "SEV1"}
    )
    await fake.wait_for(lambda: rec.callbacks)
    thread = await fake.wait_for(lambda: next(iter(fake.threads()), None))
    tid = thread["id"]
    ann = await fake.wait_for(lambda: _in(fake, "incidents", "INCIDENT DECLARED"))
    assert discord_pinged(ann) == {bob, carol}  # the paged contacts, nobody from the title
    assert discord_raw_mass(ann) == []
    assert "@\u200beveryone" in ann["content"] and f"<@\u200b{dave}>" in ann["content"]
    incidents = fake.channel_id("incidents")
    [post] = fake.calls_to("POST", rf"/channels/{incidents}/messages")  # the announcement
    allowed = post.body["allowed_mentions"]
    assert allowed["parse"] == [] and allowed["roles"] == []
    assert {str(u) for u in allowed["users"]} == {bob, carol, alice}  # alice: the IC in the embed

    ops = await fake.wait_for(lambda: _in(fake, "ops", "[INCIDENT]"))
    assert discord_pinged(ops) == set() and discord_raw_mass(ops) == []

    # A person named in a note or an update is notified by that message, once.
    note = await fake.slash(
        "note", {"text": f"<@{dave}> please check the pool {MASS}"}, channel=tid
    )
    await fake.wait_for(lambda: note.callbacks)
    noted = await fake.wait_for(lambda: _in(fake, tid, "Note from"))
    assert discord_pinged(noted) == {dave} and discord_raw_mass(noted) == []
    upd = await fake.slash("update", {"findings": f"<@{carol}> restarted it {MASS}"}, channel=tid)
    await fake.wait_for(lambda: upd.callbacks)
    updated = await fake.wait_for(lambda: _in(fake, "incidents", "INCIDENT UPDATE"))
    assert discord_pinged(updated) == {carol} and discord_raw_mass(updated) == []

    # The IC and roles go to a person only: a clear error, and nothing changes.
    for words in ("ic INC-1 @everyone", f"ic INC-1 <@&{ROLE}>", "role INC-1 scribe @here"):
        before = len(_bot_messages(fake))
        await fake.user_message(tid, f"{fake.mention_bot()} {words}")
        [answer] = await fake.wait_for(lambda: _bot_messages(fake)[before:])  # noqa: B023
        assert "is not a person" in message_text(answer), words
        assert discord_pinged(answer) == set()
    inc = await bot.store.get(1)
    assert inc is not None and inc.commander is not None
    assert inc.commander.id == alice and not inc.roles

    # The reminder repeats the title: it notifies the IC and nobody else.
    await bot.clock.advance(timedelta(minutes=16))
    rem = await fake.wait_for(lambda: _in(fake, tid, "UPDATE DUE"))
    assert discord_pinged(rem) == {alice} and discord_raw_mass(rem) == []

    everything = _bot_messages(fake)
    assert not [m for m in everything if discord_raw_mass(m)]
    assert not [m for m in everything if {"@everyone", f"&{ROLE}"} & discord_pinged(m)]
    assert sum(dave in discord_pinged(m) for m in everything) == 1  # the note, not the title
