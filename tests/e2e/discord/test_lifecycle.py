"""A full incident lifecycle through real discord.py against FakeDiscord."""

from __future__ import annotations

from typing import Any

from bot.core.model import Severity, Status
from tests.e2e.discord.conftest import DiscordBot
from tests.fakes.discord import FakeDiscord, message_text

SEV1_RED = 0xD92D20
SEV2_ORANGE = 0xF79009


def embed(msg: dict[str, Any]) -> dict[str, Any]:
    assert msg["embeds"], f"expected an embed in {msg}"
    return dict(msg["embeds"][0])


async def declare(fake: FakeDiscord, title: str, severity: str = "SEV1") -> dict[str, Any]:
    """Declares from #general; returns the incident's thread once it is open."""
    rec = await fake.slash("declare", {"title": title, "severity": severity}, channel="general")
    await fake.wait_for(lambda: rec.callbacks)
    assert rec.ephemeral
    assert "declared" in rec.text()
    return await fake.wait_for(lambda: next(iter(fake.threads()), None))


async def test_lifecycle_declare_thread_update_resolve(fake: FakeDiscord, bot: DiscordBot) -> None:
    rec = await fake.slash(
        "declare", {"title": "Backend DB unreachable", "severity": "SEV1"}, channel="general"
    )
    await fake.wait_for(lambda: rec.callbacks)
    assert rec.response_type == 4 and rec.ephemeral
    assert rec.latency is not None and rec.latency < 3.0
    assert "INC-1 declared (SEV1)" in rec.text()

    # the announcement: an embed coloured by severity in #incidents, paging in the content
    thread = await fake.wait_for(lambda: next(iter(fake.threads()), None))
    [announcement] = fake.messages_in("incidents")
    assert embed(announcement)["title"] == "[INC-1] INCIDENT DECLARED: Backend DB unreachable"
    assert embed(announcement)["color"] == SEV1_RED
    fields = {f["name"]: f["value"] for f in embed(announcement)["fields"]}
    assert fields["Severity"] == "SEV1"
    assert f"<@{fake.user_id('bob')}>" in announcement["content"]  # on-call paged
    assert f"<@{fake.user_id('carol')}>" in announcement["content"]  # EM paged
    assert "INCIDENT DECLARED" in announcement["content"]  # plain-text fallback
    # the thread was opened from the announcement
    assert thread["id"] == announcement["id"]
    assert thread["parent_id"] == fake.channel_id("incidents")
    assert thread["name"] == "INC-1 Backend DB unreachable"
    # the one-liner in #ops
    [ops] = await fake.wait_for(lambda: fake.messages_in("ops"))
    assert ops["content"] == "[INCIDENT] SEV1 INC-1 - Backend DB unreachable. Investigating."
    assert not ops["embeds"]
    # checklist and probe output in the thread
    in_thread = await fake.wait_for(
        lambda: m if len(m := fake.messages_in(thread["id"])) >= 2 else None
    )
    texts = [message_text(m) for m in in_thread]
    assert any("5-MINUTE TRIAGE: INC-1" in t for t in texts)
    await fake.wait_for(
        lambda: any("discord-api" in message_text(m) for m in fake.messages_in(thread["id"]))
    )

    # severity, update and note, from the ops channel with an explicit id
    r = await fake.slash("sev", {"severity": "SEV2", "incident": "INC-1"})
    await fake.wait_for(lambda: r.callbacks)
    assert "SEV2" in r.text(), r.text()
    r = await fake.slash(
        "update", {"findings": "primary lost its disk", "actions": "failing over", "incident": "1"}
    )
    await fake.wait_for(lambda: r.callbacks)
    update_msg = await fake.wait_for(
        lambda: next(
            (m for m in fake.messages_in("incidents") if "INCIDENT UPDATE" in message_text(m)),
            None,
        )
    )
    assert embed(update_msg)["color"] == SEV2_ORANGE
    assert "primary lost its disk" in message_text(update_msg)
    r = await fake.slash("note", {"text": "replica promoted", "incident": "INC-1"})
    await fake.wait_for(lambda: r.callbacks)
    assert r.ephemeral

    r = await fake.slash("resolve", {"summary": "disk replaced", "incident": "INC-1"})
    await fake.wait_for(lambda: r.callbacks)
    await fake.wait_for(
        lambda: (
            any("INCIDENT RESOLVED" in message_text(m) for m in fake.messages_in(thread["id"]))
            or any("INCIDENT RESOLVED" in message_text(m) for m in fake.messages_in("incidents"))
        )
    )
    inc = await bot.store.get(1)
    assert inc is not None
    assert inc.status is Status.RESOLVED and inc.severity is Severity.SEV2
    kinds = [e.kind for e in await bot.store.timeline(1)]
    assert {"declared", "severity", "update", "note", "resolved"} <= set(kinds)
    assert fake.unknown_routes == []
    assert all(r.rejected == [] for r in fake.interactions.values())
