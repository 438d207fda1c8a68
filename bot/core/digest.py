"""Timeline digests: runs of reminders shown as one line.

Every reminder stays in the store (the timeline is the record); what people read (the
timeline view, the post-mortem, `incidentbot report`) shows a run of them as one line:
`8 update reminders, 2 missed, 15:02–17:02 UTC`.

A run of update reminders is broken by any entry other than another update reminder or the
reminder cycle's own entries (updates, snoozes, escalations), which stay as lines of their
own after the summary. "Missed" counts the reminders that found the previous one unanswered
(`update reminder #2` and up). Post-mortem reminders collapse the same way among themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.model import TimelineEntry

UPDATE_REMINDER = "update reminder #"
POSTMORTEM_REMINDER = "post-mortem due"
_CYCLE = frozenset({"update", "snooze", "escalated"})


def _family(e: TimelineEntry) -> str | None:
    if e.kind != "reminder":
        return None
    if e.text.startswith(UPDATE_REMINDER):
        return "update"
    if e.text.startswith(POSTMORTEM_REMINDER):
        return "postmortem"
    return None


def _missed(e: TimelineEntry) -> bool:
    number = e.text.removeprefix(UPDATE_REMINDER).split()[0:1]
    return bool(number) and number[0].isdigit() and int(number[0]) >= 2


def _span(first: TimelineEntry, last: TimelineEntry) -> str:
    if first.at.date() == last.at.date():
        return f"{first.at:%H:%M}–{last.at:%H:%M} UTC"
    return f"{first.at:%Y-%m-%d %H:%M}–{last.at:%Y-%m-%d %H:%M} UTC"


def _summary(family: str, reminders: Sequence[TimelineEntry]) -> TimelineEntry:
    first, last = reminders[0], reminders[-1]
    if family == "update":
        missed = sum(1 for r in reminders if _missed(r))
        text = f"{len(reminders)} update reminders, {missed} missed, {_span(first, last)}"
    else:
        text = f"{len(reminders)} post-mortem reminders, {_span(first, last)}"
    return TimelineEntry(first.at, "reminder", text)


def collapse_reminders(entries: Sequence[TimelineEntry]) -> list[TimelineEntry]:
    """`entries` with each run of two or more reminders replaced by one summary entry (at
    the first reminder's time); a lone reminder is kept as it is. Order is otherwise kept."""
    out: list[TimelineEntry] = []
    i, n = 0, len(entries)
    while i < n:
        family = _family(entries[i])
        if family is None:
            out.append(entries[i])
            i += 1
            continue
        reminders: list[TimelineEntry] = []
        between: list[TimelineEntry] = []  # cycle entries inside the run, in order
        pending: list[TimelineEntry] = []  # cycle entries after the latest reminder
        j = i
        while j < n:
            e = entries[j]
            if _family(e) == family:
                reminders.append(e)
                between += pending
                pending = []
            elif family == "update" and e.kind in _CYCLE:
                pending.append(e)
            else:
                break
            j += 1
        if len(reminders) >= 2:
            out.append(_summary(family, reminders))
            out += between
        else:
            out += reminders
        out += pending
        i = j
    return out
