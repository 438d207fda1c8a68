"""Renders incidents into template values and Messages (pure; no I/O)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from bot.core import reach
from bot.core.messages import Button, Message, people_in
from bot.core.model import Actor, Incident, Severity, Status, TimelineEntry
from bot.core.policy import Policy, format_duration
from bot.core.records import ProbeReport
from bot.core.templates import Templates, commander_label, timeline_lines, utc_stamp, when

STATUS_WORD = {
    Status.INVESTIGATING: "Investigating",
    Status.IDENTIFIED: "Identified",
    Status.MITIGATING: "Mitigating",
    Status.MONITORING: "Monitoring",
    Status.RESOLVED: "Resolved",
}
IMPACT_UNKNOWN = "still being assessed"
PROBE_ICON = {"ok": "✅", "warn": "⚠️", "fail": "❌", "error": "💥"}
# Rows per `/incident list` page. A row is at most ~130 characters (title and IC clipped),
# so a page stays under 3,000: one Slack section (3,000) and one Discord embed description
# (4,096); the title under Slack's 150-character header.
LIST_PAGE = 20


class Views:
    """Template values and messages for one policy and template set."""

    def __init__(self, policy: Policy, templates: Templates) -> None:
        self.policy = policy
        self.templates = templates

    def values(self, inc: Incident, now: datetime, **extra: str) -> dict[str, str]:
        p = self.policy.of(inc.severity)
        end = inc.resolved_at or now
        nxt = self.policy.next_reminder_at(inc)
        # The severity's definition is internal wording; until someone states the impact
        # (declare --impact, /incident impact) it is "still being assessed", in public too.
        impact = inc.description or IMPACT_UNKNOWN
        v = {
            "key": inc.key,
            "title": inc.title,
            "severity": inc.severity.value,
            "status": STATUS_WORD[inc.status],
            "commander": commander_label(inc),
            "start_time": utc_stamp(inc.declared_at),
            "end_time": utc_stamp(inc.resolved_at),
            "duration": format_duration(end - inc.declared_at),
            "cadence": format_duration(p.update_every),
            "respond_within": format_duration(p.respond_within),
            "impact": impact,
            "impact_lower": impact[:1].lower() + impact[1:],
            "next_update": f"{when(nxt, now)} (in {format_duration(nxt - now)})" if nxt else "—",
            "summary": inc.summary or "—",
            "summary_or_tbd": inc.summary or "still being determined",
            "public_impact": (
                f"Impact: {inc.description.rstrip('.')}."
                if inc.description
                else "The impact is still being assessed."
            ),
            "root_cause": "We are still determining the root cause.",
            "note_or_title": inc.title,
        }
        v.update(extra)
        return v

    def initial(self, inc: Incident, now: datetime, mentions: Sequence[str]) -> Message:
        return self.templates.render(
            "initial", self.values(inc, now), severity=inc.severity, mentions=mentions
        )

    def update(self, inc: Incident, now: datetime, findings: str, actions: str) -> Message:
        """The IC update. A person mentioned in it is notified by this message only (§7)."""
        values = self.values(inc, now, findings=findings, actions=actions or "—")
        return self.templates.render(
            "update", values, severity=inc.severity, mentions=people_in(findings, actions)
        )

    def reminder(
        self, inc: Incident, now: datetime, due: datetime, mentions: Sequence[str]
    ) -> Message:
        prefilled = self.templates.fill(
            "update",
            self.values(inc, now, findings="<what we know>", actions="<what we are doing>"),
        )
        values = self.values(inc, now, due=when(due, now), prefilled=prefilled)
        buttons = (
            Button("snooze", "Snooze 15m", f"{inc.key} 15m"),
            Button("snooze", "Snooze 30m", f"{inc.key} 30m"),
            Button("snooze", "Snooze 1h", f"{inc.key} 1h"),
            Button("post_update", "Post update", inc.key),
        )
        return self.templates.render(
            "reminder", values, severity=inc.severity, mentions=mentions, buttons=buttons
        )

    def status_page(self, inc: Incident, now: datetime, note: str = "", cause: str = "") -> Message:
        """The public draft for the incident's status: only what responders wrote (title,
        impact, note, cause), never the internal severity definitions."""
        name = f"status_{inc.status.value}"
        extra = {"note_or_title": note} if note else {}
        if cause:
            extra["root_cause"] = f"The root cause was {cause.rstrip('.')}."
        text = self.templates.fill(name, self.values(inc, now, **extra))
        return Message(title="Status-page draft", body=text, severity=inc.severity)

    def ops_line(self, inc: Incident, now: datetime) -> Message:
        """The one line in `ops`: `[INCIDENT] … Investigating.` when declared, `[RESOLVED] …`
        when resolved; both from the (configurable) `ops_line` template."""
        if inc.is_open:
            extra = {"ops_tag": "INCIDENT", "ops_status": f" {STATUS_WORD[inc.status]}."}
        else:
            extra = {"ops_tag": "RESOLVED", "ops_status": ""}
        return Message(title=self.templates.fill("ops_line", self.values(inc, now, **extra)))

    def checklist(self, inc: Incident, now: datetime, probes: bool) -> Message:
        """The triage checklist; `probes`: whether probes run on declare."""
        values = self.values(
            inc,
            now,
            probes="running now" if probes else "none configured",
            status_page_step=(
                ", update the status page" if self.policy.of(inc.severity).status_page else ""
            ),
        )
        return self.templates.render("checklist", values)

    def page(self, inc: Incident, now: datetime, groups: Sequence[str]) -> Message:
        values = self.values(inc, now, contacts=", ".join(groups))
        return self.templates.render("page", values, severity=inc.severity)

    def tagged(self, tags: Sequence[str], groups: Sequence[str], ids: Sequence[str]) -> Message:
        title = f"Tagged {', '.join(tags)}: notifying {', '.join(groups)} at once."
        return Message(title=title, mentions=tuple(ids))

    def note(self, actor: Actor, text: str) -> Message:
        """A note. A person mentioned in it is notified by this message only (§7)."""
        return Message(title=f"Note from {actor.label}", body=text, mentions=people_in(text))

    def reclassified(
        self, inc: Incident, now: datetime, previous: Severity, mentions: Sequence[str]
    ) -> Message:
        values = self.values(inc, now, previous_severity=previous.value)
        return self.templates.render(
            "reclassified", values, severity=inc.severity, mentions=mentions
        )

    def resolved(self, inc: Incident, now: datetime, postmortem_due: str) -> Message:
        values = self.values(inc, now, postmortem_due=postmortem_due)
        return self.templates.render("resolved", values, severity=inc.severity)

    def escalation(
        self,
        inc: Incident,
        now: datetime,
        reason: str,
        contacts: str,
        without_update: str,
        mentions: Sequence[str],
    ) -> Message:
        values = self.values(
            inc, now, reason=reason, contacts=contacts, without_update=without_update
        )
        return self.templates.render("escalation", values, severity=inc.severity, mentions=mentions)

    def postmortem_reminder(
        self, inc: Incident, now: datetime, due: str, mentions: Sequence[str]
    ) -> Message:
        values = self.values(inc, now, due=due)
        return self.templates.render("postmortem_reminder", values, mentions=mentions)

    def postmortem_draft(self, inc: Incident, draft: str) -> Message:
        return Message(title=f"POST-MORTEM DRAFT: {inc.key} {inc.title}", body=draft)

    def paging_failed(
        self,
        inc: Incident,
        pager: str,
        reason: str,
        contacts: Sequence[str],
        mentions: Sequence[str],
        permanent: bool,
    ) -> Message:
        """`PAGING FAILED — <pager>: <reason> — page <contacts> manually`, and whether the
        bot keeps retrying (transient) or gave the page up (`permanent`)."""
        return Message(
            title=f"⚠️ PAGING FAILED — {pager}: {reason}"
            f" — page {', '.join(contacts) or 'on-call'} manually.",
            body=(
                f"{pager} refused the page; the bot will not retry it."
                if permanent
                else f"The bot keeps retrying {pager}."
            ),
            mentions=tuple(mentions),
            severity=inc.severity,
        )

    def probe_run_failed(self, error: str) -> Message:
        return Message(title=f"PROBES: the run failed ({error}); check the bot's logs.")

    def said(
        self, text: str, *, severity: Severity | None = None, mentions: Sequence[str] = ()
    ) -> Message:
        """A one-line thread message saying what a command did (its answer says the same)."""
        return Message(title=text, severity=severity, mentions=tuple(mentions))

    def warn_if_unreached(self, msg: Message, severity: Severity, groups: Sequence[str]) -> Message:
        """A SEV1/SEV2 message that notified nobody says so, naming what to configure."""
        if severity.rank > 2 or reach.reaches_anyone(self.policy, severity):
            return msg
        note = reach.nobody_note(self.policy, severity, groups)
        return dataclasses.replace(msg, body=f"{msg.body}\n{note}" if msg.body else note)

    def help(self, text: str) -> Message:
        return Message(title="incidentbot help", body=text)

    def timeline(self, inc: Incident, entries: Sequence[TimelineEntry]) -> Message:
        body = "\n".join(timeline_lines(entries)) or "(empty)"
        return Message(title=f"Timeline of {inc.key}: {inc.title}", body=body)

    def probes(self, report: ProbeReport) -> Message:
        lines: list[str] = []
        for o in report.outcomes:
            lines.append(
                f"{PROBE_ICON.get(o.status, '?')} {o.name} ({o.service}/{o.kind}) {o.status}:"
                f" {o.summary} [{o.elapsed_s * 1000:.0f} ms]"
            )
            lines.extend(f"    {d}" for d in o.details)
        return Message(title=f"PROBES: {report.summary()}", body="\n".join(lines))

    def listing(
        self,
        incidents: Sequence[Incident],
        now: datetime,
        *,
        total: int | None = None,
        private: int = 0,
        hidden: int = 0,
        page: int = 1,
        pages: int = 1,
        severity: Severity | None = None,
    ) -> Message:
        """One page of open incidents. `total` counts every open incident (of `severity`),
        `private` those that are private; `hidden` private ones on this page are counted,
        not shown. Bounded to fit one Slack section and one Discord embed."""
        total = len(incidents) + hidden if total is None else total
        sev = f" {severity.value}" if severity else ""
        if total == 0:
            return Message(title=f"No open{sev} incidents.")
        title = f"{total} open{sev} incident{'s' if total != 1 else ''}"
        if private:
            title += f" ({private} private)"
        title += f" · page {page} of {pages}, newest first" if pages > 1 else ", newest first"
        lines = [
            f"{i.key}  {i.severity.value}  {STATUS_WORD[i.status]:<13} {_clip(i.title, 60)}"
            f"  (IC {_clip(commander_label(i), 24)}, open {format_duration(now - i.declared_at)})"
            for i in incidents
        ]
        if hidden:
            lines.append(
                f"+ {hidden} private incident{'s' if hidden != 1 else ''}, shown only in the"
                " security channel and to its responders"
            )
        if page < pages:
            lines.append(f"More: /incident list{sev.lower()} --page {page + 1}")
        commanders = tuple(dict.fromkeys(i.commander.id for i in incidents if i.commander))
        return Message(title=title, body="\n".join(lines), people=commanders)


def _clip(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters with `…` (keeps a list row bounded)."""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
