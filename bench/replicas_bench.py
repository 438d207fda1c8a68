"""Replicas benchmark (issue 6): three `incidentbot run` processes on one PostgreSQL.

    .venv/bin/python bench/replicas_bench.py [--runs 3] [--reminders 1000] [--window 60]

1. `--reminders` open SEV1 incidents whose reminders fall due spread evenly over `--window`
   seconds (each declared one cadence before its wanted due time, so the policy agrees it
   is due). Three real replica processes (console platform, default lease and max_idle)
   share the schema; each prints what it delivers. Reported: duplicates and missed, both
   from the store's timeline ("update reminder #k" entries) and from what the replicas
   printed; lateness p50/p99 from due time to the reminder being recorded (the store) and
   to its delivery line arriving on the replica's stdout (read by this process).
2. `declare` throughput on PostgreSQL through IncidentService: 50 concurrent declares in
   one process (three stores, as three replicas would have), and three worker processes
   with 50 concurrent declares each.
Each run uses a fresh schema (dropped afterwards); prints one JSON line per run and the
medians. Database: $TEST_DATABASE_URL or postgresql://postgres@127.0.0.1:5432/test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import due_incident, pct, run_and_report  # noqa: E402
from bot.config import BotConfig  # noqa: E402
from bot.core.clock import SystemClock  # noqa: E402
from bot.core.commands import Declare  # noqa: E402
from bot.core.model import Actor, ChannelRef, Severity  # noqa: E402
from bot.core.service import IncidentService  # noqa: E402
from bot.log import configure  # noqa: E402
from bot.storage.postgres import PostgresStore  # noqa: E402
from tests.pgschema import fresh_schema  # noqa: E402
from tests.replicas import REMINDER, Replicas  # noqa: E402

DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
ACTOR = Actor("alice", "alice")
WHERE = ChannelRef("console", "console")
# Production defaults for lease and max_idle; one reminder per incident inside the window.
CONFIG = """
channels: {incidents: incidents, incidents_low: incidents-low, ops: ops}
severities:
  SEV1: {update_every: 15m, escalate_after: never}
