"""`SqlStore`: the `IncidentStore` methods both SQL engines share, written once.

An engine subclasses it with its connection type and supplies connection handling
(`_reading`, `_writing`, `_transaction`), how the driver runs a rendered statement
(`_fetch`), its time codec and dialect, and what truly differs: the incident-number
allocation (`_insert_incident`), the claim and lane-head statements, the batch writes of
a `Change` (`_write_rows`) and migrations. Statements are those of `bot.storage.sql`,
with named parameters bound per dialect.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Generic, TypeVar

from bot.core.messages import Notice
from bot.core.model import ChannelRef, Incident, Severity, TimelineEntry, TimerKind
from bot.core.records import Change, Timer
from bot.errors import ConflictError, DuplicateRequest
from bot.storage import codec, sql
from bot.storage.codec import Row, TimeCodec

C = TypeVar("C")

# When a dead notice becomes ready: never (see sql.NOTICE_DEAD).
NEVER = datetime(9999, 1, 1, tzinfo=UTC)


class SqlStore(ABC, Generic[C]):
    """The shared half of an SQL `IncidentStore` over connections of type `C`."""

    dialect: ClassVar[sql.Dialect]
    time: ClassVar[TimeCodec]
    # The INSERT of a new incident, from `sql.insert_incident` with the engine's numbering.
    _insert_incident: ClassVar[str]
    # The claims (`:now`, `:owner`, `:until`, `:limit`; `_writing` runs them), returning
    # timers' `incident, kind, due_at` and notices' `codec.NOTICE_CLAIM_COLUMNS`; and the
    # `min(ready_at) AS at` of the lane heads.
    _claim_timers: ClassVar[str]
    _claim_notices: ClassVar[str]
    _next_notice_at: ClassVar[str]

    def __init__(self) -> None:
        self._last_prune: datetime | None = None

    # ------------------------------------------------------------------ engine hooks

    @abstractmethod
    def _reading(self) -> AbstractAsyncContextManager[C]:
        """A connection for reads."""

    @abstractmethod
    def _writing(self) -> AbstractAsyncContextManager[C]:
        """A connection for writes that are each atomic alone (no transaction needed)."""

    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[C]:
        """A connection inside one transaction, rolled back if the body raises."""

    @abstractmethod
    async def _fetch(self, conn: C, text: str, args: tuple[object, ...]) -> Sequence[Row]:
        """Runs `text` (in the driver's placeholders) with `args`; its rows, if any."""

    @abstractmethod
    async def _write_rows(self, conn: C, number: int, change: Change) -> None:
        """Writes `change`'s timeline, notices and timers for incident `number`."""

    async def _rows(self, conn: C, statement: str, params: Mapping[str, object]) -> Sequence[Row]:
        """Runs `statement` (named parameters) with `params`; its rows (none for most writes)."""
        return await self._fetch(conn, *sql.bind(statement, self.dialect, params))

    def _at(self, dt: datetime) -> object:
        return self.time.encode(codec.utc(dt))

    def _claim_params(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> dict[str, object]:
        """The parameters of an engine's claim statement: `:now`, `:owner`, `:until`, `:limit`."""
        return {
            "now": self._at(now),
            "owner": owner,
            "until": self._at(now + lease),
            "limit": limit,
        }

    # ------------------------------------------------------------------ lifecycle

    async def ping(self) -> None:
        async with self._reading() as conn:
            await self._rows(conn, "SELECT 1", {})

    # ------------------------------------------------------------------ incidents

    async def create(
        self, incident: Incident, change: Change | Callable[[Incident], Change]
    ) -> Incident:
        params = sql.incident_params(incident, self.time)
        async with self._transaction() as conn:
            rows = await self._rows(conn, self._insert_incident, params)
            created = incident.evolve(number=int(rows[0]["number"]), version=1)
            await self._write_change(
                conn, created.number, change(created) if callable(change) else change
            )
        return created

    async def commit(self, incident: Incident, change: Change) -> Incident:
        params = sql.incident_params(incident, self.time)
        params.update(number=incident.number, version=incident.version)
        async with self._transaction() as conn:
            if not await self._rows(conn, sql.UPDATE_INCIDENT, params):
                raise ConflictError(
                    f"{incident.key} changed since version {incident.version} was read"
                )
            await self._write_change(conn, incident.number, change)
        return incident.evolve(version=incident.version + 1)

    async def _write_change(self, conn: C, number: int, change: Change) -> None:
        """Writes `change` for incident `number` inside the caller's transaction."""
        if change.request is not None:
            # Recorded with the change it caused: a redelivered request writes nothing.
            assert change.request_at is not None  # Change refuses a key without its time
            key = {"key": change.request, "at": self._at(change.request_at)}
            if not await self._rows(conn, sql.RECORD_KEY, key):
                raise DuplicateRequest(change.request)
        await self._write_rows(conn, number, change)

    async def get(self, number: int) -> Incident | None:
        async with self._reading() as conn:
            rows = await self._rows(conn, sql.GET_INCIDENT, {"number": number})
        return codec.incident_from(rows[0], self.time) if rows else None

    async def list_incidents(
        self,
        *,
        open_only: bool = True,
        limit: int = 100,
        offset: int = 0,
        severity: Severity | None = None,
    ) -> list[Incident]:
        statement, params = sql.listing(open_only, severity, None, count=False)
        async with self._reading() as conn:
            rows = await self._rows(conn, statement, {**params, "limit": limit, "offset": offset})
        return [codec.incident_from(r, self.time) for r in rows]

    async def count_incidents(
        self,
        *,
        open_only: bool = True,
        severity: Severity | None = None,
        private: bool | None = None,
    ) -> int:
        statement, params = sql.listing(open_only, severity, private, count=True)
        async with self._reading() as conn:
            rows = await self._rows(conn, statement, params)
        return int(rows[0]["n"])

    async def find_by_thread(self, platform: str, thread: str) -> Incident | None:
        async with self._reading() as conn:
            rows = await self._rows(
                conn, sql.FIND_BY_THREAD, {"platform": platform, "thread": thread}
            )
        return codec.incident_from(rows[0], self.time) if rows else None

    async def set_thread(self, number: int, thread: ChannelRef) -> None:
        params = {
            "platform": thread.platform,
            "channel": thread.channel,
            "thread": thread.thread,
            "number": number,
        }
        async with self._writing() as conn:
            await self._rows(conn, sql.SET_THREAD, params)

    async def timeline(self, number: int) -> list[TimelineEntry]:
        async with self._reading() as conn:
            rows = await self._rows(conn, sql.TIMELINE, {"incident": number})
        return [codec.timeline_from(r, self.time) for r in rows]

    async def count_open(self) -> dict[str, int]:
        async with self._reading() as conn:
            rows = await self._rows(conn, sql.COUNT_OPEN, {})
        counts = {s.value: 0 for s in Severity}
        counts.update({str(r["severity"]): int(r["n"]) for r in rows})
        return counts

    # ------------------------------------------------------------------ timers

    async def next_due_at(self) -> datetime | None:
        async with self._reading() as conn:
            rows = await self._rows(conn, sql.NEXT_DUE_AT, {})
        return self._time_or_none(rows)

    async def claim_due(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Timer]:
        params = self._claim_params(now, owner, lease, limit)
        async with self._writing() as conn:
            rows = await self._rows(conn, self._claim_timers, params)
        timers = [
            Timer(int(r["incident"]), TimerKind(r["kind"]), self.time.decode(r["due_at"]))
            for r in rows
        ]
        return sorted(timers, key=lambda t: (t.due_at, t.incident, t.kind))

    async def release_claims(self, owner: str) -> None:
        async with self._transaction() as conn:
            await self._rows(conn, sql.RELEASE_TIMERS, {"owner": owner})
            await self._rows(conn, sql.RELEASE_NOTICES, {"owner": owner})

    def _time_or_none(self, rows: Sequence[Row]) -> datetime | None:
        """The time in the `at` column of the one row a `min(…) AS at` query returns."""
        value = rows[0]["at"] if rows else None
        return None if value is None else self.time.decode(value)

    # ------------------------------------------------------------------ outbox

    async def next_notice_at(self) -> datetime | None:
        async with self._reading() as conn:
            rows = await self._rows(conn, self._next_notice_at, {})
        return self._time_or_none(rows)

    async def claim_notices(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Notice]:
        params = self._claim_params(now, owner, lease, limit)
        async with self._writing() as conn:
            rows = await self._rows(conn, self._claim_notices, params)
        return sorted((codec.notice_from(r, self.time) for r in rows), key=lambda n: n.id)

    async def notice_delivered(self, notice_id: int) -> None:
        async with self._writing() as conn:
            await self._rows(conn, sql.NOTICE_DELIVERED, {"id": notice_id})

    async def notice_failed(self, notice_id: int, retry_at: datetime, error: str) -> None:
        params = {
            "id": notice_id,
            "retry_at": self._at(retry_at),
            "error": error[: sql.ERROR_LIMIT],
        }
        async with self._writing() as conn:
            await self._rows(conn, sql.NOTICE_FAILED, params)

    async def notice_dead(self, notice_id: int, at: datetime, error: str) -> None:
        params = {
            "id": notice_id,
            "at": self._at(at),
            "never": self._at(NEVER),
            "error": error[: sql.ERROR_LIMIT],
        }
        async with self._writing() as conn:
            await self._rows(conn, sql.NOTICE_DEAD, params)

    async def dead_notices(self, incident: int) -> list[Notice]:
        async with self._reading() as conn:
            rows = await self._rows(conn, sql.DEAD_NOTICES, {"incident": incident})
        return [codec.notice_from(r, self.time) for r in rows]

    # ------------------------------------------------------------------ idempotency

    async def first_time(self, key: str, now: datetime) -> bool:
        async with self._writing() as conn:
            fresh = bool(await self._rows(conn, sql.RECORD_KEY, {"key": key, "at": self._at(now)}))
            if self._last_prune is None or now - self._last_prune >= sql.PRUNE_EVERY:
                self._last_prune = now
                await self._rows(conn, sql.PRUNE_KEYS, {"before": self._at(now - sql.KEEP_KEYS)})
        return fresh


__all__ = [
    "SqlStore",
]
