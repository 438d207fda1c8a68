"""PostgreSQL probe (asyncpg): readiness, then read-only diagnostics on one connection.

Sequence (SQL from notes/probe-anchors.md §4.1): R0 identity and privileges, R1 connections
by state vs max_connections, R2 long-running active queries, R2b idle in transaction,
R3 blocked/blocking pairs via pg_blocking_pids (only for lock waiters), R4 database size,
R5/R6 slowest statements when pg_stat_statements is usable (else n/a).

The connection carries `statement_timeout`, `lock_timeout`, read-only transactions and an
`application_name` in its startup packet, so the server bounds every statement even if this
process dies; `command_timeout` bounds it client-side too. Query text is literal-masked.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

import asyncpg
from pydantic import field_validator

from probes.base import Findings, ProbeResult, Status, describe, fmt_bytes, fmt_seconds, single
from probes.kind import Duration, Kind, KindConfig, Percent, Threshold, url_secrets
from probes.redact import mask_sql

APPLICATION_NAME = "incidentbot-probe"

R0 = """
SELECT current_setting('server_version')                     AS version,
       current_setting('server_version_num')::int            AS version_num,
       pg_is_in_recovery()                                   AS in_recovery,
       extract(epoch FROM now() - pg_postmaster_start_time()) AS uptime_s,
       current_setting('max_connections')::int               AS max_connections,
       current_setting('superuser_reserved_connections')::int AS su_reserved,
       coalesce(current_setting('reserved_connections', true), '0')::int AS reserved,
       pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS can_see_all,
       current_user                                          AS role
"""

R1 = """
SELECT coalesce(state, 'unknown') AS state, count(*) AS n
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
GROUP BY 1 ORDER BY 2 DESC
"""

R2 = """
SELECT pid, usename, datname, wait_event_type, wait_event,
       extract(epoch FROM now() - query_start)::float8 AS running_s,
       left(query, 2048) AS query
FROM pg_stat_activity
WHERE state = 'active' AND backend_type = 'client backend'
  AND pid <> pg_backend_pid()
  AND query_start < now() - make_interval(secs => $1)
ORDER BY query_start LIMIT 20
"""

R2B = """
SELECT pid, usename, datname, state,
       extract(epoch FROM now() - state_change)::float8 AS idle_s,
       extract(epoch FROM now() - xact_start)::float8  AS xact_s
FROM pg_stat_activity
WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')
  AND state_change < now() - make_interval(secs => $1)
ORDER BY state_change LIMIT 20
"""

R3 = """
SELECT blocked.pid AS blocked_pid, blocked.usename AS blocked_user,
       extract(epoch FROM now() - blocked.query_start)::float8 AS waiting_s,
       blocked.wait_event AS lock_type,
       left(blocked.query, 2048) AS blocked_query,
       b.pid AS blocking_pid,
       blocker.usename AS blocking_user, blocker.state AS blocking_state,
       extract(epoch FROM now() - blocker.xact_start)::float8 AS blocking_xact_s,
       left(blocker.query, 2048) AS blocking_query
FROM pg_stat_activity AS blocked
CROSS JOIN LATERAL unnest(pg_blocking_pids(blocked.pid)) AS b(pid)
LEFT JOIN pg_stat_activity AS blocker ON blocker.pid = b.pid
WHERE blocked.wait_event_type = 'Lock'
ORDER BY blocked.query_start LIMIT 50
"""

R4 = "SELECT current_database() AS datname, pg_database_size(current_database()) AS bytes"

R5 = """
SELECT extnamespace::regnamespace::text AS schema, extversion
FROM pg_extension WHERE extname = 'pg_stat_statements'
"""

# R6 is formatted with the schema from R5 (a regnamespace text, already quoted) and the
# column names of the server's version (total_exec_time since PG 13).
R6 = """
SELECT queryid, calls, {mean}::float8 AS mean_ms, {total}::float8 AS total_ms,
       left(query, 2048) AS query
FROM {schema}.pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY {mean} DESC LIMIT 5
"""


async def connect(cfg: PostgresProbeConfig) -> asyncpg.Connection:
    """Opens the probe's connection with server-side bounds in the startup packet."""
    return await asyncpg.connect(
        cfg.dsn,
        timeout=cfg.timeout,
        command_timeout=cfg.statement_timeout + 1.0,
        statement_cache_size=0,  # safe behind pgbouncer in transaction mode
        server_settings={
            "application_name": APPLICATION_NAME,
            "statement_timeout": f"{int(cfg.statement_timeout * 1000)}ms",
            "lock_timeout": f"{int(cfg.lock_timeout * 1000)}ms",
            "idle_in_transaction_session_timeout": "10s",
            "default_transaction_read_only": "on",
        },
    )


