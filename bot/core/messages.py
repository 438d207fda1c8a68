"""What the core says: neutral messages, replies to the invoker, and notices to channels.

Adapters translate these to Block Kit (Slack), embeds and views (Discord) or plain
text (console). Mentions are written `<@ID>` inside any text (Slack's and Discord's own
syntax); the console renders them as `@ID`. Channel links are written `<#ID>` (shown by
Slack and Discord as the channel's name; by the console as `#ID`, its ids being names).

Who a message notifies is decided here, never by its text (SPEC §7): a message notifies
exactly `Message.notifies()`, the ids the bot itself put in `mentions` (contacts, the IC,
role holders) or wrote inline (`people`, e.g. the commander field). Renderers show every
other mention-like piece of text (`<!here>`, `<!subteam^S1>`, `<@&1>`, `@everyone`, a
`<@U1>` typed into a title) as plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.core.model import Severity

# A person's mention as Slack (`<@U1>`, `<@U1|alice>`) and Discord (`<@1>`, `<@!1>`) write
# it; `<@&1>` (a Discord role) is deliberately not a person.
_PERSON = re.compile(r"<@!?([A-Za-z0-9]+)(?:\|[^<>]*)?>")


def people_in(*texts: str) -> tuple[str, ...]:
    """Ids of the people mentioned in `texts` (`<@U1>`, `<@!1>`), first-seen order."""
    return tuple(dict.fromkeys(m.group(1) for t in texts for m in _PERSON.finditer(t)))


@dataclass(frozen=True, slots=True)
class Field:
    """A labelled value of a template (`Severity: SEV1`)."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Button:
    """An action attached to a message.

    `action` names what the core does when it is pressed (`snooze`, `post_update`);
    `value` is the argument the adapter hands back verbatim (e.g. `INC-3 30m`).
    """

    action: str
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered template, platform-neutral.

    `title` is the template's first line (`INCIDENT DECLARED: …`); `text()` is the
    plain-text rendering every platform can fall back on.
    """

    title: str
    fields: tuple[Field, ...] = ()
    body: str = ""
    mentions: tuple[str, ...] = ()  # user/group ids that must be notified (content, not embeds)
    buttons: tuple[Button, ...] = ()
    severity: Severity | None = None  # colours the message where the platform can
    # User ids the bot itself wrote inline as `<@ID>` (the commander field): rendered live.
    # Any other `<@ID>` in the text was typed by someone and is shown as text.
    people: tuple[str, ...] = ()

    def notifies(self) -> tuple[str, ...]:
        """Everyone this message may notify: `mentions` then `people`, without repeats."""
        return tuple(dict.fromkeys((*self.mentions, *self.people)))

    def text(self) -> str:
        """Plain text: mentions, title, one `Label: value` line per field, then the body."""
        lines: list[str] = []
        if self.mentions:
            lines.append(" ".join(f"<@{m}>" for m in self.mentions))
        if self.title:
            lines.append(self.title)
        lines.extend(f"{f.label}: {f.value}" for f in self.fields)
        if self.body:
            lines.append(self.body)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "fields": [[f.label, f.value] for f in self.fields],
            "body": self.body,
            "mentions": list(self.mentions),
            "buttons": [[b.action, b.label, b.value] for b in self.buttons],
            "severity": self.severity.value if self.severity else None,
            "people": list(self.people),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        return cls(
            title=str(d.get("title", "")),
            fields=tuple(Field(str(a), str(b)) for a, b in d.get("fields", [])),
            body=str(d.get("body", "")),
            mentions=tuple(str(m) for m in d.get("mentions", [])),
            buttons=tuple(Button(str(a), str(b), str(c)) for a, b, c in d.get("buttons", [])),
            severity=Severity(d["severity"]) if d.get("severity") else None,
            people=tuple(str(p) for p in d.get("people", [])),
        )


class ModalKind(StrEnum):
    DECLARE = "declare"
    UPDATE = "update"


@dataclass(frozen=True, slots=True)
class Modal:
    """A form the adapter should open (Slack modal, Discord modal; console: not shown)."""

    kind: ModalKind
    incident: int | None = None
    prefill: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """The direct answer to whoever sent a command.

    `ephemeral` replies are shown only to the invoker where the platform allows it;
    `ok` is False for a user error (the message says what was expected).
    """

    message: Message | None = None
    ephemeral: bool = True
    ok: bool = True
    modal: Modal | None = None
    incident: int | None = None

    @classmethod
    def error(cls, text: str) -> Reply:
        return cls(Message(title=text), ephemeral=True, ok=False)

    @classmethod
    def info(cls, text: str, *, incident: int | None = None, ephemeral: bool = True) -> Reply:
        return cls(Message(title=text), ephemeral=ephemeral, incident=incident)


class NoticeKind(StrEnum):
    """How a notice is delivered.

    ANNOUNCE: top-level message in `channel` that opens the incident's thread.
    POST: top-level message in `channel` (ops one-liner, re-announcement, update).
    THREAD: a message in the incident's thread (waits until the thread exists).
    PAGE: a page/notification through the pager named in `channel`.
    """

    ANNOUNCE = "announce"
    POST = "post"
    THREAD = "thread"
    PAGE = "page"


@dataclass(frozen=True, slots=True)
class Notice:
    """An outbound message, written to the store's outbox in the same transaction as
    the change that caused it and delivered (with retries) by the dispatcher.

    `channel` is a configured channel key (`incidents`, `ops`, …) for ANNOUNCE/POST,
    a pager name for PAGE, empty for THREAD. `data` carries pager arguments
    (`action`: trigger/acknowledge/resolve, `contacts`: group name).
    `incident` may be 0 in a `Change` passed to `IncidentStore.create`; the store
    fills in the number it assigns.

    `attempts` counts recorded failures; `claims` counts every claim, this one included,
    and `first_claimed_at` is when the first one happened (both set by `claim_notices`).
    `claims > 1` means an earlier delivery may have reached the platform without its
    outcome being recorded (a crash, a lost lease, a timeout after sending): a notifier
    then checks for the message before posting it again (SPEC §7 "Effectively once").
    """

    incident: int
    platform: str
    kind: NoticeKind
    message: Message
    channel: str = ""
    data: dict[str, str] = field(default_factory=dict)
    id: int = 0
    attempts: int = 0
    claims: int = 0
    first_claimed_at: datetime | None = None

    @property
    def outcome_unknown(self) -> bool:
        """An earlier claim of this notice may have posted it (see the class docstring)."""
        return self.claims > 1 or self.attempts > 0
