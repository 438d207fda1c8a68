"""Storage benchmark: raw `create()` throughput and claim latency with 10,000 timers.

Run: `.venv/bin/python bench/store_bench.py [--skip-postgres]`
PostgreSQL comes from BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test);
the benchmark works in a schema of its own and drops it. SQLite uses a temporary file.

Each create writes what a real declaration writes: one timeline entry, four notices and
three timer settings (two set, one cleared).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from bot.core.messages import Field, Message, Notice, NoticeKind
from bot.core.model import Actor, Incident, Severity, Status, TimelineEntry, TimerKind
from bot.core.ports import IncidentStore
from bot.core.records import Change
from bot.storage import open_store

T0 = datetime(2024, 5, 1, tzinfo=UTC)
LEASE = timedelta(seconds=10)
RUNS = 3
CREATES = 2000
OPEN = 10_000
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def declaration(i: int) -> tuple[Incident, Change]:
    actor = Actor(f"U{i % 50}", "oncall")
    inc = Incident(
        0, f"checkout errors {i}", Severity.SEV2, Status.INVESTIGATING, "slack", T0, actor
    )
    msg = Message("INCIDENT DECLARED", (Field("Severity", "SEV2"), Field("IC", "<@U1>")), "body")
    notices = [
        Notice(0, "slack", NoticeKind.ANNOUNCE, msg, channel="incidents"),
        Notice(0, "slack", NoticeKind.POST, Message("ops line"), channel="ops"),
        Notice(0, "slack", NoticeKind.THREAD, Message("checklist")),
        Notice(0, "slack", NoticeKind.PAGE, msg, channel="pagerduty", data={"action": "trigger"}),
    ]
    # Timers spread one second apart so claims at a given `now` find a known few.
    timers: dict[TimerKind, datetime | None] = {
        TimerKind.REMINDER: T0 + timedelta(seconds=i),
        TimerKind.ESCALATION: None,
        TimerKind.POSTMORTEM: None,
    }
    return inc, Change([TimelineEntry(T0, "declared", "SEV2", actor)], notices, timers)


@asynccontextmanager
async def sqlite_store() -> AsyncIterator[IncidentStore]:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db")
        await store.migrate()
        try:
            yield store
        finally:
            await store.aclose()


@asynccontextmanager
async def postgres_store() -> AsyncIterator[IncidentStore]:
    schema = f"ib_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    store = open_store(f"{PG_URL}{sep}search_path={schema}")
    try:
        await store.migrate()
        yield store
    finally:
        await store.aclose()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def create_rate(store: IncidentStore, n: int, start: int, concurrency: int) -> float:
    """Creates per second for `n` creates, `concurrency` in flight at a time."""
    began = time.perf_counter()
    for base in range(start, start + n, concurrency):
        batch = range(base, min(base + concurrency, start + n))
        await asyncio.gather(*(store.create(*declaration(i)) for i in batch))
    return n / (time.perf_counter() - began)


async def latency_ms(call: Callable[[int], Awaitable[object]], repeat: int) -> float:
    """Median milliseconds of `await call(k)` for k in range(repeat)."""
    samples = []
    for k in range(repeat):
        began = time.perf_counter()
        await call(k)
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


async def bench(
    name: str, factory: Callable[[], AbstractAsyncContextManager[IncidentStore]]
) -> dict[str, float]:
    seq, conc = [], []
    for _ in range(RUNS):
        async with factory() as store:
            seq.append(await create_rate(store, CREATES, 0, 1))
            conc.append(await create_rate(store, CREATES, CREATES, 16))
    result = {"create_seq": statistics.median(seq), "create_conc16": statistics.median(conc)}
    async with factory() as store:
        await create_rate(store, OPEN, 0, 16)  # 10,000 open incidents, one timer each
        # Idle poll: nothing due before T0.
        result["claim_due_none_ms"] = await latency_ms(
            lambda k: store.claim_due(T0 - timedelta(seconds=1), "idle", LEASE, 50), 200
        )
        result["next_due_at_ms"] = await latency_ms(lambda k: store.next_due_at(), 200)
        # Each claim at a `now` 10 s later finds the next 10 timers due.
        result["claim_due_10_ms"] = await latency_ms(
            lambda k: store.claim_due(T0 + timedelta(seconds=10 * k + 9), "w", LEASE, 50), 200
        )
        # Outbox with 40,000 pending notices (4 per incident, none delivered).
        result["next_notice_at_ms"] = await latency_ms(lambda k: store.next_notice_at(), 20)
        result["claim_notices_50_ms"] = await latency_ms(
            lambda k: store.claim_notices(T0, f"w{k}", LEASE, 50), 20
        )
    print(name, {k: round(v, 2) for k, v in result.items()}, flush=True)
    return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    await bench("sqlite", sqlite_store)
    if not args.skip_postgres:
        await bench("postgres", postgres_store)


if __name__ == "__main__":
    asyncio.run(main())
