"""`SqliteStore`: the embedded default `IncidentStore`, one aiosqlite connection in WAL mode.

Every operation runs under one asyncio lock on the single connection, so transactions
never interleave and incident numbers (max + 1 inside the write transaction) are gap-free.
Writes take `BEGIN IMMEDIATE`, so a second process opening the same file waits
(`busy_timeout`) rather than failing half-way. `synchronous=NORMAL` in WAL mode keeps the
database consistent after a crash and may lose only the last commits on power loss; that
buys the create() throughput the bot needs.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from bot.core.messages import Notice
from bot.core.model import ChannelRef, Incident, Severity, TimelineEntry, TimerKind
from bot.core.records import Change, Timer
from bot.errors import ConflictError, DuplicateRequest, InfraError
from bot.storage import codec
from bot.storage.codec import INCIDENT_COLUMNS, TimeCodec, utc
from bot.storage.migrator import SCHEMA_VERSION_TABLE, migrations, sqlite_statements


def _encode_time(dt: datetime) -> str:
    # Fixed width (always microseconds, always +00:00): string order is time order.
    return utc(dt).isoformat(timespec="microseconds")


def _decode_time(value: Any) -> datetime:
    return utc(datetime.fromisoformat(value))


TIME = TimeCodec(_encode_time, _decode_time)

_COLS = ", ".join(INCIDENT_COLUMNS)
_INSERT_INCIDENT = (
    f"INSERT INTO incidents (number, version, {_COLS}) VALUES "
    f"((SELECT coalesce(max(number), 0) + 1 FROM incidents), 1, "
    f"{', '.join('?' for _ in INCIDENT_COLUMNS)}) RETURNING number"
)
_UPDATE_INCIDENT = (
    f"UPDATE incidents SET version = version + 1, "
    f"{', '.join(f'{c} = ?' for c in INCIDENT_COLUMNS)} "
    f"WHERE number = ? AND version = ? RETURNING version"
)
_SELECT_INCIDENT = f"SELECT number, version, {_COLS} FROM incidents"
_INSERT_TIMELINE = "INSERT INTO timeline (incident, at, kind, text, actor) VALUES (?, ?, ?, ?, ?)"
_INSERT_NOTICE = (
    "INSERT INTO notices (incident, platform, kind, channel, message, data, attempts,"
    " next_attempt_at, ready_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_TIMER = (
    "INSERT INTO timers (incident, kind, due_at, ready_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (incident, kind) DO UPDATE SET due_at = excluded.due_at,"
    " ready_at = excluded.ready_at, claim_owner = NULL, claim_until = NULL"
)
_DELETE_TIMER = "DELETE FROM timers WHERE incident = ? AND kind = ?"
# The oldest pending notice of each incident; the others wait behind it.
# The head of each pending lane: an incident's chat notices in order, and its pages in one
# lane per pager (`channel` names the pager), so a pager outage never holds up the thread
# (nor the "paging failed" alarm posted there) nor any other pager. Dead notices are out.
_HEADS = (
    "SELECT min(id) FROM notices WHERE failed_at IS NULL"
    " GROUP BY incident, kind = 'page', CASE WHEN kind = 'page' THEN channel END"
)
_PRUNE_EVERY = timedelta(hours=1)
_KEEP_KEYS = timedelta(days=1)


class SqliteStore:
    """An `IncidentStore` in one SQLite file (`path`, or `:memory:`).

    The parent directory is created if missing. The connection opens on first use;
    `migrate()` (called at start-up) opens it and brings the schema up to date.
    Driver failures surface as `InfraError`.
    """

    def __init__(self, path: str, *, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._last_prune: datetime | None = None

    # ------------------------------------------------------------------ lifecycle

    async def _open(self) -> aiosqlite.Connection:
        if self._conn is not None:
            return self._conn
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(self.path, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise InfraError(f"cannot open SQLite database {self.path}: {exc}") from exc
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute_fetchall("PRAGMA journal_mode=WAL")
            await conn.execute_fetchall("PRAGMA synchronous=NORMAL")
            await conn.execute_fetchall(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            await conn.execute_fetchall("PRAGMA foreign_keys=ON")
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection, for reads; driver errors become `InfraError`."""
        async with self._lock:
            conn = await self._open()
            try:
                yield conn
            except sqlite3.Error as exc:
                raise InfraError(f"SQLite query failed on {self.path}: {exc}") from exc

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; rolled back if the body raises or the task is cancelled."""
        async with self._lock:
            conn = await self._open()
            try:
                await conn.execute_fetchall("BEGIN IMMEDIATE")
                yield conn
                await conn.execute_fetchall("COMMIT")
            except BaseException as exc:
                # Statements already queued still run on aiosqlite's thread, and this queues
                # behind them; it is a no-op when no transaction is open (BEGIN failed or
                # COMMIT went through), so the connection is never left mid-transaction.
                await conn.rollback()
                if isinstance(exc, sqlite3.Error):
                    raise InfraError(f"SQLite write failed on {self.path}: {exc}") from exc
                raise

    async def migrate(self) -> None:
        async with self._write() as conn:
            await conn.execute_fetchall(SCHEMA_VERSION_TABLE)
            rows = await conn.execute_fetchall(
                "SELECT coalesce(max(version), 0) FROM schema_version"
            )
            current = int(next(iter(rows))[0])
            for mig in migrations("sqlite"):
                if mig.version <= current:
                    continue
                for statement in sqlite_statements(mig.sql):
                    await conn.execute_fetchall(statement)
                await conn.execute_fetchall(
                    "INSERT INTO schema_version (version, name, applied_at)"
                    " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                    (mig.version, mig.name),
                )

    async def aclose(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def ping(self) -> None:
        async with self._read() as conn:
            await conn.execute_fetchall("SELECT 1")

    # ------------------------------------------------------------------ incidents

    async def create(
        self, incident: Incident, change: Change | Callable[[Incident], Change]
    ) -> Incident:
        values = codec.incident_values(incident, TIME)
        async with self._write() as conn:
            rows = await conn.execute_fetchall(_INSERT_INCIDENT, values)
            number = int(next(iter(rows))[0])
            created = incident.evolve(number=number, version=1)
            await self._write_change(conn, number, change(created) if callable(change) else change)
        return created

    async def commit(self, incident: Incident, change: Change) -> Incident:
        values = codec.incident_values(incident, TIME)
        async with self._write() as conn:
            rows = await conn.execute_fetchall(
                _UPDATE_INCIDENT, (*values, incident.number, incident.version)
            )
            if not list(rows):
                raise ConflictError(
                    f"{incident.key} changed since version {incident.version} was read"
                )
            await self._write_change(conn, incident.number, change)
        return incident.evolve(version=incident.version + 1)

    async def _write_change(self, conn: aiosqlite.Connection, number: int, change: Change) -> None:
        if change.request is not None:
            # Recorded with the change it caused: a redelivered request writes nothing.
            rows = await conn.execute_fetchall(
                "INSERT INTO seen_keys (key, seen_at) VALUES (?, ?)"
                " ON CONFLICT (key) DO NOTHING RETURNING key",
                (change.request, _encode_time(datetime.now(UTC))),
            )
            if not list(rows):
                raise DuplicateRequest(change.request)
        if change.timeline:
            await conn.executemany(
                _INSERT_TIMELINE, [codec.timeline_values(number, e, TIME) for e in change.timeline]
            )
        if change.notices:
            await conn.executemany(
                _INSERT_NOTICE, [codec.notice_values(number, n, TIME) for n in change.notices]
            )
        upserts: list[tuple[Any, ...]] = []
        deletes: list[tuple[Any, ...]] = []
        for kind, due in change.timers.items():
            if due is None:
                deletes.append((number, TimerKind(kind).value))
            else:
                at = _encode_time(due)
                upserts.append((number, TimerKind(kind).value, at, at))
        if upserts:
            await conn.executemany(_UPSERT_TIMER, upserts)
        if deletes:
            await conn.executemany(_DELETE_TIMER, deletes)

    async def get(self, number: int) -> Incident | None:
        async with self._read() as conn:
            rows = list(
                await conn.execute_fetchall(f"{_SELECT_INCIDENT} WHERE number = ?", (number,))
            )
        return codec.incident_from(rows[0], TIME) if rows else None

    async def list_incidents(
        self,
        *,
        open_only: bool = True,
        limit: int = 100,
        offset: int = 0,
        severity: Severity | None = None,
    ) -> list[Incident]:
        where, args = _filters(open_only, severity, None)
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                f"{_SELECT_INCIDENT} {where} ORDER BY number DESC LIMIT ? OFFSET ?",
                (*args, limit, offset),
            )
        return [codec.incident_from(r, TIME) for r in rows]

    async def count_incidents(
        self,
        *,
        open_only: bool = True,
        severity: Severity | None = None,
        private: bool | None = None,
    ) -> int:
        where, args = _filters(open_only, severity, private)
        async with self._read() as conn:
            rows = list(
                await conn.execute_fetchall(f"SELECT count(*) FROM incidents {where}", args)
            )
        return int(rows[0][0])

    async def find_by_thread(self, platform: str, thread: str) -> Incident | None:
        async with self._read() as conn:
            rows = list(
                await conn.execute_fetchall(
                    f"{_SELECT_INCIDENT} WHERE thread_platform = ? AND thread_id = ?"
                    " ORDER BY number DESC LIMIT 1",
                    (platform, thread),
                )
            )
        return codec.incident_from(rows[0], TIME) if rows else None

    async def set_thread(self, number: int, thread: ChannelRef) -> None:
        async with self._write() as conn:
            await conn.execute_fetchall(
                "UPDATE incidents SET thread_platform = ?, thread_channel = ?, thread_id = ?,"
                " version = version + 1 WHERE number = ?",
                (thread.platform, thread.channel, thread.thread, number),
            )

    async def timeline(self, number: int) -> list[TimelineEntry]:
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT at, kind, text, actor FROM timeline WHERE incident = ? ORDER BY at, id",
                (number,),
            )
        return [codec.timeline_from(r, TIME) for r in rows]

    async def count_open(self) -> dict[str, int]:
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT severity, count(*) FROM incidents WHERE status <> 'resolved'"
                " GROUP BY severity"
            )
        counts = {s.value: 0 for s in Severity}
        counts.update({str(r[0]): int(r[1]) for r in rows})
        return counts

    # ------------------------------------------------------------------ timers

    async def next_due_at(self) -> datetime | None:
        async with self._read() as conn:
            rows = list(await conn.execute_fetchall("SELECT min(ready_at) FROM timers"))
        return _decode_time(rows[0][0]) if rows and rows[0][0] is not None else None

    async def claim_due(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Timer]:
        until = _encode_time(now + lease)
        async with self._write() as conn:
            rows = await conn.execute_fetchall(
                "UPDATE timers SET claim_owner = ?, claim_until = ?, ready_at = max(due_at, ?)"
                " WHERE (incident, kind) IN (SELECT incident, kind FROM timers"
                "  WHERE ready_at <= ? ORDER BY ready_at LIMIT ?)"
                " RETURNING incident, kind, due_at",
                (owner, until, until, _encode_time(now), limit),
            )
        timers = [Timer(int(r[0]), TimerKind(r[1]), _decode_time(r[2])) for r in rows]
        return sorted(timers, key=lambda t: (t.due_at, t.incident, t.kind))

    async def release_claims(self, owner: str) -> None:
        async with self._write() as conn:
            await conn.execute_fetchall(
                "UPDATE timers SET claim_owner = NULL, claim_until = NULL, ready_at = due_at"
                " WHERE claim_owner = ?",
                (owner,),
            )
            await conn.execute_fetchall(
                "UPDATE notices SET claim_owner = NULL, claim_until = NULL,"
                " ready_at = next_attempt_at WHERE claim_owner = ?",
                (owner,),
            )

    # ------------------------------------------------------------------ outbox

    async def next_notice_at(self) -> datetime | None:
        async with self._read() as conn:
            rows = list(
                await conn.execute_fetchall(
                    f"SELECT min(ready_at) FROM notices WHERE id IN ({_HEADS})"
                )
            )
        return _decode_time(rows[0][0]) if rows and rows[0][0] is not None else None

    async def claim_notices(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Notice]:
        until = _encode_time(now + lease)
        async with self._write() as conn:
            rows = await conn.execute_fetchall(
                "UPDATE notices SET claim_owner = ?, claim_until = ?, ready_at = ?,"
                " claims = claims + 1, first_claimed_at = coalesce(first_claimed_at, ?)"
                f" WHERE id IN (SELECT id FROM notices WHERE id IN ({_HEADS})"
                "  AND ready_at <= ? ORDER BY id LIMIT ?)"
                f" RETURNING {codec.NOTICE_CLAIM_COLUMNS}",
                (owner, until, until, _encode_time(now), _encode_time(now), limit),
            )
        return sorted((codec.notice_from(r, TIME) for r in rows), key=lambda n: n.id)

    async def notice_delivered(self, notice_id: int) -> None:
        async with self._write() as conn:
            await conn.execute_fetchall("DELETE FROM notices WHERE id = ?", (notice_id,))

    async def notice_failed(self, notice_id: int, retry_at: datetime, error: str) -> None:
        at = _encode_time(retry_at)
        async with self._write() as conn:
            await conn.execute_fetchall(
                "UPDATE notices SET attempts = attempts + 1, next_attempt_at = ?, ready_at = ?,"
                " claim_owner = NULL, claim_until = NULL, last_error = ? WHERE id = ?",
                (at, at, error[:2000], notice_id),
            )

    async def notice_dead(self, notice_id: int, at: datetime, error: str) -> None:
        async with self._write() as conn:
            await conn.execute_fetchall(
                "UPDATE notices SET attempts = attempts + 1, failed_at = ?,"
                " claim_owner = NULL, claim_until = NULL, last_error = ? WHERE id = ?",
                (_encode_time(at), error[:2000], notice_id),
            )

    async def dead_notices(self, incident: int) -> list[Notice]:
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT {codec.NOTICE_CLAIM_COLUMNS}"
                " FROM notices WHERE incident = ? AND failed_at IS NOT NULL ORDER BY id",
                (incident,),
            )
        return [codec.notice_from(r, TIME) for r in rows]

    # ------------------------------------------------------------------ idempotency

    async def first_time(self, key: str, now: datetime) -> bool:
        async with self._write() as conn:
            rows = await conn.execute_fetchall(
                "INSERT INTO seen_keys (key, seen_at) VALUES (?, ?)"
                " ON CONFLICT (key) DO NOTHING RETURNING key",
                (key, _encode_time(now)),
            )
            fresh = bool(list(rows))
            if self._last_prune is None or now - self._last_prune >= _PRUNE_EVERY:
                self._last_prune = now
                await conn.execute_fetchall(
                    "DELETE FROM seen_keys WHERE seen_at < ?", (_encode_time(now - _KEEP_KEYS),)
                )
        return fresh


def _filters(
    open_only: bool, severity: Severity | None, private: bool | None
) -> tuple[str, tuple[object, ...]]:
    """The WHERE clause (and its arguments) of `list_incidents` / `count_incidents`."""
    conds: list[str] = ["status <> 'resolved'"] if open_only else []
    args: list[object] = []
    if severity is not None:
        conds.append("severity = ?")
        args.append(severity.value)
    if private is not None:
        conds.append("private = ?")
        args.append(int(private))
    return ("WHERE " + " AND ".join(conds) if conds else ""), tuple(args)
