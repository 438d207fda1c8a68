"""A PostgreSQL schema of one's own, for tests and benchmarks sharing one database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


def with_search_path(url: str, schema: str) -> str:
    """`url` with `search_path` set to `schema` (the stores honour it)."""
    return f"{url}{'&' if '?' in url else '?'}search_path={schema}"


@asynccontextmanager
async def fresh_schema(pg_url: str, prefix: str = "ib_test") -> AsyncIterator[str]:
    """A new empty schema; yields the DSN whose search_path points at it; drops it after."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        yield with_search_path(pg_url, schema)
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()
