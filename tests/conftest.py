"""Shared fixtures: real PostgreSQL and Redis on loopback.

Tests that need a service read TEST_DATABASE_URL / TEST_REDIS_URL (defaulting to the
local servers). Where a service is absent they skip with the reason on a developer's
laptop, and fail instead when CI is set: CI must never pass by skipping.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest

from tests.fakes.tcp_proxy import TcpProxy
from tests.pgschema import fresh_schema

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def require_service(url: str, default_port: int, what: str) -> str:
    """Returns `url` if the service answers; otherwise skips (or fails under CI)."""
    if _reachable(url, default_port):
        return url
    reason = f"{what} not reachable at {urlsplit(url).netloc} (set {what_env(what)})"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {reason}", pytrace=False)
    pytest.skip(reason)


def what_env(what: str) -> str:
    return "TEST_DATABASE_URL" if what == "PostgreSQL" else "TEST_REDIS_URL"


@pytest.fixture
def pg_url() -> str:
    """DSN of a real PostgreSQL test database."""
    return require_service(TEST_DATABASE_URL, 5432, "PostgreSQL")


@pytest.fixture
def redis_url() -> str:
    """URL of a real Redis server."""
    return require_service(TEST_REDIS_URL, 6379, "Redis")


@pytest.fixture
async def pg_schema_url(pg_url: str) -> AsyncIterator[str]:
    """`pg_url` pointed at a fresh schema of its own (dropped afterwards)."""
    async with fresh_schema(pg_url) as url:
        yield url


@pytest.fixture
async def proxy(pg_url: str, unused_tcp_port_factory: Callable[[], int]) -> AsyncIterator[TcpProxy]:
    """A loopback TCP proxy to PostgreSQL that a test can cut and restore (an outage)."""
    parts = urlsplit(pg_url)
    p = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432, unused_tcp_port_factory())
    await p.restore()
    yield p
    await p.cut()


def via_proxy(url: str, proxy: TcpProxy) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}").geturl()


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


__all__ = ["TEST_DATABASE_URL", "TEST_REDIS_URL", "asyncio", "require_service"]
