"""Private incidents through real discord.py against FakeDiscord (SPEC §7): lists, timelines,
autocomplete and mention answers (posted for the whole channel) never show them to others."""

from __future__ import annotations

from tests.e2e.discord.conftest import DiscordBot
from tests.fakes.discord import FakeDiscord, message_text

SECRET = "Leaked AWS keys in repo"


async def _private_and_public(fake: FakeDiscord) -> None:
    rec = await fake.slash(
        "declare", {"title": SECRET, "severity": "SEV1", "private": True}, channel="security"
    )
    await fake.wait_for(lambda: rec.callbacks)
    assert rec.ephemeral and SECRET in rec.text()
    await fake.wait_for(lambda: next(iter(fake.threads()), None))
    rec = await fake.slash("declare", {"title": "Checkout slow", "severity": "SEV3"})
    await fake.wait_for(lambda: rec.callbacks)


async def test_outsiders_see_a_count_not_the_incident(fake: FakeDiscord, bot: DiscordBot) -> None:
    await _private_and_public(fake)
    listing = await fake.slash("list", {}, user="dave", channel="general")
    await fake.wait_for(lambda: listing.callbacks)
    assert "2 open incidents (1 private)" in listing.text() and SECRET not in listing.text()

    timeline = await fake.slash("timeline", {"incident": "INC-1"}, user="dave", channel="general")
    await fake.wait_for(lambda: timeline.callbacks)
    assert "INC-1 is a private incident" in timeline.text() and SECRET not in timeline.text()

    picker = await fake.slash("note", {"incident": ""}, user="dave", focused="incident")
    await fake.wait_for(lambda: picker.callbacks)
    assert [c["value"] for c in picker.choices] == ["INC-2"]  # no private title suggested
    own = await fake.slash("note", {"incident": "leak"}, user="alice", focused="incident")
    await fake.wait_for(lambda: own.callbacks)
    assert own.choices == [{"name": f"INC-1 · SEV1 · {SECRET}", "value": "INC-1"}]

    sev1 = await fake.slash("list", {"severity": "SEV1"}, user="alice", channel="general")
    await fake.wait_for(lambda: sev1.callbacks)
    assert sev1.ephemeral and "1 open SEV1 incident (1 private)" in sev1.text()
    assert SECRET in sev1.text()  # its IC, privately


async def test_a_mention_answer_in_public_hides_it_even_from_its_ic(
    fake: FakeDiscord, bot: DiscordBot
) -> None:
    await _private_and_public(fake)
    await fake.user_message("general", f"{fake.mention_bot()} timeline INC-1", user="alice")
    answer = await fake.wait_for(
        lambda: next(
            (m for m in fake.messages_in("general") if m["author"]["id"] == fake.bot["id"]), None
        )
    )
    assert "INC-1 is a private incident" in message_text(answer)
    assert SECRET not in message_text(answer)
    # In the incident's own thread the same mention shows it.
    thread = next(t for t in fake.threads() if t["name"].startswith("INC-1"))
    await fake.user_message(thread["id"], f"{fake.mention_bot()} timeline", user="dave")
    shown = await fake.wait_for(
        lambda: next(
            (
                m
                for m in fake.messages_in(thread["id"])
                if m["author"]["id"] == fake.bot["id"] and "Timeline of INC-1" in message_text(m)
            ),
            None,
        )
    )
    assert SECRET in message_text(shown)
