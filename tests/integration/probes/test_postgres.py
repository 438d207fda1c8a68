"""PostgreSQL probe against the real server: real lock waits, real long queries, a real
role without pg_monitor, a hung endpoint."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from probes.base import ProbeResult, Status
from probes.config import PostgresProbeConfig, parse_probes
from probes.postgres import connect
from probes.runner import Runner
from tests.integration.probes.servers import silent_server


async def run_pg(dsn: str, **extra: object) -> ProbeResult:
    config = {"name": "db", "service": "backend", "kind": "postgres", "dsn": dsn, **extra}
    return (await Runner(parse_probes([config])).run(["db"])).results[0]


def with_user(url: str, user: str, password: str) -> str:
    p = urlsplit(url)
    netloc = f"{user}:{password}@{p.hostname}:{p.port or 5432}"
    return urlunsplit((p.scheme, netloc, p.path, p.query, p.fragment))


@pytest.fixture
async def admin(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_url)
    yield conn
    await conn.close()


async def wait_for(conn: asyncpg.Connection, sql: str, *args: object) -> None:
    """Polls until `sql` returns true (bounded: 5 s)."""
    async with asyncio.timeout(5):
        # The server's state has no event to wait on; poll it briefly.
        while not await conn.fetchval(sql, *args):  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_healthy_database_reports_identity_and_sections(pg_url: str) -> None:
    r = await run_pg(pg_url)
    assert r.status in (Status.OK, Status.WARN), r  # others' tests share this server
    text = "\n".join(r.details)
    assert "✓ PostgreSQL " in text and ", primary, up " in text
    assert "connections " in text
    assert "· database test: " in text
    assert "– n/a: slowest statements: pg_stat_statements is not installed" in text
    assert r.elapsed_s < 1.0


async def test_connection_carries_server_side_bounds(pg_url: str) -> None:
    cfg = parse_probes([{"name": "db", "service": "s", "kind": "postgres", "dsn": pg_url,
                         "statement_timeout": "3s", "lock_timeout": "1s"}])[0]  # fmt: skip
    assert isinstance(cfg, PostgresProbeConfig)
    conn = await connect(cfg)
    try:
        assert await conn.fetchval("SHOW statement_timeout") == "3s"
        assert await conn.fetchval("SHOW lock_timeout") == "1s"
        assert await conn.fetchval("SHOW default_transaction_read_only") == "on"
        assert await conn.fetchval("SHOW application_name") == "incidentbot-probe"
    finally:
        await conn.close()


async def test_blocked_and_blocking_pids_are_paired(pg_url: str, admin: asyncpg.Connection) -> None:
    table = f"probe_lock_{uuid.uuid4().hex[:8]}"
    await admin.execute(f"CREATE TABLE {table} (v text)")
    holder = await asyncpg.connect(pg_url)
    waiter = await asyncpg.connect(pg_url)
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        blocked = asyncio.create_task(
            waiter.fetch(f"SELECT * FROM {table} WHERE v = 'secret-literal-42'")
        )
        waiter_pid, holder_pid = waiter.get_server_pid(), holder.get_server_pid()
        await wait_for(
            admin,
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
            waiter_pid,
        )
        r = await run_pg(pg_url, lock_wait_warn=0)
        await tx.rollback()
        await blocked
    finally:
        await holder.close()
        await waiter.close()
        await admin.execute(f"DROP TABLE IF EXISTS {table}")
    line = next(d for d in r.details if f"pid {waiter_pid} " in d and "waiting" in d)
    assert line.startswith("⚠ ")
    assert f"blocked by pid {holder_pid} postgres (idle in transaction" in line
    assert f"SELECT * FROM {table} WHERE v = ?" in line
    assert "secret-literal-42" not in "\n".join(r.details) + r.summary
    assert r.status is Status.WARN


async def test_long_running_query_and_idle_in_transaction(
    pg_url: str, admin: asyncpg.Connection
) -> None:
    sleeper = await asyncpg.connect(pg_url)
    idler = await asyncpg.connect(pg_url)
    try:
        sleeping = asyncio.create_task(sleeper.fetch("SELECT pg_sleep(30), 'lit-xyz'"))
        tx = idler.transaction()
        await tx.start()
        await idler.execute("SELECT 1")
        await wait_for(
            admin,
            "SELECT bool_and(now() - coalesce(query_start, state_change) > interval '300 ms')"
            " FROM pg_stat_activity WHERE pid = ANY($1::int[])"
            " AND state IN ('active', 'idle in transaction')"
            " HAVING count(*) = 2",
            [sleeper.get_server_pid(), idler.get_server_pid()],
        )
        warned = await run_pg(pg_url, long_query="200ms")
        failed = await run_pg(pg_url, long_query="200ms", long_query_fail="250ms")
        sleeping.cancel()  # asyncpg sends a cancel request to the server
        with pytest.raises(asyncio.CancelledError):
            await sleeping
        await tx.rollback()
    finally:
        await sleeper.close()
        await idler.close()
    q = next(d for d in warned.details if f"pid {sleeper.get_server_pid()} " in d)
    assert q.startswith("⚠ query running ")
    assert q.endswith("SELECT pg_sleep(?), ?")
    idle = next(d for d in warned.details if f"pid {idler.get_server_pid()} " in d)
    assert idle.startswith("⚠ idle in transaction for ")
    assert warned.status is Status.WARN
    assert failed.status is Status.FAIL
    assert any(
        d.startswith("✗ query running") and f"pid {sleeper.get_server_pid()} " in d
        for d in failed.details
    )


async def test_role_without_pg_monitor_warns(pg_url: str, admin: asyncpg.Connection) -> None:
    role = f"probe_nomon_{uuid.uuid4().hex[:8]}"
    await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'Role-Pw-123'")
    try:
        r = await run_pg(with_user(pg_url, role, "Role-Pw-123"))
    finally:
        await admin.execute(f"DROP ROLE {role}")
    assert r.status is Status.WARN
    assert f"⚠ probe role {role} lacks pg_monitor; session data partial" in r.details
    assert "Role-Pw-123" not in "\n".join(r.details) + r.summary


async def test_rejected_credentials_are_an_error_without_the_password(pg_url: str) -> None:
    r = await run_pg(with_user(pg_url, "no_such_role_xyz", "Leak-Me-Pw"))
    assert r.status is Status.ERROR
    assert r.summary.startswith("server up, probe credentials rejected")
    assert "Leak-Me-Pw" not in r.summary + "".join(r.details)


async def test_unreachable_and_hung_servers(unused_port: int) -> None:
    refused = await run_pg(f"postgresql://u:Pw-Refused@127.0.0.1:{unused_port}/db")
    assert refused.status is Status.FAIL
    assert refused.summary.startswith("no response: ")
    assert "Pw-Refused" not in refused.summary
    async with silent_server() as port:
        t0 = time.perf_counter()
        hung = await run_pg(f"postgresql://u:Pw-Hung@127.0.0.1:{port}/db", timeout="600ms")
        assert time.perf_counter() - t0 < 1.3
    assert hung.status is Status.ERROR
    assert hung.summary == "timed out after 0.6s"


async def test_pg_stat_statements_created_but_not_preloaded_is_na(
    pg_url: str, admin: asyncpg.Connection
) -> None:
    db = f"probe_pgss_{uuid.uuid4().hex[:8]}"
    await admin.execute(f"CREATE DATABASE {db}")
    try:
        p = urlsplit(pg_url)
        url = urlunsplit((p.scheme, p.netloc, f"/{db}", p.query, p.fragment))
        setup = await asyncpg.connect(url)
        try:
            await setup.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        finally:
            await setup.close()
        r = await run_pg(url)
    finally:
        await admin.execute(f"DROP DATABASE {db} WITH (FORCE)")
    line = next(d for d in r.details if "slowest statements" in d)
    assert line.startswith("– n/a: slowest statements: ")
    assert "shared_preload_libraries" in line
    assert r.status is not Status.ERROR
