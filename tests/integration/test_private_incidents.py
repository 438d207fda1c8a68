"""SPEC §7 "private means private", through the real service, scheduler and dispatcher over
real SQLite (and PostgreSQL for the store-dependent paths), with a manual clock."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import BotConfig, PlatformConfig
from bot.core.messages import NoticeKind
from bot.core.model import Actor, ChannelRef
from tests.conftest import TEST_DATABASE_URL, require_service
from tests.pgschema import fresh_schema
from tests.stack import ALICE, BOB, HERE, Stack, make_stack

M = timedelta(minutes=1)
MALLORY = Actor("U_MALLORY", "mallory")  # neither a responder nor a security contact
SEC = Actor("U_SEC", "sec")  # the configured security contact
GENERAL = ChannelRef("test", "C_GENERAL")
SECURITY = ChannelRef("test", "security")  # the configured security channel's id
THREAD = ChannelRef("test", "security", "thread-INC-1")  # the private incident's thread
SECRET = "Leaked AWS keys in repo"
CONTACTS = {"oncall": ["U_ONCALL"], "engineering_manager": ["U_EM"], "security": ["U_SEC"]}


@pytest.fixture(params=["sqlite", "postgres"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    async with contextlib.AsyncExitStack() as scope:
        url = None
        if request.param == "postgres":
            pg = require_service(TEST_DATABASE_URL, 5432, "PostgreSQL")
            url = await scope.enter_async_context(fresh_schema(pg))
        s = await make_stack(tmp_path, store_url=url)
        yield s
        await s.aclose()


async def _private_and_public(stack: Stack) -> None:
    await stack.cmd(f'declare "{SECRET}" sev1 --private', where=SECURITY)  # INC-1, ALICE is IC
    await stack.cmd('declare "Checkout slow" sev3')  # INC-2, public


async def test_list_counts_a_private_incident_without_showing_it(stack: Stack) -> None:
    await _private_and_public(stack)
    outsider = await stack.cmd("list", actor=MALLORY, where=GENERAL)
    assert SECRET not in outsider
    assert outsider.startswith("2 open incidents (1 private), newest first")
    assert "INC-2  SEV3" in outsider and "Checkout slow" in outsider
    assert "+ 1 private incident, shown only in the security channel" in outsider
    # Shown in the security channel, in its thread, and privately to the IC / contacts.
    for actor, where in ((MALLORY, SECURITY), (MALLORY, THREAD), (ALICE, GENERAL), (SEC, HERE)):
        assert SECRET in await stack.cmd("list", actor=actor, where=where), (actor, where)


async def test_timeline_of_a_private_incident_is_refused_to_outsiders(stack: Stack) -> None:
    await _private_and_public(stack)
    await stack.cmd("note attacker IP 203.0.113.9", where=THREAD)
    refused = await stack.cmd("timeline INC-1", actor=MALLORY, where=GENERAL)
    assert "INC-1 is a private incident" in refused
    assert SECRET not in refused and "203.0.113.9" not in refused
    for cmd in ("note INC-1 hi", "probe INC-1", "postmortem INC-1", "sev INC-1 sev2"):
        answer = await stack.cmd(cmd, actor=MALLORY, where=GENERAL)
        assert "INC-1 is a private incident" in answer and SECRET not in answer, cmd
    assert "203.0.113.9" in await stack.cmd("timeline", actor=MALLORY, where=THREAD)
    assert SECRET in await stack.cmd("timeline INC-1", actor=ALICE, where=GENERAL)  # its IC


async def test_which_incident_prompt_never_names_a_private_one(stack: Stack) -> None:
    await _private_and_public(stack)
    await stack.cmd('declare "Search down" sev3')  # INC-3: two public ones, so it asks
    answer = await stack.cmd("note who has context?", actor=MALLORY, where=GENERAL)
    assert "Which incident?" in answer and "INC-2" in answer and "INC-3" in answer
    assert SECRET not in answer and "INC-1" not in answer
    assert "(1 private incident not shown)" in answer
    # Declared from a public channel, a private incident is not "the one here" for others.
    await stack.cmd(f'declare "{SECRET} too" --private', where=GENERAL)  # INC-4
    answer = await stack.cmd("timeline", actor=MALLORY, where=GENERAL)
    assert "Which incident?" in answer and "(2 private incidents not shown)" in answer
    assert SECRET not in answer and "INC-4" not in answer
    assert f"Timeline of INC-4: {SECRET} too" in await stack.cmd("timeline", where=GENERAL)


async def test_post_update_button_of_a_private_incident_is_refused_to_outsiders(
    stack: Stack,
) -> None:
    await _private_and_public(stack)
    reply = await stack.service.press("post_update", "INC-1", MALLORY, GENERAL)
    assert not reply.ok and reply.modal is None
    assert reply.message is not None and SECRET not in reply.message.text()
    own = await stack.service.press("post_update", "INC-1", ALICE, THREAD)
    assert own.modal is not None and own.modal.prefill["title"] == SECRET


async def test_a_reply_the_whole_channel_reads_hides_it_even_from_its_ic(stack: Stack) -> None:
    await _private_and_public(stack)
    shared = await stack.service.handle_text("timeline INC-1", ALICE, GENERAL, alone=False)
    assert not shared.ok and shared.message is not None
    assert SECRET not in shared.message.text()
    declared = await stack.service.handle_text(
        f'declare "{SECRET} again" --private', ALICE, GENERAL, alone=False
    )
    assert declared.ok and declared.message is not None
    assert "INC-3 declared (SEV3), private. Announced in the security channel" in (
        declared.message.text()
    )
    assert SECRET not in declared.message.text()


async def test_reminders_escalations_and_resolve_stay_in_the_security_channel(
    stack: Stack,
) -> None:
    await stack.cmd(f'declare "{SECRET}" sev1 --private', where=SECURITY)
    await stack.cmd("update rotating keys", where=THREAD)
    await stack.advance(60 * M)  # reminders, missed updates and the 30-minute escalation
    await stack.cmd("resolve keys rotated", where=THREAD)
    await stack.advance(timedelta(hours=49))  # the post-mortem reminder
    texts = stack.notifier.texts()
    assert any("UPDATE DUE" in t for t in texts) and any("ESCALATION" in t for t in texts)
    assert any("POST-MORTEM DUE" in t for t in texts)
    for d in stack.notifier.delivered:  # every chat notice: security channel or its thread
        assert d.kind is NoticeKind.THREAD or d.channel == "security", d


async def test_private_declare_without_a_security_channel_is_refused(tmp_path: Path) -> None:
    channels = {"incidents": "C_INC", "incidents_low": "C_LOW", "ops": "C_OPS"}
    stack = await make_stack(tmp_path, BotConfig(channels=channels, contacts=CONTACTS))
    try:
        for text in (f'declare "{SECRET}" sev1 --private', f'declare "{SECRET}" --tag security'):
            answer = await stack.cmd(text)
            assert "No security channel is configured" in answer and "Nothing was created" in (
                answer
            )
        assert await stack.store.list_incidents(open_only=False) == []
        assert stack.notifier.delivered == []  # nothing announced, least of all in public
        assert "INC-1 declared" in await stack.cmd("declare Public one sev3")  # others still work
    finally:
        await stack.aclose()


async def test_security_channel_of_one_platform_only(tmp_path: Path) -> None:
    channels = {"incidents": "C_INC", "incidents_low": "C_LOW", "ops": "C_OPS"}
    config = BotConfig(
        channels=channels,
        contacts=CONTACTS,
        platforms={"slack": PlatformConfig(channels={"security": "C_SEC"})},
    )
    assert config.channels_for("slack")["security"] == "C_SEC"
    assert "security" not in config.channels_for("discord")  # no fallback to #incidents
    assert config.warnings(["slack"]) == []
    [warning] = config.warnings(["slack", "discord"])
    assert "channels.security is not set (discord)" in warning
    policy = config.policy()
    assert policy.security_channel("slack") == "C_SEC"
    assert policy.security_channel("discord") is None
    assert BOB.id not in policy.security_contacts() and "U_SEC" in policy.security_contacts()
