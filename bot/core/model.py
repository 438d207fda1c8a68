"""The incident domain: plain, immutable values shared by every layer.

Nothing here knows about a chat platform, a database or the clock; all times are
timezone-aware UTC datetimes passed in by the caller.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Severity(StrEnum):
    """Incident severity, SEV1 (worst) to SEV4."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"

    @property
    def rank(self) -> int:
        """1 for SEV1 … 4 for SEV4."""
        return int(self.value[-1])


class Status(StrEnum):
    """Where the response stands; `resolved` is terminal."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MITIGATING = "mitigating"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class Role(StrEnum):
    """Response roles besides the incident commander."""

    SCRIBE = "scribe"
    COMMS = "comms"


class TimerKind(StrEnum):
    """The durable, per-incident timers the scheduler fires."""

    REMINDER = "reminder"  # IC update due
    ESCALATION = "escalation"  # open too long for its severity
    POSTMORTEM = "postmortem"  # post-mortem due after resolving


@dataclass(frozen=True, slots=True)
class Actor:
    """Someone acting through a platform: `id` is the platform user id."""

    id: str
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.id


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """A place on a platform: a channel, optionally a thread inside it.

    `thread` is the platform's thread handle (Slack: parent message ts; Discord: the
    thread channel id; console: the incident key).
    """

    platform: str
    channel: str
    thread: str | None = None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of an incident's timeline."""

    at: datetime
    kind: str  # declared, severity, status, ic, role, update, note, probe, pin, resolved, ...
    text: str
    actor: Actor | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident as stored. `number` is 0 until the store assigns one.

    `version` is bumped by the store on every committed change (optimistic concurrency).
    """

    number: int
    title: str
    severity: Severity
    status: Status
    platform: str
    declared_at: datetime
    declared_by: Actor
    description: str = ""
    private: bool = False
    tags: tuple[str, ...] = ()
    commander: Actor | None = None
    roles: dict[Role, Actor] = field(default_factory=dict)
    origin: ChannelRef | None = None  # where it was declared from
    thread: ChannelRef | None = None  # the announcement's thread, once delivered
    last_update_at: datetime | None = None  # last IC update (cadence anchor)
    last_reminder_at: datetime | None = None  # last reminder sent (update or post-mortem)
    missed_updates: int = 0
    escalation_level: int = 0
    snoozed_until: datetime | None = None
    resolved_at: datetime | None = None
    summary: str = ""
    postmortem: str = ""
    postmortem_at: datetime | None = None
    version: int = 0

    @property
    def key(self) -> str:
        return f"INC-{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status is not Status.RESOLVED

    def responders(self) -> set[str]:
        """User ids holding a role on this incident."""
        ids = {a.id for a in self.roles.values()}
        if self.commander:
            ids.add(self.commander.id)
        return ids

    def evolve(self, **changes: object) -> Incident:
        """A copy with `changes` applied (the dataclass is frozen)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
