"""The store contract against `SqliteStore` on a temporary file, plus SQLite specifics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.ports import IncidentStore
from bot.core.records import Change
from bot.storage import open_store
from bot.storage.sqlite import SqliteStore
from tests.contract.store_contract import SameDb, StoreContract, make_incident


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    # Nested, not-yet-existing directories: the store creates them.
    return f"sqlite:///{tmp_path}/data/nested/incidentbot.db"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[IncidentStore]:
    s = open_store(store_url)
    assert isinstance(s, SqliteStore)
    await s.migrate()
    yield s
    await s.aclose()


@pytest.fixture
async def same_db(store_url: str) -> AsyncIterator[SameDb]:
    opened: list[IncidentStore] = []

    async def factory() -> IncidentStore:
        s = open_store(store_url)
        opened.append(s)
        await s.migrate()
        return s

    yield factory
    for s in opened:
        await s.aclose()


class TestSqliteStore(StoreContract):
    pass


async def test_wal_mode_and_schema_version(store: IncidentStore, store_url: str) -> None:
    import sqlite3

    await store.create(make_incident(), Change())
    path = store_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT max(version) FROM schema_version").fetchone()[0] >= 1
        plan = " ".join(
            str(r[3])
            for r in raw.execute(
                "EXPLAIN QUERY PLAN SELECT number FROM incidents"
                " WHERE thread_platform = 'slack' AND thread_id = 'x'"
            )
        )
        assert "incidents_by_thread" in plan
        plan = " ".join(
            str(r[3]) for r in raw.execute("EXPLAIN QUERY PLAN SELECT min(ready_at) FROM timers")
        )
        assert "timers_ready" in plan
    raw.close()


async def test_in_memory_store_works() -> None:
    s = open_store("sqlite:///:memory:")
    await s.migrate()
    created = await s.create(make_incident(), Change())
    assert await s.get(created.number) == created
    await s.aclose()
