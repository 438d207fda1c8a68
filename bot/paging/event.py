"""What a page says, independent of the backend that carries it.

Every backend reads the same three things from a PAGE notice: the action
(`notice.data["action"]`: trigger, acknowledge or resolve), the contact group
(`notice.data["contacts"]`, optional) and the rendered message; and deduplicates with
`dedup_key` (per incident, pager and paged destination), so retries never open a second
alert, two pagers never merge their alerts, and a resolve closes what the triggers opened.
"""

from __future__ import annotations

import re
from enum import StrEnum

from bot.core.messages import Message, Notice
from bot.core.model import Incident, Severity
from bot.errors import DeliveryRejected

_MENTION = re.compile(r"<@([^>\s]+)>")


class PageAction(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


def page_action(notice: Notice) -> PageAction:
    """The notice's action; a missing or unknown one is rejected (retrying cannot fix it)."""
    raw = notice.data.get("action", "")
    try:
        return PageAction(raw)
    except ValueError:
        raise DeliveryRejected(
            f"page notice has action {raw!r}; expected trigger, acknowledge or resolve"
        ) from None


def contact_group(notice: Notice) -> str | None:
    """The contact group the page is for (`oncall`), or None when the notice names none."""
    return notice.data.get("contacts") or None


def dedup_key(incident: Incident, pager: str, group: str | None = None) -> str:
    """The deduplication key of a page event: `INC-7:<pager>`, or `INC-7:<pager>:<group>`
    for a trigger to a contact group the pager sends somewhere of its own (its own
    PagerDuty service or Opsgenie responders). The same event (a retry, a replay after a
    crash) always gets the same key, so it joins its alert; an escalation to such a group
    gets a new alert, so its people are notified instead of bumping an alert's count."""
    return f"{incident.key}:{pager}:{group}" if group else f"{incident.key}:{pager}"


def plain_text(message: Message) -> str:
    """The message without the mention line, and `<@U123>` written `@U123`: chat mention
    syntax means nothing to a pager or an issue tracker."""
    lines = [message.title] if message.title else []
    lines.extend(f"{f.label}: {f.value}" for f in message.fields)
    if message.body:
        lines.append(message.body)
    return _MENTION.sub(r"@\1", "\n".join(lines))


def summary_line(incident: Incident) -> str:
    """`[SEV1] INC-7 Backend DB unreachable`: the one line every pager shows first."""
    return f"[{incident.severity.value}] {incident.key} {incident.title}"


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def incident_details(incident: Incident, notice: Notice) -> dict[str, str]:
    """Flat string facts about the incident, for a backend's free-form details field."""
    details = {
        "incident": incident.key,
        "title": incident.title,
        "severity": incident.severity.value,
        "status": incident.status.value,
        "declared_at": incident.declared_at.isoformat(),
        "declared_by": incident.declared_by.label,
        "commander": incident.commander.label if incident.commander else "",
        "platform": incident.platform,
        "tags": ", ".join(incident.tags),
        "contacts": contact_group(notice) or "",
        "description": incident.description,
        "summary": incident.summary,
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else "",
        "message": plain_text(notice.message),
    }
    return {k: v for k, v in details.items() if v}


# SEV1..SEV4 on each backend's own scale.
PAGERDUTY_SEVERITY = {
    Severity.SEV1: "critical",
    Severity.SEV2: "error",
    Severity.SEV3: "warning",
    Severity.SEV4: "info",
}
OPSGENIE_PRIORITY = {
    Severity.SEV1: "P1",
    Severity.SEV2: "P2",
    Severity.SEV3: "P3",
    Severity.SEV4: "P4",
}
