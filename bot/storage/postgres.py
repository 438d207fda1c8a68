"""`PostgresStore`: the shared `IncidentStore` for several replicas, on an asyncpg pool.

Concurrency rules this module keeps:
* Incident numbers come from a one-row counter updated in the creating transaction: the
  row lock serialises concurrent creates and a rollback gives the number back (gap-free).
* `commit` updates the incident row only at the version it read (optimistic concurrency);
  the row lock also orders notices per incident, so outbox ids follow commit order.
* Timer and outbox claims are single `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)`
  statements that stamp a lease (`claim_owner`, `claim_until`) and push `ready_at` to the
  lease end: a replica killed after claiming (kill -9) loses its work to another replica
  when the lease runs out; a replica that stops cleanly calls `release_claims`.
* `migrate` runs in one transaction under `pg_advisory_xact_lock`, so replicas starting
  together apply each migration once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import asyncpg

from bot.core.model import TimerKind
from bot.core.records import Change
from bot.errors import InfraError
from bot.storage import codec, sql
from bot.storage.codec import Row, TimeCodec, utc
from bot.storage.dsn import redact, scrub
from bot.storage.migrator import SCHEMA_VERSION_TABLE, migrations
from bot.storage.sqlstore import SqlStore

# Any constant shared by all replicas; "incidentbot" in ASCII.
_MIGRATION_LOCK = 0x696E636964656E74

# Everything a `Change` writes for incident :incident, in one statement (one round trip
# while the incident row, and for a create the counter row, is locked). Rows come in as
# parallel arrays; WITH ORDINALITY keeps the given order, so ids follow it.
_WRITE_CHANGE = """
WITH tl AS (
    INSERT INTO timeline (incident, at, kind, text, actor)
    SELECT :incident, u.at, u.kind, u.text, u.actor
    FROM unnest(:tl_at::timestamptz[], :tl_kind::text[], :tl_text::text[], :tl_actor::jsonb[])
         WITH ORDINALITY AS u(at, kind, text, actor, ord)
    ORDER BY u.ord
), nt AS (
    INSERT INTO notices (incident, platform, kind, channel, message, data, attempts,
                         next_attempt_at, ready_at)
    SELECT u.incident, u.platform, u.kind, u.channel, u.message, u.data, u.attempts,
           :epoch, :epoch
    FROM unnest(:n_incident::integer[], :n_platform::text[], :n_kind::text[],
                :n_channel::text[], :n_message::jsonb[], :n_data::jsonb[],
                :n_attempts::integer[])
         WITH ORDINALITY AS u(incident, platform, kind, channel, message, data, attempts, ord)
    ORDER BY u.ord
), upserted AS (
    INSERT INTO timers (incident, kind, due_at, ready_at)
    SELECT :incident, u.kind, u.due_at, u.due_at
    FROM unnest(:set_kind::text[], :set_due::timestamptz[]) AS u(kind, due_at)
    ON CONFLICT (incident, kind) DO UPDATE
    SET due_at = excluded.due_at, ready_at = excluded.ready_at,
        claim_owner = NULL, claim_until = NULL
)
DELETE FROM timers WHERE incident = :incident AND kind = ANY(:cleared::text[])
"""
_CLAIM_TIMERS = """
WITH due AS (
    SELECT incident, kind FROM timers
    WHERE ready_at <= :now
    ORDER BY ready_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE timers t
SET claim_owner = :owner, claim_until = :until, ready_at = greatest(t.due_at, :until)
FROM due
WHERE t.incident = due.incident AND t.kind = due.kind
RETURNING t.incident, t.kind, t.due_at
"""
# The head of each pending lane (the lanes: see `sql.py`): no older live notice of the same
# incident in the same lane. Dead notices are out: they block no lane, and they are never
# ready (`ready_at` = NEVER), so the claim leaves out the `n.failed_at IS NULL` test, whose
# guessed selectivity on fresh statistics turns the claim into a scan of the whole outbox
# (610 ms instead of 3 ms at 40,000 pending notices, bench/store_bench.py).
_LANE_FREE = (
    "NOT EXISTS (SELECT 1 FROM notices o"
    " WHERE o.incident = n.incident AND (o.kind = 'page') = (n.kind = 'page')"
    " AND (n.kind <> 'page' OR o.channel = n.channel) AND o.failed_at IS NULL AND o.id < n.id)"
)
_IS_HEAD = f"n.failed_at IS NULL AND {_LANE_FREE}"
_NEXT_NOTICE_AT = f"SELECT min(ready_at) AS at FROM notices n WHERE {_IS_HEAD}"
_CLAIM_NOTICES = f"""
WITH heads AS (
    SELECT n.id FROM notices n
    WHERE n.ready_at <= :now AND {_LANE_FREE}
    ORDER BY n.id
    LIMIT :limit
    FOR UPDATE OF n SKIP LOCKED
)
UPDATE notices
SET claim_owner = :owner, claim_until = :until, ready_at = :until,
    claims = notices.claims + 1, first_claimed_at = coalesce(notices.first_claimed_at, :now)
FROM heads
WHERE notices.id = heads.id
RETURNING notices.id, notices.incident, notices.platform, notices.kind, notices.channel,
          notices.message, notices.data, notices.attempts, notices.claims,
          notices.first_claimed_at
"""


class PostgresStore(SqlStore[asyncpg.Connection]):
    """An `IncidentStore` in PostgreSQL at `dsn` (`postgresql://…` or `postgres://…`).

    The pool opens on first use; `migrate()` (called at start-up) opens it and brings the
    schema up to date. Query parameters asyncpg does not know become server settings, so
    `?search_path=myschema` keeps the tables in a schema of their own.
    Driver and connection failures surface as `InfraError`, without the password.
    """

    dialect: ClassVar[sql.Dialect] = "postgres"
    time: ClassVar[TimeCodec] = TimeCodec(utc, utc)
    # The one-row counter is updated in the creating transaction (see the module notes).
    _insert_incident: ClassVar[str] = sql.insert_incident(
        "SELECT last_number FROM n",
        prefix="WITH n AS (UPDATE incident_counter SET last_number = last_number + 1"
        " RETURNING last_number) ",
    )

    _claim_timers: ClassVar[str] = _CLAIM_TIMERS
    _claim_notices: ClassVar[str] = _CLAIM_NOTICES
    _next_notice_at: ClassVar[str] = _NEXT_NOTICE_AT

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float = 30.0,
    ) -> None:
        super().__init__()
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._open_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"PostgresStore({redact(self._dsn)!r})"

    # ------------------------------------------------------------------ connections

    async def _open(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._open_lock:
            if self._pool is None:
                try:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=self._min_size,
                        max_size=self._max_size,
                        command_timeout=self._command_timeout,
                    )
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
                    raise self._infra("cannot connect to", exc) from None
            return self._pool

    def _infra(self, what: str, exc: BaseException) -> InfraError:
        detail = scrub(f"{type(exc).__name__}: {exc}", self._dsn)
        return InfraError(f"{what} PostgreSQL at {redact(self._dsn)}: {detail}")

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection (autocommit); driver errors become `InfraError`."""
        pool = await self._open()
        try:
            async with pool.acquire() as conn:
                yield conn
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise self._infra("query failed on", exc) from exc

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection inside one transaction, rolled back if the body raises."""
        async with self._conn() as conn, conn.transaction():
            yield conn

    # One statement is atomic on its own: reads and single writes use autocommit.
    _reading = _writing = _conn
    _transaction = _tx

    async def _fetch(
        self, conn: asyncpg.Connection, text: str, args: tuple[object, ...]
    ) -> Sequence[Row]:
        rows: list[Row] = await conn.fetch(text, *args)
        return rows

    async def migrate(self) -> None:
        async with self._tx() as conn:
            # Held until commit: replicas starting together take turns, and each one after
            # the first finds the schema current.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(SCHEMA_VERSION_TABLE)
            current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
            for mig in migrations("postgres"):
                if mig.version <= int(current):
                    continue
                await conn.execute(mig.sql)
                await conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at)"
                    " VALUES ($1, $2, now()::text)",
                    mig.version,
                    mig.name,
                )

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    # ------------------------------------------------------------------ batch writes

    async def _write_rows(self, conn: asyncpg.Connection, number: int, change: Change) -> None:
        if not (change.timeline or change.notices or change.timers):
            return
        timeline = _columns(
            [codec.timeline_values(number, e, self.time)[1:] for e in change.timeline], 4
        )
        notices = _columns(
            [codec.notice_values(number, n, self.time)[:7] for n in change.notices], 7
        )
        upserts = _columns(
            [(TimerKind(k).value, utc(d)) for k, d in change.timers.items() if d is not None], 2
        )
        params: dict[str, object] = {"incident": number, "epoch": codec.EPOCH}
        params.update(zip(("tl_at", "tl_kind", "tl_text", "tl_actor"), timeline, strict=True))
        names = ("incident", "platform", "kind", "channel", "message", "data", "attempts")
        params.update(zip((f"n_{c}" for c in names), notices, strict=True))
        params.update(zip(("set_kind", "set_due"), upserts, strict=True))
        params["cleared"] = [TimerKind(k).value for k, d in change.timers.items() if d is None]
        await self._rows(conn, _WRITE_CHANGE, params)


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Row tuples transposed into `width` parallel arrays (for unnest)."""
    return [[row[i] for row in rows] for i in range(width)]


__all__ = [
    "PostgresStore",
]
