"""Redis probe against the real server, plus a TCP server that accepts and never answers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis

from probes.base import ProbeResult, Status
from probes.config import parse_probes
from probes.runner import Runner
from tests.integration.probes.servers import silent_server


async def run_redis(url: str, **extra: object) -> ProbeResult:
    config = {"name": "cache", "service": "backend", "kind": "redis", "url": url, **extra}
    return (await Runner(parse_probes([config])).run(["cache"])).results[0]


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_healthy_redis(redis_url: str) -> None:
    r = await run_redis(redis_url)
    assert r.status is Status.OK, r
    text = "\n".join(r.details)
    assert text.startswith("✓ PING ")
    assert "✓ memory " in text
    assert "✓ clients " in text
    assert "· keyspace: " in text
    assert "· since start: hit ratio " in text
    assert r.elapsed_s < 0.5


async def test_slowlog_shows_command_and_key_but_never_values(
    redis_url: str, admin: aioredis.Redis
) -> None:
    key = f"probe:test:{uuid.uuid4().hex[:8]}"
    old = (await admin.config_get("slowlog-log-slower-than"))["slowlog-log-slower-than"]
    assert old is not None
    try:
        await admin.config_set("slowlog-log-slower-than", 0)
        await admin.set(key, "secret-value-abc")
    finally:
        await admin.config_set("slowlog-log-slower-than", old)
        await admin.delete(key)
    r = await run_redis(redis_url, slowlog_count=128, slowlog_min=0)  # list every entry
    text = "\n".join(r.details)
    assert f"SET {key} … (3 args)" in text
    assert "secret-value-abc" not in text + r.summary
    assert any(d.startswith("· slowlog: ") and "recent entries" in d for d in r.details)


async def test_slowlog_lists_only_commands_that_were_slow(
    redis_url: str, admin: aioredis.Redis
) -> None:
    """With slowlog-log-slower-than lowered to 0 every command is logged; a 20 µs SET (or the
    probe's own INFO) is not "slow": it is counted, never listed as `slow: 0.0 ms`."""
    key = f"probe:fast:{uuid.uuid4().hex[:8]}"
    old = (await admin.config_get("slowlog-log-slower-than"))["slowlog-log-slower-than"]
    assert old is not None
    try:
        await admin.config_set("slowlog-log-slower-than", 0)  # as briefly as possible: shared
        await admin.set(key, "v")
    finally:
        await admin.config_set("slowlog-log-slower-than", old)
    try:
        await admin.eval("local t = redis.call('TIME') while true do local n = redis.call("
                         "'TIME') if (n[1] - t[1]) * 1000000 + n[2] - t[2] > 30000 then "
                         "return 1 end end", 0)  # fmt: skip
        r = await run_redis(redis_url, slowlog_count=128)
    finally:
        await admin.delete(key)
    slow = [d for d in r.details if d.startswith("· slow: ")]
    assert any("EVAL" in d for d in slow), r.details  # the 30 ms script is listed
    assert all(float(d.split("slow: ")[1].split(" ms,")[0]) >= 10.0 for d in slow), slow
    assert not [d for d in r.details if f"SET {key}" in d or "INFO" in d]
    summary = next(d for d in r.details if d.startswith("· slowlog: "))
    counted = int(summary.split("slowlog: ")[1].split(" recent")[0])
    listed = int(summary.split("; ")[1].split(" at or above")[0])
    assert "at or above 10.0 ms" in summary and listed == len(slow)
    assert counted > listed  # the fast ones were there, counted, not listed


async def test_hit_ratio_over_a_sample_window(redis_url: str, admin: aioredis.Redis) -> None:
    probe = asyncio.create_task(run_redis(redis_url, sample_interval="300ms"))
    batches = 0
    while not probe.done():  # misses keep arriving throughout the probe's window
        async with admin.pipeline(transaction=False) as pipe:
            for i in range(50):
                pipe.get(f"probe:missing:{uuid.uuid4().hex}:{i}")
            await pipe.execute()
        batches += 1
    r = await probe
    line = next(d for d in r.details if "hit ratio" in d and "(last 0.3 s)" in d)
    lookups = int(line.split(" over ")[1].split(" ")[0])
    assert batches >= 2
    assert lookups >= 50
    ratio = float(line.split("hit ratio ")[1].split("%")[0]) / 100
    assert (line.startswith("⚠") and r.status is Status.WARN) == (ratio < 0.8)


async def test_hung_redis_fails_fast_because_retries_are_off() -> None:
    # redis-py 8 would retry ten times with backoff: 0.3 s would become several seconds.
    async with silent_server() as port:
        t0 = time.perf_counter()
        r = await run_redis(f"redis://:Hung-Pw@127.0.0.1:{port}/0", socket_timeout="300ms")
        wall = time.perf_counter() - t0
    assert r.status is Status.FAIL
    assert r.summary.startswith("no response in time")
    assert 0.3 <= wall < 1.0
    assert "Hung-Pw" not in r.summary + "".join(r.details)


async def test_hung_redis_without_socket_timeout_hits_the_deadline() -> None:
    async with silent_server() as port:
        t0 = time.perf_counter()
        r = await run_redis(f"redis://127.0.0.1:{port}/0", timeout="500ms")
        assert time.perf_counter() - t0 < 1.2
    assert r.status is Status.ERROR
    assert r.summary == "timed out after 0.5s"


async def test_refused_and_rejected_credentials(redis_url: str, unused_port: int) -> None:
    refused = await run_redis(f"redis://:Pw-Refused@127.0.0.1:{unused_port}/0")
    assert refused.status is Status.FAIL
    assert refused.summary.startswith("unreachable: ")
    p = urlsplit(redis_url)
    bad = urlunsplit((p.scheme, f"nobody:Wrong-Pw-9@{p.hostname}:{p.port or 6379}", p.path, "", ""))
    rejected = await run_redis(bad)
    assert rejected.status is Status.ERROR
    assert rejected.summary.startswith("server up, probe credentials rejected")
    for r in (refused, rejected):
        assert "Pw-Refused" not in r.summary + "".join(r.details)
        assert "Wrong-Pw-9" not in r.summary + "".join(r.details)
