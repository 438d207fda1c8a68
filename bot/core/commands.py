"""The `/incident` command types: what a user asked for, whatever platform it came from.

`bot.core.grammar` turns command text into these; Discord builds them from typed options;
`IncidentService.handle` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.core.model import Actor, Role, Severity, Status

# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class Declare:
    title: str
    severity: Severity | None = None
    private: bool = False
    description: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SetSeverity:
    incident: int | None
    severity: Severity


@dataclass(frozen=True, slots=True)
class SetCommander:
    incident: int | None
    user: Actor | None = None  # None: the caller


@dataclass(frozen=True, slots=True)
class AssignRole:
    incident: int | None
    role: Role
    user: Actor | None = None


@dataclass(frozen=True, slots=True)
class SetStatus:
    incident: int | None
    status: Status
    note: str = ""


@dataclass(frozen=True, slots=True)
class PostUpdate:
    incident: int | None
    findings: str
    actions: str = ""


@dataclass(frozen=True, slots=True)
class AddNote:
    incident: int | None
    text: str


@dataclass(frozen=True, slots=True)
class RunProbes:
    incident: int | None
    targets: tuple[str, ...] = ()  # empty: the configured default


@dataclass(frozen=True, slots=True)
class Resolve:
    incident: int | None
    summary: str = ""
    cause: str = ""  # the root cause (`--cause`), for the public draft and the post-mortem


@dataclass(frozen=True, slots=True)
class SetImpact:
    incident: int | None
    text: str


@dataclass(frozen=True, slots=True)
class Postmortem:
    incident: int | None
    link: str = ""  # empty: post the draft; a link or text: attach it


@dataclass(frozen=True, slots=True)
class Snooze:
    incident: int | None
    duration: timedelta


@dataclass(frozen=True, slots=True)
class ShowTimeline:
    incident: int | None


@dataclass(frozen=True, slots=True)
class ListIncidents:
    severity: Severity | None = None  # None: every severity
    page: int = 1  # 1-based, newest first


@dataclass(frozen=True, slots=True)
class Help:
    topic: str = ""


# The commands that act on (or show) one incident: each has `incident` (None: the one
# the conversation is about).
IncidentCommand = (
    SetSeverity
    | SetCommander
    | AssignRole
    | SetStatus
    | PostUpdate
    | AddNote
    | RunProbes
    | Resolve
    | SetImpact
    | Postmortem
    | Snooze
    | ShowTimeline
)

Command = Declare | ListIncidents | Help | IncidentCommand
