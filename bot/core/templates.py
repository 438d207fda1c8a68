"""Message templates (SPEC §3), neutral and configurable.

A template is text with `{placeholders}`. Its first line becomes the message title; a line
shaped `Label: value` becomes a field; every other line goes to the body. Configuration
may replace any template by name (`templates:` in the YAML); unknown placeholders in a
configured template are rejected at start-up (`Templates.validate`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.digest import collapse_reminders
from bot.core.messages import Button, Field, Message
from bot.core.model import Incident, Severity, TimelineEntry

DEFAULTS: dict[str, str] = {
    "initial": (
        "[{key}] INCIDENT DECLARED: {title}\n"
        "Severity: {severity}\n"
        "Commander: {commander}\n"
        "Start time: {start_time}\n"
        "Impact: {impact}\n"
        "Status: {status}\n"
        "Next update: {next_update}"
    ),
    "reclassified": (
        "[{key}] INCIDENT RECLASSIFIED: {title}\n"
        "Severity: {severity} (was {previous_severity})\n"
        "Commander: {commander}\n"
        "Start time: {start_time}\n"
        "Impact: {impact}\n"
        "Status: {status}\n"
        "Next update: {next_update}"
    ),
    "update": (
        "[{key}] INCIDENT UPDATE: {title}\n"
        "Severity: {severity}\n"
        "Duration: {duration}\n"
        "Status: {status}\n"
        "Current findings: {findings}\n"
        "Actions in progress: {actions}\n"
        "Next update: {next_update}"
    ),
    "reminder": (
        "UPDATE DUE: {key} {title}\n"
        "Commander: {commander}\n"
        "Due: {due} (every {cadence} for {severity})\n"
        "Next reminder: {next_update}\n"
        "Post it with /incident update {key} <findings> ; <actions>. Pre-filled:\n"
        "```\n{prefilled}\n```"
    ),
    "resolved": (
        "[{key}] INCIDENT RESOLVED: {title}\n"
        "Severity: {severity}\n"
        "Duration: {duration}\n"
        "Resolved at: {end_time}\n"
        "Summary: {summary}\n"
        "Post-mortem: {postmortem_due}"
    ),
    "ops_line": "[{ops_tag}] {severity} {key} - {title}.{ops_status}",
    "status_investigating": (
        "[Investigating] We are investigating reports of {title}.\n"
        "{public_impact}\n"
        "We will provide an update within {cadence}."
    ),
    "status_identified": (
        "[Identified] The issue has been identified as {note_or_title}.\n"
        "We are working on a fix. We will provide an update within {cadence}."
    ),
    "status_mitigating": (
        "[Identified] A fix for {title} is being rolled out.\n"
        "We will provide an update within {cadence}."
    ),
    "status_monitoring": (
        "[Monitoring] A fix has been implemented for {title} and we are monitoring the results."
    ),
    "status_resolved": (
        "[Resolved] The issue affecting {title} has been resolved.\n"
        "{root_cause}\n"
        "We apologize for the disruption and will publish a detailed post-mortem."
    ),
    "checklist": (
        "5-MINUTE TRIAGE: {key}\n"
        "Respond within {respond_within}; updates every {cadence}.\n"
        "0-1 min: acknowledge, confirm severity ({severity}), confirm the commander ({commander})\n"
        "1-2 min: assess scope: health endpoints, error rates, latency (probes: {probes})\n"
        "2-3 min: recent changes: deploys, infrastructure, external dependencies\n"
        "3-4 min: communicate: post in the incident channel{status_page_step}, page more help\n"
        "4-5 min: recent deploy? consider rollback; otherwise start diagnostics and the timeline"
    ),
    "escalation": (
        "ESCALATION: {key} {title}\n"
        "Severity: {severity}\n"
        "Reason: {reason}\n"
        "Without an update: {without_update}\n"
        "Escalated to: {contacts}"
    ),
    "page": "PAGE: {key} {title}\nSeverity: {severity}\nContacts: {contacts}",
    "postmortem_reminder": (
        "POST-MORTEM DUE: {key} {title}\n"
        "Resolved: {end_time}\n"
        "Due by: {due}\n"
        "Draft it with /incident postmortem {key};"
        " attach it with /incident postmortem {key} <link>."
    ),
}

_BOT_MENTION = re.compile(r"^<@([^<>|\s]+)>$")  # what `commander_label` writes
_FIELD = re.compile(r"^([A-Z][A-Za-z0-9 ()/-]{0,40}): (.*)$")
_FORMATTER = string.Formatter()


def utc_stamp(dt: datetime | None) -> str:
    """`2026-11-22 16:20 UTC`, or `—`."""
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "—"


def hhmm(dt: datetime | None) -> str:
    return dt.strftime("%H:%M UTC") if dt else "—"


def when(dt: datetime | None, now: datetime) -> str:
    """`18:47 UTC` when `dt` falls on `now`'s (UTC) day, else `2026-11-23 18:47 UTC`: a time
    without its date is wrong by a day for a SEV4 or a reminder read after midnight."""
    if dt is None:
        return "—"
    return hhmm(dt) if dt.date() == now.date() else utc_stamp(dt)


@dataclass(frozen=True, slots=True)
class Templates:
    """The template set: defaults overridden by configuration."""

    overrides: Mapping[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str:
        return self.overrides.get(name, DEFAULTS[name])

    def validate(self) -> list[str]:
        """Problems with the overrides (unknown template names or placeholders)."""
        problems: list[str] = []
        for name, text in self.overrides.items():
            if name not in DEFAULTS:
                problems.append(f"{name}: unknown template; expected one of {', '.join(DEFAULTS)}")
                continue
            allowed = _placeholders(DEFAULTS[name]) | COMMON_PLACEHOLDERS | _LEGACY.get(name, set())
            try:
                used = _placeholders(text)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
                continue
            if unknown := used - allowed:
                problems.append(
                    f"{name}: unknown placeholder(s) {', '.join(sorted(unknown))};"
                    f" expected some of {', '.join(sorted(allowed))}"
                )
        return problems

    def fill(self, name: str, values: Mapping[str, str]) -> str:
        """The template's text with `values` substituted (missing ones render as `—`)."""
        return self.text(name).format_map(_Defaulting(values))

    def render(
        self,
        name: str,
        values: Mapping[str, str],
        *,
        severity: Severity | None = None,
        mentions: Sequence[str] = (),
        buttons: Sequence[Button] = (),
    ) -> Message:
        """The template as a Message: first line title, `Label: value` lines fields.

        The commander's mention, when the template shows `{commander}`, is the bot's own
        and stays live (`Message.people`); every other value is text, whatever it holds.
        """
        people: tuple[str, ...] = ()
        if "commander" in _placeholders(self.text(name)):
            m = _BOT_MENTION.match(values.get("commander", ""))
            people = (m.group(1),) if m else ()
        lines = self.fill(name, values).split("\n")
        fields: list[Field] = []
        body: list[str] = []
        in_block = False
        for line in lines[1:]:
            if line.startswith("```"):
                in_block = not in_block
            m = None if in_block or body else _FIELD.match(line)
            if m:
                fields.append(Field(m.group(1), m.group(2)))
            else:
                body.append(line)
        return Message(
            title=lines[0],
            fields=tuple(fields),
            body="\n".join(body),
            mentions=tuple(mentions),
            buttons=tuple(buttons),
            severity=severity,
            people=people,
        )


