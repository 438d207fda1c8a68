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
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from bot.core.messages import Notice
from bot.core.model import ChannelRef, Incident, Severity, TimelineEntry, TimerKind
from bot.core.records import Change, Timer
from bot.errors import ConflictError, DuplicateRequest, InfraError
from bot.storage import codec
from bot.storage.codec import INCIDENT_COLUMNS, TimeCodec, utc
from bot.storage.dsn import redact, scrub
from bot.storage.migrator import SCHEMA_VERSION_TABLE, migrations

TIME = TimeCodec(utc, utc)

# Any constant shared by all replicas; "incidentbot" in ASCII.
_MIGRATION_LOCK = 0x696E636964656E74

_COLS = ", ".join(INCIDENT_COLUMNS)
_N = len(INCIDENT_COLUMNS)
_INSERT_INCIDENT = (
    "WITH n AS (UPDATE incident_counter SET last_number = last_number + 1"
    " RETURNING last_number) "
    f"INSERT INTO incidents (number, version, {_COLS}) VALUES ((SELECT last_number FROM n), 1, "
    f"{', '.join(f'${i}' for i in range(1, _N + 1))}) RETURNING number"
)
_UPDATE_INCIDENT = (
    "UPDATE incidents SET version = version + 1, "
    f"{', '.join(f'{c} = ${i}' for i, c in enumerate(INCIDENT_COLUMNS, 1))} "
    f"WHERE number = ${_N + 1} AND version = ${_N + 2} RETURNING version"
)
_SELECT_INCIDENT = f"SELECT number, version, {_COLS} FROM incidents"
# Everything a `Change` writes for incident $1, in one statement (one round trip while the
# incident row, and for a create the counter row, is locked). Rows come in as parallel
# arrays; WITH ORDINALITY keeps the given order, so ids follow it.
_WRITE_CHANGE = """
WITH tl AS (
    INSERT INTO timeline (incident, at, kind, text, actor)
    SELECT $1, u.at, u.kind, u.text, u.actor
    FROM unnest($2::timestamptz[], $3::text[], $4::text[], $5::jsonb[])
         WITH ORDINALITY AS u(at, kind, text, actor, ord)
    ORDER BY u.ord
), nt AS (
    INSERT INTO notices (incident, platform, kind, channel, message, data, attempts,
                         next_attempt_at, ready_at)
    SELECT u.incident, u.platform, u.kind, u.channel, u.message, u.data, u.attempts, $13, $13
    FROM unnest($6::integer[], $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::jsonb[],
                $12::integer[])
         WITH ORDINALITY AS u(incident, platform, kind, channel, message, data, attempts, ord)
    ORDER BY u.ord
), upserted AS (
    INSERT INTO timers (incident, kind, due_at, ready_at)
    SELECT $1, u.kind, u.due_at, u.due_at
    FROM unnest($14::text[], $15::timestamptz[]) AS u(kind, due_at)
    ON CONFLICT (incident, kind) DO UPDATE
    SET due_at = excluded.due_at, ready_at = excluded.ready_at,
        claim_owner = NULL, claim_until = NULL
)
DELETE FROM timers WHERE incident = $1 AND kind = ANY($16::text[])
"""
_CLAIM_TIMERS = """
WITH due AS (
    SELECT incident, kind FROM timers
    WHERE ready_at <= $1
    ORDER BY ready_at
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
UPDATE timers t
SET claim_owner = $2, claim_until = $3, ready_at = greatest(t.due_at, $3)
FROM due
WHERE t.incident = due.incident AND t.kind = due.kind
RETURNING t.incident, t.kind, t.due_at
"""
# Only an incident's oldest pending notice (its head) may be claimed; the rest wait.
# The head of each pending lane: an incident's chat notices in order, and its pages in one
# lane per pager (`channel` names the pager), so a pager outage never holds up the thread
# (nor the "paging failed" alarm posted there) nor any other pager. Dead notices are out.
_IS_HEAD = (
    "n.failed_at IS NULL AND NOT EXISTS (SELECT 1 FROM notices o"
    " WHERE o.incident = n.incident AND (o.kind = 'page') = (n.kind = 'page')"
    " AND (n.kind <> 'page' OR o.channel = n.channel) AND o.failed_at IS NULL AND o.id < n.id)"
)
_CLAIM_NOTICES = f"""
WITH heads AS (
    SELECT n.id FROM notices n
    WHERE n.ready_at <= $1 AND {_IS_HEAD}
    ORDER BY n.id
    LIMIT $4
    FOR UPDATE OF n SKIP LOCKED
)
UPDATE notices
SET claim_owner = $2, claim_until = $3, ready_at = $3,
    claims = notices.claims + 1, first_claimed_at = coalesce(notices.first_claimed_at, $1)
FROM heads
WHERE notices.id = heads.id
RETURNING notices.id, notices.incident, notices.platform, notices.kind, notices.channel,
          notices.message, notices.data, notices.attempts, notices.claims,
          notices.first_claimed_at
"""
_PRUNE_EVERY = timedelta(hours=1)
_KEEP_KEYS = timedelta(days=1)


