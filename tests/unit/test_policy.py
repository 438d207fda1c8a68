"""Severity policy: due times are pure functions of the incident and `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.model import Actor, Incident, Severity, Status, TimerKind
from bot.core.policy import Policy, format_duration, parse_duration

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def incident(sev: Severity = Severity.SEV1, **kw: object) -> Incident:
    base = Incident(1, "db down", sev, Status.INVESTIGATING, "test", T0, Actor("U1"))
    return base.evolve(**kw)


@pytest.mark.parametrize(
    ("sev", "cadence"),
    [
        (Severity.SEV1, 15 * M),
        (Severity.SEV2, 30 * M),
        (Severity.SEV3, 120 * M),
        (Severity.SEV4, timedelta(days=1)),
    ],
)
def test_first_reminder_is_declaration_plus_cadence(sev: Severity, cadence: timedelta) -> None:
    assert Policy().next_reminder_at(incident(sev)) == T0 + cadence


def test_update_resets_the_anchor_and_reminders_do_not_burst() -> None:
    p = Policy()
    assert p.next_reminder_at(incident(last_update_at=T0 + 10 * M)) == T0 + 25 * M
    # a reminder sent late (bot was down) schedules the next one a cadence after it
    late = incident(last_reminder_at=T0 + 60 * M)
    assert p.next_reminder_at(late) == T0 + 75 * M


def test_snooze_replaces_the_due_time_and_resolve_stops_everything() -> None:
    p = Policy()
    assert p.next_reminder_at(incident(snoozed_until=T0 + 50 * M)) == T0 + 50 * M
    done = incident(status=Status.RESOLVED, resolved_at=T0 + 5 * M)
    assert p.next_reminder_at(done) is None
    assert p.next_escalation_at(done) is None


def test_timed_escalation_only_where_configured_and_up_the_chain() -> None:
    p = Policy()
    assert p.next_escalation_at(incident(Severity.SEV1)) == T0 + 30 * M
    assert p.next_escalation_at(incident(Severity.SEV2)) is None
    # past the top of the chain (one group by default) it keeps falling due, re-notifying it
    assert p.next_escalation_at(incident(Severity.SEV1, escalation_level=1)) == T0 + 60 * M
    assert p.escalation_group(incident(Severity.SEV1, escalation_level=3)) == "engineering_manager"


def test_postmortem_due_48h_after_resolving_sev1_then_daily_until_attached() -> None:
    p = Policy()
    resolved = incident(status=Status.RESOLVED, resolved_at=T0)
    due = T0 + timedelta(hours=48)
    assert p.next_postmortem_reminder_at(resolved) == due
    reminded = resolved.evolve(last_reminder_at=due + M)
    assert p.next_postmortem_reminder_at(reminded) == due + M + timedelta(hours=24)
    assert p.next_postmortem_reminder_at(resolved.evolve(postmortem_at=T0 + M)) is None
    sev3 = incident(Severity.SEV3, status=Status.RESOLVED, resolved_at=T0)
    assert p.next_postmortem_reminder_at(sev3) is None


def test_timers_is_the_complete_set() -> None:
    timers = Policy().timers(incident())
    assert set(timers) == set(TimerKind)
    assert timers[TimerKind.POSTMORTEM] is None


def test_missed_update_escalation_every_second_miss() -> None:
    p = Policy()
    assert [p.escalates_on_missed(n) for n in range(5)] == [False, False, True, False, True]


def test_private_incidents_go_to_the_security_channel() -> None:
    p = Policy()
    assert p.channel_for(incident()) == "incidents"
    assert p.channel_for(incident(Severity.SEV3)) == "incidents_low"
    assert p.channel_for(incident(private=True)) == "security"


def test_aliases_cover_spec_table() -> None:
    lex = Policy().aliases()
    for alias, sev in {"p1": "SEV1", "critical": "SEV1", "major": "SEV2", "minor": "SEV3"}.items():
        assert lex[alias].value == sev
    assert lex["low"] is Severity.SEV4


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["", "15", "0m", "1y", "-5m", "m"])
def test_bad_durations_say_what_is_expected(bad: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like 30s"):
        parse_duration(bad)


def test_format_duration() -> None:
    assert format_duration(timedelta(seconds=45)) == "45s"
    assert format_duration(timedelta(minutes=125)) == "2h 5m"
    assert format_duration(timedelta(days=1, hours=3)) == "1d 3h"
