"""Severity policy as pure functions of an incident and `now`.

The scheduler never decides anything itself: after every change the service asks
`Policy.timers(incident)` for the complete set of due times and stores them, so a
severity change, a snooze, an update or a resolve re-times everything at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import durations
from bot.core.model import Incident, Severity, TimerKind

MAX_DURATION = timedelta(seconds=durations.MAX_SECONDS)
"""The longest duration anything accepts: beyond it a typo, not a policy (and timedelta
arithmetic on a date would overflow)."""


def parse_duration(text: str) -> timedelta:
    """`30s`, `15m`, `2h`, `1d`, `1w` (whole, above zero, any case) up to `MAX_DURATION` ->
    timedelta. Raises ValueError saying what is expected."""
    try:
        seconds = durations.parse_seconds(text, allow_weeks=True, ignore_case=True, max_digits=12)
    except durations.TooLong:
        raise ValueError(f"expected a duration of at most 365d, got {text.strip()!r}") from None
    except durations.NotADuration:
        raise ValueError(
            f"expected a duration like 30s, 15m, 2h or 1d, got {text[:40]!r}"
        ) from None
    return timedelta(seconds=seconds)


def format_duration(d: timedelta) -> str:
    """Compact human form: `45s`, `15m`, `2h 5m`, `1d 3h`."""
    s = int(d.total_seconds())
    if s < 60:
        return f"{max(s, 0)}s"
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes = s // 60
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes and not days:
        parts.append(f"{minutes}m")
    return " ".join(parts) or "0m"


@dataclass(frozen=True, slots=True)
class SeverityPolicy:
    """What one severity level means operationally (SPEC §1)."""

    severity: Severity
    aliases: tuple[str, ...]
    impact: str
    respond_within: timedelta
    update_every: timedelta
    escalate_after: timedelta | None
    channel: str  # channel key the announcement goes to
    page: tuple[str, ...] = ()  # contact groups paged on declare (mentioned + external pagers)
    notify: tuple[str, ...] = ()  # contact groups notified in chat on declare
    escalate_to: tuple[str, ...] = ()  # contact groups, in order, for escalations
    pagers: tuple[str, ...] = ()  # external pager/ticket backends used for this severity
    postmortem: str = "none"  # required | lightweight | none
    status_page: bool = False  # post status-page drafts


def default_severities() -> dict[Severity, SeverityPolicy]:
    """SPEC §1 defaults."""
    m, h = timedelta(minutes=1), timedelta(hours=1)
    return {
        Severity.SEV1: SeverityPolicy(
            Severity.SEV1,
            ("sev1", "p1", "s1", "critical"),
            "Complete outage, all users affected; data loss; security breach",
            5 * m,
            15 * m,
            30 * m,
            "incidents",
            page=("oncall", "engineering_manager"),
            escalate_to=("engineering_manager",),
            postmortem="required",
            status_page=True,
        ),
        Severity.SEV2: SeverityPolicy(
            Severity.SEV2,
            ("sev2", "p2", "s2", "high", "major"),
            "Major degradation, most users affected; core feature broken",
            15 * m,
            30 * m,
            None,
            "incidents",
            page=("oncall",),
            notify=("engineering_manager",),
            escalate_to=("engineering_manager",),
            postmortem="required",
            status_page=True,
        ),
        Severity.SEV3: SeverityPolicy(
            Severity.SEV3,
            ("sev3", "p3", "s3", "medium", "minor"),
            "Partial degradation, some users affected",
            h,
            2 * h,
            None,
            "incidents_low",
            notify=("oncall",),
            escalate_to=("oncall",),
            postmortem="lightweight",
        ),
        Severity.SEV4: SeverityPolicy(
            Severity.SEV4,
            ("sev4", "p4", "s4", "low"),
            "Minor or cosmetic issue, few users affected",
            4 * h,
            24 * h,
            None,
            "incidents_low",
            escalate_to=("oncall",),
        ),
    }


@dataclass(frozen=True, slots=True)
class Policy:
    """The whole response policy. Built from configuration by `bot.config`."""

    severities: Mapping[Severity, SeverityPolicy] = field(default_factory=default_severities)
    contacts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    responders: frozenset[str] = frozenset()
    tag_contacts: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"security": ("security",), "data-loss": ("engineering_manager",)}
    )
    private_tags: frozenset[str] = frozenset({"security"})
    default_severity: Severity = Severity.SEV3
    postmortem_due: timedelta = timedelta(hours=48)
    postmortem_repeat: timedelta = timedelta(hours=24)
    missed_updates_to_escalate: int = 2
    security_channels: Mapping[str, str] = field(default_factory=lambda: {"*": "security"})
    """Platform -> id of its `security` channel (`*`: every platform not named). Private
    incidents exist only on a platform that has one: they are never announced elsewhere."""

    def of(self, severity: Severity) -> SeverityPolicy:
        return self.severities[severity]

    def aliases(self) -> dict[str, Severity]:
        """Lower-case alias (and the level's own name) -> severity."""
        out: dict[str, Severity] = {}
        for sev, p in self.severities.items():
            out[sev.value.lower()] = sev
            for a in p.aliases:
                out[a.lower()] = sev
        return out

    def channel_for(self, incident: Incident) -> str:
        """Channel key of the incident's announcement."""
        return "security" if incident.private else self.of(incident.severity).channel

    def security_channel(self, platform: str) -> str | None:
        """Id of the `security` channel on `platform`; None when none is configured."""
        return self.security_channels.get(platform) or self.security_channels.get("*") or None

    def security_contacts(self) -> tuple[str, ...]:
        """Ids of the `security` contact group and of the groups the private tags notify."""
        groups = ["security"]
        for tag in sorted(self.private_tags):
            groups += self.tag_contacts.get(tag, ())
        return self.resolve_contacts(tuple(dict.fromkeys(groups)))

    def resolve_contacts(self, groups: tuple[str, ...]) -> tuple[str, ...]:
        """Contact groups -> user/group ids, de-duplicated, order kept."""
        ids: list[str] = []
        for g in groups:
            for i in self.contacts.get(g, ()):
                if i not in ids:
                    ids.append(i)
        return tuple(ids)

    def escalation_group(self, incident: Incident) -> str | None:
        """The next contact group up the severity's chain; once the chain is climbed, its top
        again (an incident left unattended keeps being escalated); None without a chain.

        Timed and missed-update escalations climb the same chain, so two that fall due at
        one moment notify the next contact once, not twice."""
        chain = self.of(incident.severity).escalate_to
        if not chain:
            return None
        return chain[min(incident.escalation_level, len(chain) - 1)]

    # ------------------------------------------------------------------ due times

    def next_reminder_at(self, incident: Incident) -> datetime | None:
        """Next IC-update reminder: last IC update (or declaration) + cadence.

        After a reminder has been sent, the next one is a cadence after that reminder
        (a bot that was down does not fire a burst of catch-up reminders). A snooze
        replaces the due time once.
        """
        if not incident.is_open:
            return None
        if incident.snoozed_until is not None:
            return incident.snoozed_until
        anchor = incident.last_update_at or incident.declared_at
        if incident.last_reminder_at is not None and incident.last_reminder_at > anchor:
            anchor = incident.last_reminder_at
        return anchor + self.of(incident.severity).update_every

    def next_escalation_at(self, incident: Incident) -> datetime | None:
        """Timed escalation: open for `escalate_after` (per level reached) -> next contact;
        past the top of the chain it keeps falling due every `escalate_after`."""
        p = self.of(incident.severity)
        if not incident.is_open or p.escalate_after is None or not p.escalate_to:
            return None
        return incident.declared_at + p.escalate_after * (incident.escalation_level + 1)

    def next_postmortem_reminder_at(self, incident: Incident) -> datetime | None:
        """After resolving an incident whose severity requires one, until one is attached."""
        if incident.is_open or incident.resolved_at is None or incident.postmortem_at is not None:
            return None
        if self.of(incident.severity).postmortem != "required":
            return None
        due = incident.resolved_at + self.postmortem_due
        if incident.last_reminder_at is not None and incident.last_reminder_at >= due:
            return incident.last_reminder_at + self.postmortem_repeat
        return due

    def timers(self, incident: Incident) -> dict[TimerKind, datetime | None]:
        """The complete desired timer set for `incident` (None = no such timer)."""
        return {
            TimerKind.REMINDER: self.next_reminder_at(incident),
            TimerKind.ESCALATION: self.next_escalation_at(incident),
            TimerKind.POSTMORTEM: self.next_postmortem_reminder_at(incident),
        }

    def escalates_on_missed(self, missed_updates: int) -> bool:
        """True when this many updates missed in a row calls for escalation."""
        n = self.missed_updates_to_escalate
        return n > 0 and missed_updates > 0 and missed_updates % n == 0
