"""Mapping between domain values and table rows, shared by the SQLite and Postgres stores.

Structured fields (actors, roles, tags, the origin channel, a notice's message and data)
are stored as JSON text; the announcement thread gets its own columns so that
`find_by_thread` can use an index. How a datetime is stored differs per database, so
callers pass a `TimeCodec`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.core.messages import Message, Notice, NoticeKind
from bot.core.model import (
    Actor,
    ChannelRef,
    Incident,
    Role,
    Severity,
    Status,
    TimelineEntry,
)


class Row(Protocol):
    """What both drivers' rows offer: `sqlite3.Row` and `asyncpg.Record`."""

    def __getitem__(self, key: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class TimeCodec:
    """How one database stores an aware UTC datetime."""

    encode: Callable[[datetime], Any]
    decode: Callable[[Any], datetime]


def utc(dt: datetime) -> datetime:
    """`dt` as UTC. Raises ValueError for a naive datetime: the store never guesses a zone."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()} given to the store; use UTC")
    return dt.astimezone(UTC)


# A fresh notice may be claimed at once: its next-attempt time is the epoch.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Every incident column except `number` and `version`, in the order `incident_values` uses.
INCIDENT_COLUMNS = (
    "title",
    "severity",
    "status",
    "platform",
    "declared_at",
    "declared_by",
    "description",
    "private",
    "tags",
    "commander",
    "roles",
    "origin",
    "thread_platform",
    "thread_channel",
    "thread_id",
    "last_update_at",
    "last_reminder_at",
    "missed_updates",
    "escalation_level",
    "snoozed_until",
    "resolved_at",
    "summary",
    "postmortem",
    "postmortem_at",
)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def actor_json(actor: Actor | None) -> str | None:
    return None if actor is None else _dumps({"id": actor.id, "name": actor.name})


def actor_from(text: str | None) -> Actor | None:
    if text is None:
        return None
    d = json.loads(text)
    return Actor(id=str(d["id"]), name=str(d.get("name", "")))


def _channel_json(ref: ChannelRef | None) -> str | None:
    if ref is None:
        return None
    return _dumps({"platform": ref.platform, "channel": ref.channel, "thread": ref.thread})


def _channel_from(text: str | None) -> ChannelRef | None:
    if text is None:
        return None
    d = json.loads(text)
    return ChannelRef(platform=d["platform"], channel=d["channel"], thread=d.get("thread"))


def incident_values(inc: Incident, tc: TimeCodec) -> tuple[Any, ...]:
    """The values of `INCIDENT_COLUMNS` for `inc`."""

    def ts(dt: datetime | None) -> Any:
        return None if dt is None else tc.encode(utc(dt))

    roles = {role.value: {"id": a.id, "name": a.name} for role, a in inc.roles.items()}
    return (
        inc.title,
        inc.severity.value,
        inc.status.value,
        inc.platform,
        ts(inc.declared_at),
        actor_json(inc.declared_by),
        inc.description,
        inc.private,
        _dumps(list(inc.tags)),
        actor_json(inc.commander),
        _dumps(roles),
        _channel_json(inc.origin),
        inc.thread.platform if inc.thread else None,
        inc.thread.channel if inc.thread else None,
        inc.thread.thread if inc.thread else None,
        ts(inc.last_update_at),
        ts(inc.last_reminder_at),
        inc.missed_updates,
        inc.escalation_level,
        ts(inc.snoozed_until),
        ts(inc.resolved_at),
        inc.summary,
        inc.postmortem,
        ts(inc.postmortem_at),
    )


def incident_from(row: Row, tc: TimeCodec) -> Incident:
    """An `Incident` from a row holding `number`, `version` and `INCIDENT_COLUMNS`."""

    def ts(value: Any) -> datetime | None:
        return None if value is None else tc.decode(value)

    declared_by = actor_from(row["declared_by"])
    assert declared_by is not None  # NOT NULL column
    roles = {
        Role(k): Actor(id=str(v["id"]), name=str(v.get("name", "")))
        for k, v in json.loads(row["roles"]).items()
    }
    thread = None
    if row["thread_platform"] is not None:
        thread = ChannelRef(row["thread_platform"], row["thread_channel"], row["thread_id"])
    return Incident(
        number=int(row["number"]),
        title=row["title"],
        severity=Severity(row["severity"]),
        status=Status(row["status"]),
        platform=row["platform"],
        declared_at=tc.decode(row["declared_at"]),
        declared_by=declared_by,
        description=row["description"],
        private=bool(row["private"]),
        tags=tuple(str(t) for t in json.loads(row["tags"])),
        commander=actor_from(row["commander"]),
        roles=roles,
        origin=_channel_from(row["origin"]),
        thread=thread,
        last_update_at=ts(row["last_update_at"]),
        last_reminder_at=ts(row["last_reminder_at"]),
        missed_updates=int(row["missed_updates"]),
        escalation_level=int(row["escalation_level"]),
        snoozed_until=ts(row["snoozed_until"]),
        resolved_at=ts(row["resolved_at"]),
        summary=row["summary"],
        postmortem=row["postmortem"],
        postmortem_at=ts(row["postmortem_at"]),
        version=int(row["version"]),
    )


def timeline_values(number: int, entry: TimelineEntry, tc: TimeCodec) -> tuple[Any, ...]:
    """(incident, at, kind, text, actor)."""
    return (number, tc.encode(utc(entry.at)), entry.kind, entry.text, actor_json(entry.actor))


def timeline_from(row: Row, tc: TimeCodec) -> TimelineEntry:
    return TimelineEntry(
        at=tc.decode(row["at"]), kind=row["kind"], text=row["text"], actor=actor_from(row["actor"])
    )


def notice_values(number: int, notice: Notice, tc: TimeCodec) -> tuple[Any, ...]:
    """(incident, platform, kind, channel, message, data, attempts, next_attempt_at, ready_at).

    `number` replaces `notice.incident` when that is 0 (a notice made before the incident
    had its number).
    """
    epoch = tc.encode(EPOCH)
    return (
        notice.incident or number,
        notice.platform,
        notice.kind.value,
        notice.channel,
        _dumps(notice.message.to_dict()),
        _dumps(dict(notice.data)),
        notice.attempts,
        epoch,
        epoch,
    )


# What `claim_notices` returns (both stores), in `notice_from`'s terms.
NOTICE_CLAIM_COLUMNS = (
    "id, incident, platform, kind, channel, message, data, attempts, claims, first_claimed_at"
)


def notice_from(row: Row, tc: TimeCodec) -> Notice:
    first = row["first_claimed_at"]
    return Notice(
        incident=int(row["incident"]),
        platform=row["platform"],
        kind=NoticeKind(row["kind"]),
        message=Message.from_dict(json.loads(row["message"])),
        channel=row["channel"],
        data={str(k): str(v) for k, v in json.loads(row["data"]).items()},
        id=int(row["id"]),
        attempts=int(row["attempts"]),
        claims=int(row["claims"]),
        first_claimed_at=tc.decode(first) if first is not None else None,
    )


__all__ = [
    "EPOCH",
    "INCIDENT_COLUMNS",
    "NOTICE_CLAIM_COLUMNS",
    "Row",
    "TimeCodec",
    "actor_from",
    "actor_json",
    "incident_from",
    "incident_values",
    "notice_from",
    "notice_values",
    "timeline_from",
    "timeline_values",
    "utc",
]