class PostgresStore:
    """An `IncidentStore` in PostgreSQL at `dsn` (`postgresql://…` or `postgres://…`).

    The pool opens on first use; `migrate()` (called at start-up) opens it and brings the
    schema up to date. Query parameters asyncpg does not know become server settings, so
    `?search_path=myschema` keeps the tables in a schema of their own.
    Driver and connection failures surface as `InfraError`, without the password.
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float = 30.0,
    ) -> None:
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._open_lock = asyncio.Lock()
        self._last_prune: datetime | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({redact(self._dsn)!r})"

    # ------------------------------------------------------------------ lifecycle

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

    async def ping(self) -> None:
        async with self._conn() as conn:
            await conn.fetchval("SELECT 1")

    # ------------------------------------------------------------------ incidents

    async def create(
        self, incident: Incident, change: Change | Callable[[Incident], Change]
    ) -> Incident:
        values = codec.incident_values(incident, TIME)
        async with self._tx() as conn:
            number = int(await conn.fetchval(_INSERT_INCIDENT, *values))
            created = incident.evolve(number=number, version=1)
            await _write_change(conn, number, change(created) if callable(change) else change)
        return created

    async def commit(self, incident: Incident, change: Change) -> Incident:
        values = codec.incident_values(incident, TIME)
        async with self._tx() as conn:
            row = await conn.fetchrow(_UPDATE_INCIDENT, *values, incident.number, incident.version)
            if row is None:
                raise ConflictError(
                    f"{incident.key} changed since version {incident.version} was read"
                )
            await _write_change(conn, incident.number, change)
        return incident.evolve(version=incident.version + 1)

    async def get(self, number: int) -> Incident | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(f"{_SELECT_INCIDENT} WHERE number = $1", number)
        return codec.incident_from(row, TIME) if row else None

    async def list_incidents(
        self,
        *,
        open_only: bool = True,
        limit: int = 100,
        offset: int = 0,
        severity: Severity | None = None,
    ) -> list[Incident]:
        where, args = _filters(open_only, severity, None)
        n = len(args)
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"{_SELECT_INCIDENT} {where} ORDER BY number DESC LIMIT ${n + 1} OFFSET ${n + 2}",
                *args,
                limit,
                offset,
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
        async with self._conn() as conn:
            value = await conn.fetchval(f"SELECT count(*) FROM incidents {where}", *args)
        return int(value)

    async def find_by_thread(self, platform: str, thread: str) -> Incident | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                f"{_SELECT_INCIDENT} WHERE thread_platform = $1 AND thread_id = $2"
                " ORDER BY number DESC LIMIT 1",
                platform,
                thread,
            )
        return codec.incident_from(row, TIME) if row else None

    async def set_thread(self, number: int, thread: ChannelRef) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "UPDATE incidents SET thread_platform = $1, thread_channel = $2, thread_id = $3,"
                " version = version + 1 WHERE number = $4",
                thread.platform,
                thread.channel,
                thread.thread,
                number,
            )

    async def timeline(self, number: int) -> list[TimelineEntry]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT at, kind, text, actor FROM timeline WHERE incident = $1 ORDER BY at, id",
                number,
            )
        return [codec.timeline_from(r, TIME) for r in rows]

    async def count_open(self) -> dict[str, int]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT severity, count(*) AS n FROM incidents WHERE status <> 'resolved'"
                " GROUP BY severity"
            )
        counts = {s.value: 0 for s in Severity}
        counts.update({str(r["severity"]): int(r["n"]) for r in rows})
        return counts

    # ------------------------------------------------------------------ timers

    async def next_due_at(self) -> datetime | None:
        async with self._conn() as conn:
            value = await conn.fetchval("SELECT min(ready_at) FROM timers")
        return utc(value) if value is not None else None

    async def claim_due(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Timer]:
        async with self._conn() as conn:
            rows = await conn.fetch(_CLAIM_TIMERS, utc(now), owner, utc(now + lease), limit)
        timers = [Timer(int(r["incident"]), TimerKind(r["kind"]), utc(r["due_at"])) for r in rows]
        return sorted(timers, key=lambda t: (t.due_at, t.incident, t.kind))

    async def release_claims(self, owner: str) -> None:
        async with self._tx() as conn:
            await conn.execute(
                "UPDATE timers SET claim_owner = NULL, claim_until = NULL, ready_at = due_at"
                " WHERE claim_owner = $1",
                owner,
            )
            await conn.execute(
                "UPDATE notices SET claim_owner = NULL, claim_until = NULL,"
                " ready_at = next_attempt_at WHERE claim_owner = $1",
                owner,
            )

    # ------------------------------------------------------------------ outbox

    async def next_notice_at(self) -> datetime | None:
        async with self._conn() as conn:
            value = await conn.fetchval(f"SELECT min(ready_at) FROM notices n WHERE {_IS_HEAD}")
        return utc(value) if value is not None else None

    async def claim_notices(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Notice]:
        async with self._conn() as conn:
            rows = await conn.fetch(_CLAIM_NOTICES, utc(now), owner, utc(now + lease), limit)
        return sorted((codec.notice_from(r, TIME) for r in rows), key=lambda n: n.id)

    async def notice_delivered(self, notice_id: int) -> None:
        async with self._conn() as conn:
            await conn.execute("DELETE FROM notices WHERE id = $1", notice_id)

    async def notice_failed(self, notice_id: int, retry_at: datetime, error: str) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "UPDATE notices SET attempts = attempts + 1, next_attempt_at = $2,"
                " ready_at = $2, claim_owner = NULL, claim_until = NULL, last_error = $3"
                " WHERE id = $1",
                notice_id,
                utc(retry_at),
                error[:2000],
            )

    async def notice_dead(self, notice_id: int, at: datetime, error: str) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "UPDATE notices SET attempts = attempts + 1, failed_at = $2,"
                " claim_owner = NULL, claim_until = NULL, last_error = $3 WHERE id = $1",
                notice_id,
                utc(at),
                error[:2000],
            )

    async def dead_notices(self, incident: int) -> list[Notice]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"SELECT {codec.NOTICE_CLAIM_COLUMNS}"
                " FROM notices WHERE incident = $1 AND failed_at IS NOT NULL ORDER BY id",
                incident,
            )
        return [codec.notice_from(r, TIME) for r in rows]

    # ------------------------------------------------------------------ idempotency

    async def first_time(self, key: str, now: datetime) -> bool:
        async with self._conn() as conn:
            fresh = await conn.fetchval(
                "INSERT INTO seen_keys (key, seen_at) VALUES ($1, $2)"
                " ON CONFLICT (key) DO NOTHING RETURNING true",
                key,
                utc(now),
            )
            if self._last_prune is None or now - self._last_prune >= _PRUNE_EVERY:
                self._last_prune = now
                await conn.execute(
                    "DELETE FROM seen_keys WHERE seen_at < $1", utc(now - _KEEP_KEYS)
                )
        return bool(fresh)


async def _write_change(conn: asyncpg.Connection, number: int, change: Change) -> None:
    """Writes `change` for incident `number` inside the caller's transaction."""
    if change.request is not None:
        # Recorded with the change it caused: a redelivered request writes nothing.
        fresh = await conn.fetchval(
            "INSERT INTO seen_keys (key, seen_at) VALUES ($1, now())"
            " ON CONFLICT (key) DO NOTHING RETURNING true",
            change.request,
        )
        if not fresh:
            raise DuplicateRequest(change.request)
    if not (change.timeline or change.notices or change.timers):
        return
    timeline = [codec.timeline_values(number, e, TIME)[1:] for e in change.timeline]
    notices = [codec.notice_values(number, n, TIME)[:7] for n in change.notices]
    upserts = [(TimerKind(k).value, utc(d)) for k, d in change.timers.items() if d is not None]
    deletes = [TimerKind(k).value for k, d in change.timers.items() if d is None]
    await conn.execute(
        _WRITE_CHANGE,
        number,
        *_columns(timeline, 4),
        *_columns(notices, 7),
        codec.EPOCH,
        *_columns(upserts, 2),
        deletes,
    )


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Row tuples transposed into `width` parallel arrays (for unnest)."""
    return [[row[i] for row in rows] for i in range(width)]


def _filters(
    open_only: bool, severity: Severity | None, private: bool | None
) -> tuple[str, tuple[object, ...]]:
    """The WHERE clause (with $n placeholders) and arguments of the incident listings."""
    conds: list[str] = ["status <> 'resolved'"] if open_only else []
    args: list[object] = []
    if severity is not None:
        args.append(severity.value)
        conds.append(f"severity = ${len(args)}")
    if private is not None:
        args.append(private)
        conds.append(f"private = ${len(args)}")
    return ("WHERE " + " AND ".join(conds) if conds else ""), tuple(args)
