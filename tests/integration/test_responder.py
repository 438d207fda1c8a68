"""Issue 11, "the responder's 3 a.m.": what a new on-call engineer found on main, through the
real service, scheduler and dispatcher over real SQLite and PostgreSQL stores with a manual
clock (no sleeping: a reminder fires the instant the clock passes it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.config import BotConfig
from bot.core.messages import NoticeKind
from bot.core.model import Severity
from bot.paging.config import build_pagers, parse_pagers
from tests.fakes.paging_services import FakePagerDuty
from tests.stack import Stack, make_stack

M = timedelta(minutes=1)
H = timedelta(hours=1)
CONTACTS = {"oncall": ["U_ONCALL"], "engineering_manager": ["U_EM"], "security": ["U_SEC"]}


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_schema_url"))
    return f"sqlite:///{tmp_path / 'bot.sqlite3'}"


@pytest.fixture
async def stack(tmp_path: Path, store_url: str) -> AsyncIterator[Stack]:
    s = await make_stack(tmp_path, store_url=store_url)
    yield s
    await s.aclose()


def posts(s: Stack, words: str) -> list[str]:
    """Top-level channel messages (announcements and posts) containing `words`."""
    return [
        d.text for d in s.notifier.delivered if d.kind is not NoticeKind.THREAD and words in d.text
    ]


async def walk(s: Stack, total: timedelta, step: timedelta = 15 * M) -> None:
    """Advances the clock in `step`s, so every reminder on the way fires at its time."""
    while total > timedelta(0):
        await s.advance(min(step, total))
        total -= step


def title_line(text: str) -> str:
    """The template's first line (the recording notifier puts mentions on a line above)."""
    lines = text.split("\n")
    return lines[1] if lines[0].startswith("<@") else lines[0]


# ------------------------------------------------------------------ 1. the key in the title


async def test_channel_messages_name_the_incident_in_their_first_line(stack: Stack) -> None:
    await stack.cmd('declare "Checkout API 500s" sev1')
    await stack.cmd("update pool exhausted ; failing over")
    await stack.cmd("sev sev3")
    await stack.cmd("resolve rolled back 4512")
    firsts = [title_line(d.text) for d in stack.notifier.delivered if d.channel != "ops"]
    for head in ("[INC-1] INCIDENT DECLARED: Checkout API 500s",
                 "[INC-1] INCIDENT UPDATE: Checkout API 500s",
                 "[INC-1] INCIDENT RECLASSIFIED: Checkout API 500s",
                 "[INC-1] INCIDENT RESOLVED: Checkout API 500s"):  # fmt: skip
        assert head in firsts, firsts


# ------------------------------------------------------------------ 2. raising alerts people


async def test_raising_the_severity_tells_and_pages_only_who_was_not_told(
    tmp_path: Path, store_url: str
) -> None:
    pd = await FakePagerDuty({"RK-1"}).start()
    config = BotConfig.model_validate(
        {
            "contacts": CONTACTS,
            "severities": {"SEV1": {"pagers": ["pagerduty"]}},
            "pagers": {"pagerduty": {"kind": "pagerduty", "routing_key": "RK-1", "url": pd.url,
                                     "retries": 0}},
        }
    )  # fmt: skip
    async with httpx.AsyncClient() as client:
        pagers = build_pagers(parse_pagers(config.pagers), client)
        s = await make_stack(tmp_path, config, store_url=store_url, pagers=pagers)
        try:
            await s.cmd("declare Checkout slow p3")  # SEV3: on-call notified in chat only
            [declared] = posts(s, "INCIDENT DECLARED")
            assert declared.startswith("<@U_ONCALL>\n") and "<@U_EM>" not in declared
            assert pd.alerts == {}

            reply = await s.cmd("sev INC-1 sev1")  # SEV1 pages on-call and the EM
            [raised] = posts(s, "INCIDENT RECLASSIFIED")
            assert raised.startswith("<@U_ONCALL> <@U_EM>\n[INC-1] INCIDENT RECLASSIFIED")
            assert "Notifying oncall, engineering_manager" in reply
            assert pd.alerts[("RK-1", "INC-1:pagerduty")]["status"] == "triggered"
            assert len(pd.requests) == 1

            await s.cmd("sev INC-1 sev3")  # a lowering says so quietly
            lowered = posts(s, "INCIDENT RECLASSIFIED")[1]
            assert lowered.startswith("[INC-1]") and "Severity: SEV3 (was SEV1)" in lowered

            await s.cmd("sev INC-1 sev1")  # everyone was told already: nobody is pinged again
            again = posts(s, "INCIDENT RECLASSIFIED")[2]
            assert again.startswith("[INC-1]") and "Severity: SEV1 (was SEV3)" in again
            assert len(pd.requests) == 1  # and nobody is paged twice
        finally:
            await s.aclose()
            await pd.aclose()