COMMON_PLACEHOLDERS = frozenset(
    {"key", "title", "severity", "status", "commander", "start_time", "duration", "cadence"}
)


# Placeholders earlier defaults used: configured templates written against them stay valid.
_LEGACY: dict[str, set[str]] = {
    "status_investigating": {"impact", "impact_lower"},
    "status_resolved": {"summary", "summary_or_tbd"},
    "ops_line": {"status_word"},
}
# Old names of placeholders, filled from the value they were renamed to.
_RENAMED = {"status_word": "status"}


def _placeholders(text: str) -> set[str]:
    return {f for _, f, _, _ in _FORMATTER.parse(text) if f}


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return self.get(_RENAMED.get(key, ""), "—")


def commander_label(incident: Incident) -> str:
    """The commander as a mention (`<@U1>`), or `unassigned`."""
    return f"<@{incident.commander.id}>" if incident.commander else "unassigned"


def timeline_lines(entries: Sequence[TimelineEntry]) -> list[str]:
    """`16:20 UTC  declared  Checkout 500s (by @alice)` lines; the first line and every line
    on a new day carry the date, and runs of reminders are collapsed (`digest`)."""
    out = []
    day = None
    for e in collapse_reminders(entries):
        who = f" (by {e.actor.label})" if e.actor else ""
        stamp = hhmm(e.at) if e.at.date() == day else utc_stamp(e.at)
        day = e.at.date()
        out.append(f"{stamp}  {e.kind:<9} {e.text}{who}")
    return out


def _root_cause(entries: Sequence[TimelineEntry]) -> str:
    """The latest cause given (`resolve --cause`), else the prompt to write one."""
    causes = [e.text for e in entries if e.kind == "cause"]
    return causes[-1] if causes else "_The fundamental reason the incident occurred._"


def postmortem_markdown(
    incident: Incident, entries: Sequence[TimelineEntry], *, duration: str
) -> str:
    """The blameless post-mortem draft (runbook structure + five-whys skeleton)."""
    tl = "\n".join(
        f"| {utc_stamp(e.at)} | {e.kind} | {e.text.replace('|', '/')}"
        f" | {e.actor.label if e.actor else ''} |"
        for e in collapse_reminders(entries)
    )
    roles = ", ".join(f"{r.value}: {a.label}" for r, a in incident.roles.items()) or "—"
    return f"""# Post-mortem: {incident.key} {incident.title}

*Blameless: this review is about systems and processes, not individuals.*

| | |
|---|---|
| Severity | {incident.severity.value} |
| Status | {incident.status.value} |
| Started | {utc_stamp(incident.declared_at)} |
| Resolved | {utc_stamp(incident.resolved_at)} |
| Duration | {duration} |
| Commander | {incident.commander.label if incident.commander else "—"} |
| Roles | {roles} |

## Summary

{incident.summary or "_What happened, when, and what was the impact._"}

## Timeline

| Time | Event | Detail | By |
|---|---|---|---|
{tl}

## Root cause

{_root_cause(entries)}

## Five whys

1. Why did users see the impact? ->
2. Why? ->
3. Why? ->
4. Why? ->
5. Why? ->

Root cause: _…_

## Contributing factors

- _Other conditions that made the incident worse._

## What went well

- _…_

## What could be improved

- _Gaps in detection, response, or tooling._

## Action items

| Action | Owner | Due | Ticket |
|---|---|---|---|
|  |  |  |  |
"""
