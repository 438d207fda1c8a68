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
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import aiosqlite

from bot.core.model import TimerKind
from bot.core.records import Change
from bot.errors import InfraError
from bot.storage import codec, sql
from bot.storage.codec import Row, TimeCodec, utc
from bot.storage.migrator import SCHEMA_VERSION_TABLE, migrations, sqlite_statements
from bot.storage.sqlstore import SqlStore


def _encode_time(dt: datetime) -> str:
    # Fixed width (always microseconds, always +00:00): string order is time order.
    return utc(dt).isoformat(timespec="microseconds")


def _decode_time(value: Any) -> datetime:
    return utc(datetime.fromisoformat(value))


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
_CLAIM_TIMERS = (
    "UPDATE timers SET claim_owner = :owner, claim_until = :until,"
    " ready_at = max(due_at, :until)"
    " WHERE (incident, kind) IN (SELECT incident, kind FROM timers"
    "  WHERE ready_at <= :now ORDER BY ready_at LIMIT :limit)"
    " RETURNING incident, kind, due_at"
)
# The head of each pending lane (the lanes: see `sql.py`): the oldest live notice of each
# incident's chat lane and of each of its pager lanes. Dead notices are out.
_HEADS = (
    "SELECT min(id) FROM notices WHERE failed_at IS NULL"
    " GROUP BY incident, kind = 'page', CASE WHEN kind = 'page' THEN channel END"
)
_NEXT_NOTICE_AT = f"SELECT min(ready_at) AS at FROM notices WHERE id IN ({_HEADS})"
_CLAIM_NOTICES = (
    "UPDATE notices SET claim_owner = :owner, claim_until = :until, ready_at = :until,"
    " claims = claims + 1, first_claimed_at = coalesce(first_claimed_at, :now)"
    f" WHERE id IN (SELECT id FROM notices WHERE id IN ({_HEADS})"
    "  AND ready_at <= :now ORDER BY id LIMIT :limit)"
    f" RETURNING {codec.NOTICE_CLAIM_COLUMNS}"
)


class SqliteStore(SqlStore[aiosqlite.Connection]):
    """An `IncidentStore` in one SQLite file (`path`, or `:memory:`).

    The parent directory is created if missing. The connection opens on first use;
    `migrate()` (called at start-up) opens it and brings the schema up to date.
    Driver failures surface as `InfraError`.
    """

    dialect: ClassVar[sql.Dialect] = "sqlite"
    time: ClassVar[TimeCodec] = TimeCodec(_encode_time, _decode_time)
    # max + 1 inside the write transaction: gap-free, as transactions never interleave.
    _insert_incident: ClassVar[str] = sql.insert_incident(
        "SELECT coalesce(max(number), 0) + 1 FROM incidents"
    )

    _claim_timers: ClassVar[str] = _CLAIM_TIMERS
    _claim_notices: ClassVar[str] = _CLAIM_NOTICES
    _next_notice_at: ClassVar[str] = _NEXT_NOTICE_AT

    def __init__(self, path: str, *, busy_timeout_ms: int = 5000) -> None:
        super().__init__()
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ connection

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

    # Every write takes BEGIN IMMEDIATE, so another process waits rather than fails.
    _reading = _read
    _writing = _transaction = _write

    async def _fetch(
        self, conn: aiosqlite.Connection, text: str, args: tuple[object, ...]
    ) -> Sequence[Row]:
        return list(await conn.execute_fetchall(text, args))

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

    # ------------------------------------------------------------------ batch writes

    async def _write_rows(self, conn: aiosqlite.Connection, number: int, change: Change) -> None:
        if change.timeline:
            await conn.executemany(
                _INSERT_TIMELINE,
                [codec.timeline_values(number, e, self.time) for e in change.timeline],
            )
        if change.notices:
            await conn.executemany(
                _INSERT_NOTICE, [codec.notice_values(number, n, self.time) for n in change.notices]
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


__all__ = [
    "SqliteStore",
]
