"""Command options, thread context, mentions, pins, autocomplete and idempotency."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from structlog.testing import capture_logs

from bot.core.clock import ManualClock
from tests.e2e.discord.conftest import DiscordBot, eventually
from tests.e2e.discord.test_lifecycle import declare
from tests.fakes.discord import FakeDiscord, message_text


async def test_bad_option_values_get_clear_ephemeral_errors(
    fake: FakeDiscord, bot: DiscordBot
) -> None:
    cases = [
        ("note", {"text": "x", "incident": "banana"}, "Expected an incident id like INC-3"),
        ("snooze", {"duration": "forever"}, "expected a duration like 30s"),
        ("declare", {"title": "db down", "severity": "SEV9"}, "expected SEV1, SEV2, SEV3, SEV4"),
        ("status", {"status": "exploding"}, "expected investigating, identified"),
        ("note", {"text": "orphan note"}, "no open incident"),
    ]
    for sub, options, expected in cases:
        rec = await fake.slash(sub, options)
        await fake.wait_for(lambda rec=rec: rec.callbacks)  # type: ignore[misc]  # mypy cannot infer it
        assert rec.ephemeral, sub
        assert expected in rec.text(), (sub, rec.text())
        assert "Traceback" not in rec.text()
    assert await bot.store.list_incidents() == []
    assert fake.messages_in("incidents") == [] and fake.messages_in("ops") == []


async def test_command_in_thread_acts_on_its_incident(fake: FakeDiscord, bot: DiscordBot) -> None:
    await declare(fake, "Checkout errors", "SEV3")
    await declare(fake, "Search slow", "SEV4")  # two open incidents: an id would be needed
    thread = await fake.wait_for(
        lambda: next((t for t in fake.threads() if t["name"].startswith("INC-1")), None)
    )
    rec = await fake.slash("note", {"text": "error rate 12%"}, channel=thread["id"])
    await fake.wait_for(lambda: rec.callbacks)
    assert rec.ephemeral and "Which incident" not in rec.text()
    assert any(e.text == "error rate 12%" for e in await bot.store.timeline(1))
    assert all("error rate" not in e.text for e in await bot.store.timeline(2))
    # outside the thread, with two incidents open, the bot asks which
    rec = await fake.slash("note", {"text": "where does this go"}, channel="ops")
    await fake.wait_for(lambda: rec.callbacks)
    assert "Which incident?" in rec.text() and "INC-1" in rec.text() and "INC-2" in rec.text()


async def test_mention_and_pin_in_thread(fake: FakeDiscord, bot: DiscordBot) -> None:
    thread = await declare(fake, "Queue backlog", "SEV3")
    tid = thread["id"]
    await fake.user_message(tid, f"{fake.mention_bot()} note consumers restarted", user="bob")
    await fake.wait_for(
        lambda: (
            any(
                m["author"]["id"] == fake.bot["id"] and "Note" in message_text(m)
                for m in fake.messages_in(tid)
            )
            or None
        )
    )
    notes = [e for e in await bot.store.timeline(1) if e.kind == "note"]
    assert [n.text for n in notes] == ["consumers restarted"]
    assert notes[0].actor is not None and notes[0].actor.id == fake.user_id("bob")

    said = await fake.user_message(tid, "lag peaked at 40k messages", user="carol")
    await fake.react(said["id"], "📌", user="alice")
    await fake.wait_for(
        lambda: fake.calls_to("PUT", rf"/channels/{tid}/messages/{said['id']}/reactions/.+/@me")
    )
    [pin] = [e for e in await bot.store.timeline(1) if e.kind == "pin"]
    assert "lag peaked at 40k messages" in pin.text
    assert pin.at == datetime.fromisoformat(said["timestamp"])  # the message's own time
    # a pin outside an incident thread does nothing
    other = await fake.user_message("general", "unrelated", user="carol")
    await fake.react(other["id"], "📌", user="alice")
    await fake.react(said["id"], "👍", user="alice")
    # the bot read the pinned message (seen at the fake), then its work drained
    await fake.wait_for(
        lambda: fake.calls_to("GET", rf"/channels/{other['channel_id']}/messages/{other['id']}")
    )
    await bot.adapter.idle()
    assert len([e for e in await bot.store.timeline(1) if e.kind == "pin"]) == 1


async def test_incident_autocomplete(fake: FakeDiscord, bot: DiscordBot) -> None:
    await declare(fake, "Login failures", "SEV2")
    rec = await fake.slash("sev", {"incident": "login"}, focused="incident")
    await fake.wait_for(lambda: rec.callbacks)
    assert rec.response_type == 8
    assert rec.choices == [{"name": "INC-1 · SEV2 · Login failures", "value": "INC-1"}]
    rec = await fake.slash("sev", {"incident": "zzz"}, focused="incident")
    await fake.wait_for(lambda: rec.callbacks)
    assert rec.choices == []


async def test_same_interaction_twice_acts_once(fake: FakeDiscord, bot: DiscordBot) -> None:
    rec = await fake.slash("declare", {"title": "Cache stampede", "severity": "SEV3"})
    await fake.wait_for(lambda: rec.callbacks)
    await fake.wait_for(lambda: fake.threads())
    with capture_logs() as logs:
        await fake.redeliver(rec)
        await eventually(lambda: [e for e in logs if e["event"] == "discord.duplicate"])
    # a later command is answered normally: the duplicate did not wedge anything
    after = await fake.slash("list", {})
    await fake.wait_for(lambda: after.callbacks)
    assert len(await bot.store.list_incidents()) == 1
    assert len(fake.messages_in("incidents-low")) == 1
    assert len(rec.callbacks) == 1 and rec.rejected == []


async def test_slow_work_is_deferred_then_answered(
    fake: FakeDiscord, tmp_path: Path, clock: ManualClock
) -> None:
    """With `defer_after=0` every command takes the slow path: a type-5 "thinking" answer
    within Discord's 3 s, then the reply edited into the original response."""
    slow = DiscordBot(fake, tmp_path / "slow.db", clock, defer_after=0.0)
    await slow.start()
    try:
        rec = await fake.slash("declare", {"title": "Deferred declare", "severity": "SEV4"})
        await fake.wait_for(lambda: rec.original and "declared" in message_text(rec.original))
        assert rec.response_type == 5 and rec.ephemeral
        assert rec.latency is not None and rec.latency < 3.0
        assert rec.rejected == []
        assert "INC-1 declared (SEV4)" in rec.text()
    finally:
        await slow.stop()
