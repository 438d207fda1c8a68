"""The store contract against `PostgresStore`, each test in a schema of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bot.core.model import TimerKind
from bot.core.ports import IncidentStore
from bot.core.records import Change
from bot.errors import InfraError
from bot.storage import open_store
from bot.storage.postgres import PostgresStore
from tests.contract.store_contract import (
    LEASE,
    T0,
    SameDb,
    StoreContract,
    make_incident,
    note,
)


@pytest.fixture
def store_url(pg_schema_url: str) -> str:
    """A fresh, empty schema for one test; dropped afterwards."""
    return pg_schema_url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[IncidentStore]:
    s = open_store(store_url)
    assert isinstance(s, PostgresStore)
    await s.migrate()
    yield s
    await s.aclose()


@pytest.fixture
async def same_db(store_url: str) -> AsyncIterator[SameDb]:
    opened: list[IncidentStore] = []

    async def factory() -> IncidentStore:
        s = PostgresStore(store_url, min_size=1, max_size=4)
        opened.append(s)
        await s.migrate()
        return s

    yield factory
    for s in opened:
        await s.aclose()


class TestPostgresStore(StoreContract):
    pass


async def test_replicas_migrating_at_once_apply_each_migration_once(store_url: str) -> None:
    stores = [PostgresStore(store_url, min_size=1, max_size=1) for _ in range(4)]
    try:
        await asyncio.gather(*(s.migrate() for s in stores))
        created = await stores[0].create(make_incident(), Change())
        assert created.number == 1
    finally:
        for s in stores:
            await s.aclose()
    conn = await asyncpg.connect(store_url)
    try:
        versions = await conn.fetch("SELECT version FROM schema_version ORDER BY version")
        assert [r["version"] for r in versions] == sorted({r["version"] for r in versions})
        assert versions[0]["version"] == 1
    finally:
        await conn.close()


async def test_creates_across_pool_connections_are_gap_free(store_url: str) -> None:
    s = PostgresStore(store_url, min_size=8, max_size=8)
    try:
        await s.migrate()
        results = await asyncio.gather(
            *(s.create(make_incident(f"{i}"), Change()) for i in range(50))
        )
    finally:
        await s.aclose()
    assert sorted(r.number for r in results) == list(range(1, 51))


async def test_lookups_and_claims_can_use_their_indexes(
    store: IncidentStore, store_url: str
) -> None:
    conn = await asyncpg.connect(store_url)
    try:
        # With sequential scans priced out, the planner shows which index serves each query.
        await conn.execute("SET enable_seqscan = off")

        async def plan(sql: str) -> str:
            return "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}"))

        assert "incidents_by_thread" in await plan(
            "SELECT number FROM incidents WHERE thread_platform = 'slack' AND thread_id = 'x'"
        )
        assert "timers_ready" in await plan("SELECT min(ready_at) FROM timers")
        assert "timers_ready" in await plan(
            "SELECT incident FROM timers WHERE ready_at <= now() ORDER BY ready_at LIMIT 10"
        )
    finally:
        await conn.close()


async def test_password_never_appears_in_errors(unused_port: int) -> None:
    url = f"postgresql://bot:s3cr3t-pw@127.0.0.1:{unused_port}/nothing"
    s = open_store(url)
    with pytest.raises(InfraError, match="cannot connect") as info:
        await s.migrate()
    assert "s3cr3t-pw" not in str(info.value)
    assert "***" in str(info.value)
    assert "s3cr3t-pw" not in repr(s)
    await s.aclose()


async def test_claims_skip_rows_locked_by_another_replica(
    store: IncidentStore, store_url: str
) -> None:
    """A replica mid-claim (its transaction holding a timer/notice row) does not stall
    the others: they skip that row and take the rest."""
    for i in range(3):
        await store.create(
            make_incident(f"{i}"), Change(timers={TimerKind.REMINDER: T0}, notices=[note("n")])
        )
    other = await asyncpg.connect(store_url)
    try:
        async with other.transaction():
            await other.execute("SELECT 1 FROM timers WHERE incident = 1 FOR UPDATE")
            await other.execute("SELECT 1 FROM notices WHERE incident = 1 FOR UPDATE")
            timers = await asyncio.wait_for(store.claim_due(T0, "b", LEASE, 10), 5)
            notices = await asyncio.wait_for(store.claim_notices(T0, "b", LEASE, 10), 5)
        assert sorted(t.incident for t in timers) == [2, 3]
        assert sorted(n.incident for n in notices) == [2, 3]
        # Once the lock is gone the skipped rows are claimable as usual.
        assert [t.incident for t in await store.claim_due(T0, "b", LEASE, 10)] == [1]
    finally:
        await other.close()