async def test_raising_sev2_to_sev1_pages_the_manager_not_on_call_again(stack: Stack) -> None:
    await stack.cmd("declare Login errors sev2")  # pages on-call, notifies the EM
    await stack.cmd("sev sev1")  # same channel: still re-announced, because it is a raise
    [raised] = posts(stack, "INCIDENT RECLASSIFIED")
    assert raised.split("\n")[0] == "<@U_EM>"  # the EM is now paged; on-call already was


# ------------------------------------------------------------------ 3. escalation keeps climbing


async def test_escalation_keeps_notifying_the_top_of_the_chain(stack: Stack) -> None:
    await stack.cmd("declare Payments down p1")  # SEV1: 15-min cadence, escalates after 30 min
    await walk(stack, 30 * M)
    assert stack.notifier.count("ESCALATION: INC-1") == 1
    await walk(stack, 15 * M)
    assert stack.notifier.count("ESCALATION: INC-1") == 1  # one missed update is not two
    await walk(stack, 15 * M)  # 4 missed and 60 min open: one escalation, not two
    escalations = [t for t in stack.notifier.texts() if "ESCALATION: INC-1" in t]
    assert len(escalations) == 2, escalations
    assert "<@U_EM>" in escalations[1]
    assert "Without an update: 1h (no update since declared)" in escalations[1]
    assert "engineering_manager (again: top of the chain)" in escalations[1]
    await walk(stack, 30 * M)
    assert stack.notifier.count("ESCALATION: INC-1") == 3
    await stack.cmd("update replica promoted ; watching")
    await walk(stack, 20 * M)  # updates flow again: the missed-update rule is quiet...
    inc = await stack.store.get(1)
    assert inc is not None and inc.escalation_level == 3


async def test_missed_updates_escalate_again_and_again_without_a_timed_rule(stack: Stack) -> None:
    await stack.cmd("declare Slow search sev3")  # no timed rule; every 2nd missed update
    await walk(stack, 4 * H, 2 * H)
    assert stack.notifier.count("ESCALATION: INC-1") == 1
    await walk(stack, 4 * H, 2 * H)
    escalations = [t for t in stack.notifier.texts() if "ESCALATION: INC-1" in t]
    assert len(escalations) == 2
    assert "Reason: 4 updates missed in a row" in escalations[1]
    assert "Without an update: 8h" in escalations[1]


# ------------------------------------------------------------------ 4. nobody to notify


async def test_a_sev1_that_notifies_nobody_says_so(tmp_path: Path, store_url: str) -> None:
    s = await make_stack(tmp_path, BotConfig(), store_url=store_url)  # contacts: {}, pagers: {}
    try:
        await s.cmd("declare Site down sev1")
        await s.cmd("declare Typo on the footer sev4")
        [sev1] = posts(s, "INCIDENT DECLARED: Site down")
        assert "nobody was notified: configure contacts" in sev1
        assert "contacts.oncall, contacts.engineering_manager" in sev1
        [sev4] = posts(s, "INCIDENT DECLARED: Typo")
        assert "nobody was notified" not in sev4
    finally:
        await s.aclose()


async def test_a_sev1_that_notifies_someone_does_not_warn(stack: Stack) -> None:
    await stack.cmd("declare Site down sev1")
    assert "nobody was notified" not in posts(stack, "INCIDENT DECLARED")[0]


# ------------------------------------------------------------------ 5. impact and cause


async def test_impact_is_assessed_not_the_definition_and_cause_is_not_the_summary(
    stack: Stack,
) -> None:
    await stack.cmd('declare "Checkout API 500s" sev1')
    [ann] = posts(stack, "INCIDENT DECLARED")
    assert "Impact: still being assessed" in ann
    definition = "complete outage"
    assert definition not in ann.lower()
    await stack.cmd("status identified connection leak")
    await stack.cmd("status investigating")
    drafts = [t for t in stack.notifier.texts(NoticeKind.THREAD) if "Status-page draft" in t]
    assert "The impact is still being assessed." in drafts[-1]
    assert all(definition not in d.lower() for d in drafts)

    reply = await stack.cmd("impact checkout fails for a third of EU users")
    assert "Impact of INC-1 set by alice" in reply
    draft = [t for t in stack.notifier.texts(NoticeKind.THREAD) if "Status-page draft" in t][-1]
    assert "Impact: checkout fails for a third of EU users." in draft
    inc = await stack.store.get(1)
    assert inc is not None and inc.description == "checkout fails for a third of EU users"

    await stack.cmd("resolve rolled back 4512 --cause a connection leak in release 4512")
    resolved = [t for t in stack.notifier.texts(NoticeKind.THREAD) if "[Resolved]" in t][-1]
    assert "The root cause was a connection leak in release 4512." in resolved
    assert "rolled back 4512" not in resolved
    [done] = posts(stack, "INCIDENT RESOLVED")
    assert "Summary: rolled back 4512" in done
    await stack.cmd("postmortem")
    [pm] = [t for t in stack.notifier.texts() if "POST-MORTEM DRAFT" in t]
    assert "## Root cause\n\na connection leak in release 4512\n" in pm


