"""Whole incidents through the real service, scheduler and dispatcher over a real SQLite
store, with a manual clock: a 15-minute reminder fires the instant the clock passes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.messages import NoticeKind
from bot.core.model import ChannelRef, Severity, Status, TimerKind
from tests.stack import ALICE, BOB, HERE, T0, Stack, make_stack

M = timedelta(minutes=1)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    s = await make_stack(tmp_path)
    yield s
    await s.aclose()


async def reminders(s: Stack) -> list[str]:
    return [t for t in s.notifier.texts(NoticeKind.THREAD) if "UPDATE DUE" in t]


async def test_declare_announces_pages_and_opens_the_thread(stack: Stack) -> None:
    reply = await stack.cmd('declare "Checkout API 500s" sev1')
    assert "INC-1 declared (SEV1)" in reply
    kinds = [(d.kind, d.channel) for d in stack.notifier.delivered]
    assert kinds[:3] == [
        (NoticeKind.ANNOUNCE, "incidents"),
        (NoticeKind.POST, "ops"),
        (NoticeKind.THREAD, ""),
    ]
    announce = stack.notifier.delivered[0].text
    for line in ("INCIDENT DECLARED: Checkout API 500s", "Severity: SEV1", "Commander: <@U_ALICE>",
                 "Status: Investigating", "Next update: 03:15 UTC"):  # fmt: skip
        assert line in announce
    assert "<@U_ONCALL> <@U_EM>" in announce  # SEV1 pages on-call and the EM, in the content
    assert (
        stack.notifier.delivered[1].text
        == "[INCIDENT] SEV1 INC-1 - Checkout API 500s. Investigating."
    )
    assert "5-MINUTE TRIAGE: INC-1" in stack.notifier.delivered[2].text
    inc = await stack.store.get(1)
    assert inc is not None and inc.thread == ChannelRef("test", "incidents", "thread-INC-1")


async def test_reminder_cadence_update_severity_snooze_and_resolve(stack: Stack) -> None:
    await stack.cmd('declare "DB slow" sev3')
    await stack.advance(119 * M)
    assert await reminders(stack) == []
    await stack.advance(1 * M)  # SEV3: 2 h after declaring
    [first] = await reminders(stack)
    assert "<@U_ALICE>" in first and "INCIDENT UPDATE: DB slow" in first  # pre-filled template

    await stack.cmd("update replica lag 40s ; failing over")  # resets the clock
    await stack.advance(119 * M)
    assert len(await reminders(stack)) == 1
    await stack.cmd("sev sev1")  # re-timed at once: last update + 15 min is already past
    assert len(await reminders(stack)) == 2
    [moved] = [d for d in stack.notifier.delivered if d.channel == "incidents"]
    assert moved.kind is NoticeKind.POST  # re-announced where SEV1s live, thread unchanged
    assert "INCIDENT RECLASSIFIED: DB slow\nSeverity: SEV1 (was SEV3)" in moved.text

    await stack.cmd("snooze 45m")
    await stack.advance(44 * M)
    assert len(await reminders(stack)) == 2
    await stack.advance(1 * M)
    assert len(await reminders(stack)) == 3

    await stack.cmd("resolve replica rebuilt")
    await stack.advance(timedelta(hours=6))
    assert len(await reminders(stack)) == 3  # resolve stopped them


async def test_two_missed_updates_and_thirty_minutes_escalate(stack: Stack) -> None:
    await stack.cmd("declare Payments down p1")
    await stack.advance(15 * M)
    assert stack.notifier.count("ESCALATION") == 0
    await stack.advance(15 * M)  # second missed update, and 30 min open at SEV1
    escalations = [t for t in stack.notifier.texts() if "ESCALATION: INC-1" in t]
    assert len(escalations) == 1, escalations  # one escalation, not two for the same moment
    assert "<@U_EM>" in escalations[0]
    inc = await stack.store.get(1)
    assert inc is not None and inc.escalation_level == 1


async def test_postmortem_reminders_until_attached(stack: Stack) -> None:
    await stack.cmd("declare Data loss sev1")
    await stack.cmd("resolve restored from backup")
    await stack.advance(timedelta(hours=47))
    assert stack.notifier.count("POST-MORTEM DUE") == 0
    await stack.advance(timedelta(hours=1))
    assert stack.notifier.count("POST-MORTEM DUE") == 1
    await stack.advance(timedelta(hours=24))
    assert stack.notifier.count("POST-MORTEM DUE") == 2
    await stack.cmd("postmortem INC-1")  # a draft does not count as attached
    assert stack.notifier.count("POST-MORTEM DRAFT: INC-1") == 1
    await stack.cmd("postmortem INC-1 https://wiki.example/pm/1")
    await stack.advance(timedelta(days=3))
    assert stack.notifier.count("POST-MORTEM DUE") == 2


async def test_only_responders_change_things_and_refusals_change_nothing(stack: Stack) -> None:
    await stack.cmd("declare Login broken sev2")
    refused = await stack.cmd("sev sev1", actor=BOB)
    assert "Only INC-1's responders may do that (IC alice)" in refused
    inc = await stack.store.get(1)
    assert inc is not None and inc.severity is Severity.SEV2
    assert "Noted" in await stack.cmd("note seen in eu-west too", actor=BOB)  # anyone may note
    await stack.cmd("role scribe <@U_BOB|bob>")
    assert "SEV2 → SEV1" in await stack.cmd("sev sev1", actor=BOB)


async def test_clear_errors_for_unknown_incident_and_wrong_state(stack: Stack) -> None:
    assert "INC-42 does not exist" in await stack.cmd("resolve INC-42")
    await stack.cmd("declare A sev3")
    await stack.cmd("resolve")
    before = await stack.store.get(1)
    assert "already resolved" in await stack.cmd("resolve INC-1")
    assert await stack.store.get(1) == before


async def test_ambiguous_implicit_incident_asks_which(stack: Stack) -> None:
    await stack.cmd("declare First sev3")
    await stack.cmd("declare Second sev3")
    answer = await stack.cmd("note hello")
    assert "Which incident?" in answer and "INC-1" in answer and "INC-2" in answer
    thread = ChannelRef("test", "incidents_low", "thread-INC-2")
    assert "INC-2 timeline" in await stack.cmd("note from the thread", where=thread)


async def test_private_incident_stays_out_of_public_channels(stack: Stack) -> None:
    await stack.cmd('declare "Suspicious logins" sev2 --tag security')
    channels = {d.channel for d in stack.notifier.delivered if d.kind is not NoticeKind.THREAD}
    assert channels == {"security"}
    assert stack.notifier.count("<@U_SEC>") >= 1


async def test_failed_delivery_is_retried_not_dropped(stack: Stack) -> None:
    stack.notifier.fail_next = 2
    stack.notifier.retry_after = 7
    await stack.cmd("declare Flaky platform sev3")
    assert stack.notifier.delivered == []
    await stack.advance(7 * M)
    await stack.advance(7 * M)
    assert stack.notifier.texts()[0].startswith(
        "<@U_ONCALL>\n[INC-1] INCIDENT DECLARED: Flaky platform"
    )


async def test_restart_loses_and_repeats_no_reminder(tmp_path: Path) -> None:
    first = await make_stack(tmp_path)
    await first.cmd("declare Queue stuck sev1")
    await first.advance(15 * M)
    assert len(await reminders(first)) == 1
    await first.aclose()

    second = await make_stack(tmp_path)  # a new process over the same database
    await second.clock.set(T0 + 16 * M)
    await second.settle()
    assert await reminders(second) == []  # the 15-minute reminder is not repeated
    await second.advance(14 * M)
    assert len(await reminders(second)) == 1  # and the 30-minute one is not lost
    inc = await second.store.get(1)
    assert inc is not None and inc.status is Status.INVESTIGATING
    await second.aclose()


async def test_pin_adds_message_with_its_own_time(stack: Stack) -> None:
    await stack.cmd("declare Pinned sev3")
    thread = ChannelRef("test", "incidents_low", "thread-INC-1")
    reply = await stack.service.pin(thread, "error rate 40%", T0 - 5 * M, BOB, ALICE)
    assert reply is not None and "timeline" in (reply.message.text() if reply.message else "")
    entries = await stack.store.timeline(1)
    assert any(
        e.kind == "pin" and e.at == T0 - 5 * M and "bob: error rate" in e.text for e in entries
    )
    assert await stack.service.pin(HERE, "x", T0, BOB, ALICE) is None


async def test_a_message_pinned_twice_lands_once_even_across_a_restart(tmp_path: Path) -> None:
    first = await make_stack(tmp_path)
    await first.cmd("declare Pinned twice sev3")
    thread = ChannelRef("test", "incidents_low", "thread-INC-1")
    await first.service.pin(thread, "p99 at 4 s", T0, BOB, ALICE, message_id="m-1")
    await first.aclose()
    second = await make_stack(tmp_path)
    again = await second.service.pin(thread, "p99 at 4 s", T0, BOB, BOB, message_id="m-1")
    assert again is not None and again.message is not None
    assert "Already in the INC-1 timeline" in again.message.text()
    await second.service.pin(thread, "error rate 40%", T0, BOB, BOB, message_id="m-2")
    pins = [e.text for e in await second.store.timeline(1) if e.kind == "pin"]
    assert pins == ["bob: p99 at 4 s", "bob: error rate 40%"]
    await second.aclose()


async def test_redelivered_request_acts_once(stack: Stack) -> None:
    r1 = await stack.service.handle_text("declare Once sev3", ALICE, HERE, request_id="req-1")
    r2 = await stack.service.handle_text("declare Once sev3", ALICE, HERE, request_id="req-1")
    assert r1.ok and r2.message is not None and "Already handled" in r2.message.text()
    assert len(await stack.store.list_incidents()) == 1


async def test_timers_live_in_the_store(stack: Stack) -> None:
    await stack.cmd("declare Durable sev1")
    assert await stack.store.next_due_at() == T0 + 15 * M
    claimed = await stack.store.claim_due(T0 + 15 * M, "other", timedelta(seconds=15), 10)
    assert {t.kind for t in claimed} == {TimerKind.REMINDER}
