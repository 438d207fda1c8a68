"""Redis probe (redis.asyncio): PING, INFO (memory, clients, stats, keyspace, persistence,
replication) and SLOWLOG GET on one connection, with retries OFF.

redis-py ≥ 8 retries ten times by default: against a hung server a 0.5 s socket timeout
became 9 s. A probe must report the first failure, so `Retry(NoBackoff(), 0)` and explicit
socket timeouts. Slowlog arguments are shown as command, first key and count only (Redis
logs values verbatim).

Counters such as keyspace hits, evictions and rejected connections are cumulative since
start; with `sample_interval` > 0 the probe samples INFO stats twice and judges the delta.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from pydantic import Field, field_validator, model_validator
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    NoPermissionError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from probes.base import Findings, ProbeResult, Status, describe, fmt_ms, single
from probes.kind import (
    Duration,
    Kind,
    KindConfig,
    Percent,
    Threshold,
    check_port,
    url_secrets,
)
from probes.redact import redis_command

CLIENT_NAME = "incidentbot-probe"


def client_for(cfg: RedisProbeConfig) -> aioredis.Redis:
    """A single-connection client with retries off and explicit timeouts."""
    timeout = cfg.socket_timeout or cfg.timeout
    return aioredis.Redis.from_url(
        cfg.url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        single_connection_client=True,
        client_name=CLIENT_NAME,
        decode_responses=False,
    )


class RedisProbeConfig(KindConfig):
    """PING, INFO and SLOWLOG of one Redis (use an ACL user limited to those commands)."""

    kind: Literal["redis"] = "redis"
    url: str
    socket_timeout: Duration | None = None
    warn_memory_pct: Percent = 90.0
    warn_clients_pct: Percent = 90.0
    warn_hit_ratio: Annotated[float, Field(ge=0, le=1)] = 0.8
    sample_interval: Threshold = 0.0
    slowlog_count: Annotated[int, Field(ge=0, le=128)] = 10
    slowlog_min: Threshold = 0.01  # list only entries at least this slow (Redis' own default)

    @field_validator("url")
    @classmethod
    def _redis_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("a redis://, rediss:// or unix:// URL")
        check_port(parts, "a redis:// URL")
        return v

    @model_validator(mode="after")
    def _sample_fits(self) -> RedisProbeConfig:
        if self.sample_interval >= self.timeout:
            raise ValueError("sample_interval shorter than timeout")
        return self

    def target_key(self) -> str | None:
        parts = urlsplit(self.url)
        return f"redis:{parts.hostname}:{parts.port or 6379}{parts.path}"

    def secrets(self) -> list[str]:
        return url_secrets(self.url)


class RedisProbe:
    def __init__(self, config: RedisProbeConfig) -> None:
        self.config = config

    async def check(self) -> ProbeResult:
        started = time.perf_counter()
        cfg = self.config
        client = client_for(cfg)
        try:
            return await self._check(client, started)
        except (AuthenticationError, AuthorizationError) as exc:
            return single(
                cfg, Status.ERROR, f"server up, probe credentials rejected: {exc}", started
            )
        except RedisTimeoutError as exc:
            return single(cfg, Status.FAIL, f"no response in time: {describe(exc)}", started)
        except RedisConnectionError as exc:
            return single(cfg, Status.FAIL, f"unreachable: {describe(exc)}", started)
        except RedisError as exc:
            return single(cfg, Status.ERROR, f"probe failed: {describe(exc)}", started)
        finally:
            await _close(client)

    async def _check(self, client: aioredis.Redis, started: float) -> ProbeResult:
        cfg = self.config
        f = Findings()
        t0 = time.perf_counter()
        pong = await client.ping()
        ping_s = time.perf_counter() - t0
        if pong is not True:
            f.fail(f"PING answered {pong!r}, expected PONG")
            return f.result(cfg, "", started)
        f.ok(f"PING {fmt_ms(ping_s)}")
        info: dict[str, Any] = await client.info()
        self._memory(f, info)
        self._clients(f, info)
        self._keyspace(f, info)
        self._persistence(f, info)
        self._replication(f, info)
        await self._stats(f, client, info)
        await self._slowlog(f, client)
        ok = (
            f"{info.get('redis_version', '?')} {info.get('role', '?')},"
            f" {info.get('used_memory_human', '?')} used, PING {fmt_ms(ping_s)}"
        )
        return f.result(cfg, ok, started)

    def _memory(self, f: Findings, info: Mapping[str, Any]) -> None:
        used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
        frag = info.get("mem_fragmentation_ratio")
        extra = f", fragmentation {frag}" if frag is not None else ""
        if limit <= 0:
            f.ok(f"memory {info.get('used_memory_human', used)} (no maxmemory limit){extra}")
            return
        pct = 100.0 * used / limit
        text = (
            f"memory {info.get('used_memory_human', used)} of {info.get('maxmemory_human', limit)}"
            f" ({pct:.0f} %, policy {info.get('maxmemory_policy', '?')}){extra}"
        )
        if pct >= self.config.warn_memory_pct:
            f.warn(text)
        else:
            f.ok(text)

    def _clients(self, f: Findings, info: Mapping[str, Any]) -> None:
        n, cap = int(info.get("connected_clients", 0)), int(info.get("maxclients", 0))
        blocked = int(info.get("blocked_clients", 0))
        tail = f", {blocked} blocked" if blocked else ""
        if cap <= 0:
            f.ok(f"clients {n}{tail}")
            return
        pct = 100.0 * n / cap
        text = f"clients {n}/{cap} ({pct:.0f} %){tail}"
        if pct >= self.config.warn_clients_pct:
            f.warn(text)
        else:
            f.ok(text)

    @staticmethod
    def _keyspace(f: Findings, info: Mapping[str, Any]) -> None:
        dbs = [
            f"{k}={v.get('keys', 0)} keys ({v.get('expires', 0)} with TTL)"
            for k, v in sorted(info.items())
            if k.startswith("db") and k[2:].isdigit() and isinstance(v, Mapping)
        ]
        f.info("keyspace: " + (", ".join(dbs) if dbs else "empty"))

    @staticmethod
    def _persistence(f: Findings, info: Mapping[str, Any]) -> None:
        if int(info.get("loading", 0)):
            f.warn("loading the dataset from disk")
        for key in ("rdb_last_bgsave_status", "aof_last_write_status"):
            value = info.get(key)
            if value is not None and value != "ok":
                f.warn(f"{key} = {value}")

    @staticmethod
    def _replication(f: Findings, info: Mapping[str, Any]) -> None:
        role = info.get("role")
        if role == "slave":
            link = info.get("master_link_status")
            text = (
                f"replica of {info.get('master_host', '?')}:{info.get('master_port', '?')},"
                f" link {link}, last I/O {info.get('master_last_io_seconds_ago', '?')} s ago"
            )
            if link == "up":
                f.ok(text)
            else:
                f.fail(text)
        elif role == "master":
            f.info(f"primary with {info.get('connected_slaves', 0)} replica(s)")

    async def _stats(self, f: Findings, client: aioredis.Redis, first: Mapping[str, Any]) -> None:
        cfg = self.config
        ratio = _hit_ratio(first)
        lifetime = "n/a (no lookups)" if ratio is None else f"{ratio:.1%}"
        f.info(
            f"since start: hit ratio {lifetime}, evicted {first.get('evicted_keys', 0)},"
            f" rejected connections {first.get('rejected_connections', 0)},"
            f" {first.get('instantaneous_ops_per_sec', 0)} ops/s"
        )
        if cfg.sample_interval <= 0:
            return
        await asyncio.sleep(cfg.sample_interval)
        second: dict[str, Any] = await client.info("stats")
        window = f"last {cfg.sample_interval:g} s"
        delta = {k: int(second.get(k, 0)) - int(first.get(k, 0)) for k in _COUNTERS}
        lookups = delta["keyspace_hits"] + delta["keyspace_misses"]
        if lookups <= 0:
            f.na(f"hit ratio ({window}): no lookups")
        else:
            r = delta["keyspace_hits"] / lookups
            text = f"hit ratio {r:.1%} over {lookups} lookups ({window})"
            if r < cfg.warn_hit_ratio:
                f.warn(text)
            else:
                f.ok(text)
        for key, what in (("evicted_keys", "keys evicted"), ("rejected_connections", "rejected")):
            if delta[key] > 0:
                f.warn(f"{delta[key]} {what} ({window})")

    async def _slowlog(self, f: Findings, client: aioredis.Redis) -> None:
        if self.config.slowlog_count == 0:
            return
        try:
            # Raw reply: redis-py's parser joins argv with spaces, losing argument bounds.
            entries = await client.execute_command(  # type: ignore[no-untyped-call]
                "SLOWLOG", "GET", self.config.slowlog_count
            )
        except (NoPermissionError, ResponseError) as exc:
            f.na(f"slowlog: {exc}")
            return
        if not entries:
            f.info("slowlog: empty")
            return
        # The probe's own commands are not the server's problem; and with
        # slowlog-log-slower-than lowered (0 logs everything), a 20 µs GET is not slow.
        parsed = [
            e
            for e in (_slow_entry(raw) for raw in entries)
            if e is not None and e[3] != CLIENT_NAME
        ]
        floor_us = self.config.slowlog_min * 1_000_000
        slow = [e for e in parsed if e[0] >= floor_us]
        slowest = max((d for d, _, _, _ in parsed), default=0)
        f.info(
            f"slowlog: {len(parsed)} recent entries, slowest {_micros(slowest)};"
            f" {len(slow)} at or above {_micros(int(floor_us))}"
        )
        for micros, when, argv, _ in slow:
            age = max(0, int(time.time()) - when)
            f.info(f"slow: {_micros(micros)}, {age} s ago: {redis_command(argv)}")


_COUNTERS = ("keyspace_hits", "keyspace_misses", "evicted_keys", "rejected_connections")


def _hit_ratio(info: Mapping[str, Any]) -> float | None:
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    return hits / (hits + misses) if hits + misses > 0 else None


def _micros(us: int) -> str:
    """`12.3 ms`, or `40 µs` below a millisecond (where `0.0 ms` would say nothing)."""
    return f"{us / 1000:.1f} ms" if us >= 1000 else f"{us} µs"


def _slow_entry(raw: Any) -> tuple[int, int, list[bytes | str], str] | None:
    """(duration µs, unix time, argv, client name) from one raw SLOWLOG GET entry; the argv
    is the first list field (Redis Enterprise inserts a complexity field before it); the
    client name (Redis ≥ 4) is the second field after it, "" when absent."""
    if not isinstance(raw, list | tuple) or len(raw) < 4:
        return None
    at = next((i for i in range(3, len(raw)) if isinstance(raw[i], list | tuple)), None)
    if at is None:
        return None
    name = raw[at + 2] if len(raw) > at + 2 else b""
    client = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
    return int(raw[2]), int(raw[1]), list(raw[at]), client


async def _close(client: aioredis.Redis) -> None:
    # Closing only drops the socket; bounded anyway so a cancelled probe cannot hang here.
    try:
        async with asyncio.timeout(1.0):
            await client.aclose()
    except (TimeoutError, OSError, RedisError):
        pass


KIND = Kind(RedisProbeConfig, lambda cfg, _client: RedisProbe(cfg))