async def test_resolve_without_a_cause_does_not_invent_one(stack: Stack) -> None:
    await stack.cmd("declare --impact 'logins fail' Login broken sev2")
    assert "Impact: logins fail" in posts(stack, "INCIDENT DECLARED")[0]
    await stack.cmd("resolve rolled back 4512")
    resolved = [t for t in stack.notifier.texts(NoticeKind.THREAD) if "[Resolved]" in t][-1]
    assert "We are still determining the root cause." in resolved
    assert "rolled back" not in resolved


async def test_impact_is_for_responders_and_needs_text(stack: Stack) -> None:
    from tests.stack import BOB

    await stack.cmd("declare Login broken sev2")
    assert "Only INC-1's responders" in await stack.cmd("impact all users", actor=BOB)
    assert "Say who is affected" in await stack.cmd("impact")
    inc = await stack.store.get(1)
    assert inc is not None and inc.description == ""


# ------------------------------------------------------------------ 6. the parser guesses less


async def test_a_trailing_plain_word_is_part_of_an_unquoted_title(stack: Stack) -> None:
    reply = await stack.cmd("declare Checkout error rate high")
    assert "INC-1 declared (SEV3): Checkout error rate high" in reply
    await stack.cmd('declare "Checkout error rate" high')
    await stack.cmd("declare Checkout latency --sev critical")
    incidents = {i.number: i for i in await stack.store.list_incidents()}
    assert (incidents[2].title, incidents[2].severity) == ("Checkout error rate", Severity.SEV2)
    assert (incidents[3].title, incidents[3].severity) == ("Checkout latency", Severity.SEV1)


async def test_an_unclosed_quote_is_an_error_and_creates_nothing(stack: Stack) -> None:
    reply = await stack.cmd('declare "Unclosed quote sev1')
    assert "Unclosed quote" in reply and "Nothing was created" in reply
    assert await stack.store.list_incidents() == []
    assert stack.notifier.delivered == []


# ------------------------------------------------------------------ 7. dates


async def test_times_not_today_carry_their_date(stack: Stack) -> None:
    await stack.cmd("declare Footer typo sev4")  # T0 is 2026-11-22 03:00; next update in 1d
    assert "Next update: 2026-11-23 03:00 UTC (in 1d)" in posts(stack, "INCIDENT DECLARED")[0]
    await stack.cmd("declare Checkout down sev1")
    assert "Next update: 03:15 UTC (in 15m)" in posts(stack, "Checkout down")[0]


async def test_postmortem_reminders_keep_the_same_due_date(stack: Stack) -> None:
    await stack.cmd("declare Data loss sev1")
    await stack.cmd("resolve restored from backup")
    await stack.advance(48 * H)
    await stack.advance(24 * H)
    await stack.advance(24 * H)
    due = [t for t in stack.notifier.texts() if "POST-MORTEM DUE" in t]
    assert len(due) == 3
    assert all("Due by: 2026-11-24 03:00 UTC" in t for t in due), due
    assert "overdue by 2d" in due[2]


# ------------------------------------------------------------------ 8. reminders collapsed


async def test_reminders_collapse_into_one_line_in_timeline_and_postmortem(stack: Stack) -> None:
    await stack.cmd("declare Queue stuck sev1")
    await walk(stack, 2 * H)  # 8 reminders, no update
    await stack.cmd("note consumer restarted")
    stored = [e for e in await stack.store.timeline(1) if e.kind == "reminder"]
    assert len(stored) == 8  # the store keeps every one
    timeline = await stack.cmd("timeline")
    assert "8 update reminders, 7 missed, 03:15–05:00 UTC" in timeline
    assert "update reminder #" not in timeline
    assert timeline.count("escalated") == 4  # escalations stay visible
    await stack.cmd("postmortem")
    [pm] = [t for t in stack.notifier.texts() if "POST-MORTEM DRAFT" in t]
    assert "| reminder | 8 update reminders, 7 missed, 03:15–05:00 UTC |" in pm
    assert "update reminder #" not in pm


async def test_an_update_between_reminders_counts_fewer_missed(stack: Stack) -> None:
    await stack.cmd("declare Queue stuck sev1")
    await walk(stack, 30 * M)  # #1, #2
    await stack.cmd("update draining ; watching")
    await walk(stack, 15 * M)  # #1
    timeline = await stack.cmd("timeline")
    assert "3 update reminders, 1 missed, 03:15–03:45 UTC" in timeline
    assert "update    draining" in timeline