class PostgresProbeConfig(KindConfig):
    """Readiness and diagnostics of one PostgreSQL database (use a pg_monitor role)."""

    kind: Literal["postgres"] = "postgres"
    dsn: str
    statement_timeout: Duration = 3.0
    lock_timeout: Duration = 1.0
    long_query: Threshold = 30.0
    long_query_fail: Threshold = 300.0
    lock_wait_warn: Threshold = 10.0
    lock_wait_fail: Threshold = 60.0
    warn_connections_pct: Percent = 80.0
    fail_connections_pct: Percent = 100.0

    @field_validator("dsn")
    @classmethod
    def _pg_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("a postgresql:// URL")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ValueError("a postgresql:// URL with a numeric port") from None
        return v

    def target_key(self) -> str | None:
        parts = urlsplit(self.dsn)
        return f"postgres:{parts.hostname}:{parts.port or 5432}{parts.path}"

    def secrets(self) -> list[str]:
        return url_secrets(self.dsn)


class PostgresProbe:
    def __init__(self, config: PostgresProbeConfig) -> None:
        self.config = config

    async def check(self) -> ProbeResult:
        started = time.perf_counter()
        cfg = self.config
        try:
            conn = await connect(cfg)
        except asyncpg.CannotConnectNowError as exc:
            return single(cfg, Status.FAIL, f"rejecting connections: {exc}", started)
        except (
            asyncpg.InvalidPasswordError,
            asyncpg.InvalidAuthorizationSpecificationError,
        ) as exc:
            return single(
                cfg, Status.ERROR, f"server up, probe credentials rejected: {exc}", started
            )
        except asyncpg.InvalidCatalogNameError as exc:
            return single(cfg, Status.ERROR, f"server up, database missing: {exc}", started)
        except asyncpg.PostgresError as exc:
            return single(cfg, Status.ERROR, f"connect refused by server: {describe(exc)}", started)
        except (OSError, TimeoutError) as exc:
            return single(cfg, Status.FAIL, f"no response: {describe(exc)}", started)
        except (asyncpg.InterfaceError, ValueError) as exc:
            return single(cfg, Status.ERROR, f"no attempt, bad DSN: {describe(exc)}", started)
        f = Findings()
        try:
            ok = await self._diagnose(conn, f)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            # Keep what was learnt so far; the server answered, so "could not judge".
            f.error(f"diagnostics stopped: {describe(exc)}")
            ok = ""
        finally:
            # terminate(), not close(): close() waits on the server, which may be the
            # thing that is hung, and we may be running under a cancelled deadline.
            conn.terminate()
        return f.result(cfg, ok, started)

    async def _diagnose(self, conn: asyncpg.Connection, f: Findings) -> str:
        r0 = await conn.fetchrow(R0)
        role = "replica (in recovery)" if r0["in_recovery"] else "primary"
        f.ok(f"PostgreSQL {r0['version']}, {role}, up {fmt_seconds(float(r0['uptime_s']))}")
        if not r0["can_see_all"]:
            f.warn(f"probe role {r0['role']} lacks pg_monitor; session data partial")
        usable = int(r0["max_connections"]) - int(r0["su_reserved"]) - int(r0["reserved"])
        total = await self._connections(conn, f, usable)
        await self._long_running(conn, f)
        await self._blocking(conn, f)
        await self._optional(f, "database size", self._size(conn, f))
        await self._optional(f, "slowest statements", self._statements(conn, f, r0))
        return f"{r0['version']} {role}, {total}/{usable} connections"

    async def _connections(self, conn: asyncpg.Connection, f: Findings, usable: int) -> int:
        cfg = self.config
        rows = await conn.fetch(R1)
        total = sum(int(r["n"]) for r in rows) + 1  # + this probe's own connection
        states = ", ".join(f"{r['state']} {r['n']}" for r in rows) or "no other sessions"
        pct = 100.0 * total / usable if usable > 0 else 100.0
        text = f"connections {total}/{usable} ({pct:.0f} %): {states}"
        if pct >= cfg.fail_connections_pct:
            f.fail(text)
        elif pct >= cfg.warn_connections_pct:
            f.warn(text)
        else:
            f.ok(text)
        return total

    async def _long_running(self, conn: asyncpg.Connection, f: Findings) -> None:
        cfg = self.config
        self._grade_each(
            f,
            await conn.fetch(R2, cfg.long_query),
            "running_s",
            lambda r, secs: (
                f"query running {fmt_seconds(secs)}: pid {r['pid']} {r['usename']}@{r['datname']}"
                + (
                    f", waiting on {r['wait_event_type']}/{r['wait_event']}"
                    if r["wait_event"]
                    else ""
                )
                + f": {mask_sql(r['query'] or '')}"
            ),
            f"no query running longer than {fmt_seconds(cfg.long_query)}",
        )
        self._grade_each(
            f,
            await conn.fetch(R2B, cfg.long_query),
            "idle_s",
            lambda r, secs: (
                f"{r['state']} for {fmt_seconds(secs)}"
                f" (transaction open {fmt_seconds(float(r['xact_s'] or 0.0))}):"
                f" pid {r['pid']} {r['usename']}@{r['datname']}"
            ),
            f"no session idle in transaction longer than {fmt_seconds(cfg.long_query)}",
        )

    def _grade_each(
        self,
        f: Findings,
        rows: Sequence[Any],
        seconds_field: str,
        say: Callable[[Any, float], str],
        none: str,
    ) -> None:
        """Grades each row by its `seconds_field` against the long-query thresholds, said as
        `say(row, seconds)`; `none` is the finding when there is no such row."""
        for r in rows:
            secs = float(r[seconds_field])
            self._grade(f, secs, self.config.long_query, self.config.long_query_fail, say(r, secs))
        if not rows:
            f.ok(none)

    async def _blocking(self, conn: asyncpg.Connection, f: Findings) -> None:
        cfg = self.config
        rows = await conn.fetch(R3)
        for r in rows:
            secs = float(r["waiting_s"] or 0.0)
            holder = (
                "a prepared transaction"
                if r["blocking_pid"] == 0
                else f"pid {r['blocking_pid']} {r['blocking_user']} ({r['blocking_state']},"
                f" transaction open {fmt_seconds(float(r['blocking_xact_s'] or 0.0))}):"
                f" {mask_sql(r['blocking_query'] or '')}"
            )
            text = (
                f"pid {r['blocked_pid']} {r['blocked_user']} waiting {fmt_seconds(secs)} on"
                f" {r['lock_type']} lock: {mask_sql(r['blocked_query'] or '')}"
                f" — blocked by {holder}"
            )
            self._grade(f, secs, cfg.lock_wait_warn, cfg.lock_wait_fail, text)
        if not rows:
            f.ok("no session waiting on a lock")

    async def _size(self, conn: asyncpg.Connection, f: Findings) -> None:
        r = await conn.fetchrow(R4)
        f.info(f"database {r['datname']}: {fmt_bytes(float(r['bytes']))}")

    async def _statements(self, conn: asyncpg.Connection, f: Findings, r0: Any) -> None:
        ext = await conn.fetchrow(R5)
        if ext is None:
            f.na("slowest statements: pg_stat_statements is not installed in this database")
            return
        new = int(r0["version_num"]) >= 130000
        sql = R6.format(
            schema=ext["schema"],
            mean="mean_exec_time" if new else "mean_time",
            total="total_exec_time" if new else "total_time",
        )
        try:
            rows = await conn.fetch(sql)
        except (
            asyncpg.UndefinedTableError,
            asyncpg.ObjectNotInPrerequisiteStateError,
            asyncpg.InsufficientPrivilegeError,
        ) as exc:
            f.na(f"slowest statements: {' '.join(str(exc).split())}")
            return
        if not rows:
            f.info("slowest statements: none recorded yet")
        for r in rows:
            f.info(
                f"slow statement: mean {float(r['mean_ms']):.1f} ms × {r['calls']} calls:"
                f" {mask_sql(r['query'] or '')}"
            )

    async def _optional(self, f: Findings, what: str, step: Awaitable[None]) -> None:
        """Runs an informational step; a privilege or timeout problem there is an error line,
        never the end of the probe."""
        try:
            await step
        except asyncpg.PostgresError as exc:
            f.error(f"{what}: {describe(exc)}")

    @staticmethod
    def _grade(f: Findings, secs: float, warn: float, fail: float, text: str) -> None:
        if secs >= fail:
            f.fail(text)
        elif secs >= warn:
            f.warn(text)
        else:
            f.info(text)


KIND = Kind(PostgresProbeConfig, lambda cfg, _client: PostgresProbe(cfg))