escalation: {missed_updates: 0}
on_declare: []
"""


async def populate(dsn: str, due: list[datetime]) -> None:
    """Incident i+1 has its first reminder due at due[i] (ordered creation: numbers match)."""
    store = PostgresStore(dsn, min_size=1, max_size=2)
    await store.migrate()
    policy = BotConfig.model_validate({"severities": {"SEV1": {"update_every": "15m"}}}).policy()
    for i, d in enumerate(due):
        thread = ChannelRef("console", "console", f"INC-{i + 1}")
        inc, change = due_incident(
            f"bench {i}", d, Severity.SEV1, policy, actor=ACTOR, thread=thread, origin=WHERE
        )
        created = await store.create(inc, change)
        assert created.number == i + 1
    await store.aclose()


async def reminders_run(n: int, window: float) -> dict[str, float]:
    async with fresh_schema(DSN, "ib_bench") as dsn:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            (tmp / "bot.yaml").write_text(CONFIG)
            start = datetime.now(UTC) + timedelta(seconds=n / 300 + 8)  # populate + start-up
            due = [start + timedelta(seconds=window * i / n) for i in range(n)]
            await populate(dsn, due)
            bots = await Replicas.start(3, dsn=dsn, config=tmp / "bot.yaml", data_dir=tmp)
            try:
                started = asyncio.gather(*(r.send(["/incident list"]) for r in bots.members))
                await started
                await bots.wait_until(
                    lambda: all(" open incident" in r.text() for r in bots.members),
                    30,
                    "the replicas to answer",
                )
                assert datetime.now(UTC) < due[0], "start-up took longer than planned"

                def printed() -> int:
                    return sum(len(r.matching(REMINDER)) for r in bots.members)

                bound = (due[-1] - datetime.now(UTC)).total_seconds() + 30
                await bots.wait_until(lambda: printed() >= n, bound, f"{n} reminders")
                await bots.quiet(1.0, 3.0)  # anything printed twice would show up by now
            finally:
                codes = await bots.close()
            assert codes == [0, 0, 0], bots.dump()
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT incident, at, text FROM timeline WHERE kind = 'reminder'"
            )
        finally:
            await conn.close()
    recorded = Counter(int(r["incident"]) for r in rows)
    record_late = [(r["at"] - due[r["incident"] - 1]).total_seconds() for r in rows]
    delivered: Counter[int] = Counter()
    deliver_late: list[float] = []
    share: dict[str, int] = {}
    for r in bots.members:
        hits = r.matching(REMINDER)
        share[r.name] = len(hits)
        for line, m in hits:
            number = int(m.group(1))
            delivered[number] += 1
            deliver_late.append(line.at - due[number - 1].timestamp())
    everything = range(1, n + 1)
    return {
        "reminders": n,
        "recorded_duplicates": sum(max(0, recorded[i] - 1) for i in everything),
        "recorded_missed": sum(1 for i in everything if recorded[i] == 0),
        "delivered_duplicates": sum(max(0, delivered[i] - 1) for i in everything),
        "delivered_missed": sum(1 for i in everything if delivered[i] == 0),
        "record_late_p50_s": pct(record_late, 50),
        "record_late_p99_s": pct(record_late, 99),
        "deliver_late_p50_s": pct(deliver_late, 50),
        "deliver_late_p99_s": pct(deliver_late, 99),
        "deliver_late_max_s": max(deliver_late) if deliver_late else float("nan"),
        "min_share": min(share.values()) / n,
    }


# --------------------------------------------------------------------------- declares


def service_over(store: PostgresStore) -> IncidentService:
    config = BotConfig()
    return IncidentService(
        store=store, policy=config.policy(), templates=config.templates_set(), clock=SystemClock()
    )


async def declare_many(services: list[IncidentService], n: int, concurrency: int) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with limit:
            reply = await services[i % len(services)].handle(
                Declare(f"load {i}", Severity.SEV2), ACTOR, WHERE
            )
            assert reply.ok

    await asyncio.gather(*(one(i) for i in range(n)))


async def declare_in_process(dsn: str, n: int) -> float:
    stores = [PostgresStore(dsn, min_size=2, max_size=10) for _ in range(3)]
    for s in stores:
        await s.migrate()
    started = time.perf_counter()
    await declare_many([service_over(s) for s in stores], n, 50)
    rate = n / (time.perf_counter() - started)
    for s in stores:
        await s.aclose()
    return rate


async def worker(dsn: str, n: int, start_at: float) -> None:
    """One declaring process: waits for the common start, declares, prints its end time."""
    store = PostgresStore(dsn, min_size=2, max_size=10)
    await store.migrate()
    await store.ping()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    await declare_many([service_over(store)], n, 50)
    print(json.dumps({"end": time.time()}), flush=True)
    await store.aclose()


async def declare_processes(dsn: str, n_each: int) -> float:
    start_at = time.time() + 3  # after the workers' imports and pool set-up
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--worker",
            dsn,
            str(n_each),
            str(start_at),
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        for _ in range(3)
    ]
    outs = [await p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    ends = [json.loads(out.decode().strip().splitlines()[-1])["end"] for out, _ in outs]
    return float(3 * n_each / (max(ends) - start_at))


async def declares_run(n: int) -> dict[str, float]:
    async with fresh_schema(DSN, "ib_bench") as dsn:
        one = await declare_in_process(dsn, n)
    async with fresh_schema(DSN, "ib_bench") as dsn:
        three = await declare_processes(dsn, n // 3)
        conn = await asyncpg.connect(dsn)
        try:
            numbers = [r[0] for r in await conn.fetch("SELECT number FROM incidents ORDER BY 1")]
        finally:
            await conn.close()
    assert numbers == list(range(1, 3 * (n // 3) + 1)), "numbers not gap-free"
    return {"declare_1proc_50conc_per_s": one, "declare_3proc_50conc_per_s": three}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        configure(fmt="console", level="warning")
        asyncio.run(worker(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--reminders", type=int, default=1000)
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--declares", type=int, default=1500)
    args = ap.parse_args()
    configure(fmt="console", level="warning")

    def one_run() -> dict[str, float]:
        r = asyncio.run(reminders_run(args.reminders, args.window))
        r.update(asyncio.run(declares_run(args.declares)))
        return r

    run_and_report(args.runs, one_run)


if __name__ == "__main__":
    main()
