"""Runs of reminders collapse to one line for reading; everything else keeps its place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.digest import collapse_reminders
from bot.core.model import Actor, TimelineEntry
from bot.core.templates import timeline_lines, when

T0 = datetime(2026, 11, 22, 15, 2, tzinfo=UTC)
M = timedelta(minutes=1)
ALICE = Actor("U1", "alice")


def rem(minutes: int, n: int) -> TimelineEntry:
    return TimelineEntry(T0 + minutes * M, "reminder", f"update reminder #{n}")


def test_a_run_becomes_one_line_and_cycle_entries_stay() -> None:
    entries = [
        rem(0, 1),
        rem(15, 2),
        TimelineEntry(T0 + 15 * M, "escalated", "to engineering_manager: 2 updates missed"),
        TimelineEntry(T0 + 20 * M, "update", "draining", ALICE),
        rem(35, 1),
        TimelineEntry(T0 + 40 * M, "note", "queue empty", ALICE),
        rem(50, 1),
    ]
    out = collapse_reminders(entries)
    assert [(e.kind, e.text) for e in out] == [
        ("reminder", "3 update reminders, 1 missed, 15:02–15:37 UTC"),
        ("escalated", "to engineering_manager: 2 updates missed"),
        ("update", "draining"),
        ("note", "queue empty"),
        ("reminder", "update reminder #1"),  # a lone reminder is kept as it is
    ]


def test_postmortem_reminders_collapse_among_themselves_across_days() -> None:
    day = timedelta(days=1)
    entries = [TimelineEntry(T0 + k * day, "reminder", "post-mortem due") for k in range(3)]
    [line] = collapse_reminders(entries)
    assert line.text == "3 post-mortem reminders, 2026-11-22 15:02–2026-11-24 15:02 UTC"


def test_timeline_lines_date_the_first_line_and_each_new_day() -> None:
    entries = [
        TimelineEntry(T0, "declared", "SEV4 typo", ALICE),
        TimelineEntry(T0 + 5 * M, "note", "seen", ALICE),
        TimelineEntry(T0 + timedelta(days=1), "note", "still", ALICE),
    ]
    lines = timeline_lines(entries)
    assert lines[0].startswith("2026-11-22 15:02 UTC  declared")
    assert lines[1].startswith("15:07 UTC  note")
    assert lines[2].startswith("2026-11-23 15:02 UTC  note")
    assert when(T0 + 9 * 60 * M, T0) == "2026-11-23 00:02 UTC"  # past midnight: dated
    assert when(T0 + 5 * M, T0) == "15:07 UTC"
