"""Core benchmark (issue 2): declare throughput, idle cost and reminder lateness on SQLite.

    .venv/bin/python bench/core_bench.py [--runs 3] [--incidents 10000] [--rate 500]

1. `declare` through the real IncidentService on SQLite (incidents/s, sequential).
2. 10,000 open incidents (mixed severities) in the store, the real `incidentbot run`
   process (console platform) idle with nothing due: its CPU % over 15 s and its RSS.
3. Reminders falling due at ~`rate` per second (timers spread over 10 s) with the real
   scheduler and dispatcher and the system clock: lateness from due time to delivery to
   the platform, p50/p99.
Prints one JSON line per run and the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import due_incident, pct, run_and_report  # noqa: E402
from bot.config import BotConfig  # noqa: E402
from bot.core.clock import SystemClock  # noqa: E402
from bot.core.commands import Declare  # noqa: E402
from bot.core.dispatcher import Dispatcher  # noqa: E402
from bot.core.messages import Notice, NoticeKind  # noqa: E402
from bot.core.model import Actor, ChannelRef, Incident, Severity  # noqa: E402
from bot.core.scheduler import Scheduler  # noqa: E402
from bot.core.service import IncidentService  # noqa: E402
from bot.log import configure  # noqa: E402
from bot.storage import open_store  # noqa: E402

ACTOR = Actor("U_BENCH", "bench")
WHERE = ChannelRef("bench", "C_BENCH")
SEVS = [Severity.SEV1, Severity.SEV2, Severity.SEV3, Severity.SEV4]


async def bench_declare(tmp: Path, n: int) -> float:
    config = BotConfig()
    store = open_store(f"sqlite:///{tmp / 'declare.sqlite3'}")
    await store.migrate()
    service = IncidentService(
        store=store, policy=config.policy(), templates=config.templates_set(), clock=SystemClock()
    )
    start = time.perf_counter()
    for i in range(n):
        reply = await service.handle(Declare(f"bench {i}", SEVS[i % 4]), ACTOR, WHERE)
        assert reply.ok
    rate = n / (time.perf_counter() - start)
    await store.aclose()
    return rate


async def populate(url: str, n: int, due: list[datetime] | None = None) -> None:
    """`n` open incidents (mixed severities). With `due`, incident i's reminder is due[i];
    else every timer is far away (nothing due)."""
    store = open_store(url)
    await store.migrate()
    policy = BotConfig().policy()
    now = datetime.now(UTC)
    for i in range(n):
        at = due[i] if due else now + timedelta(hours=6)
        thread = ChannelRef("bench", "C", f"t{i}")
        inc, change = due_incident(f"open {i}", at, SEVS[i % 4], policy, actor=ACTOR, thread=thread)
        await store.create(inc, change)
    await store.aclose()


def idle_process(tmp: Path, n: int, seconds: float) -> dict[str, float]:
    db = tmp / "idle.sqlite3"
    asyncio.run(populate(f"sqlite:///{db}", n))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "INCIDENTBOT_DATA_DIR": str(tmp)}
    for var in ("SLACK_BOT_TOKEN", "DISCORD_TOKEN", "PORT"):
        env.pop(var, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--platform", "console"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        cwd=ROOT,
    )  # fmt: skip
    try:
        time.sleep(5)  # start-up, migrations, first scheduler pass
        ticks = os.sysconf("SC_CLK_TCK")

        def cpu() -> float:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks

        c0, t0 = cpu(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu(), time.monotonic()
        rss_kb = next(
            int(line.split()[1])
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
    finally:
        proc.terminate()
        proc.wait(30)
    return {"idle_cpu_pct": 100 * (c1 - c0) / (t1 - t0), "rss_mb": rss_kb / 1024}


@dataclass
class TimedNotifier:
    platform: str = "bench"
    due: dict[int, datetime] = field(default_factory=dict)
    lateness: list[float] = field(default_factory=list)
    all_in: asyncio.Event = field(default_factory=asyncio.Event)

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        if notice.kind is NoticeKind.THREAD and "UPDATE DUE" in notice.message.title:
            late = datetime.now(UTC) - self.due[incident.number]
            self.lateness.append(late.total_seconds())
            if len(self.lateness) == len(self.due):
                self.all_in.set()
        return None


async def bench_lateness(tmp: Path, n: int, rate: float) -> dict[str, float]:
    url = f"sqlite:///{tmp / 'late.sqlite3'}"
    start = datetime.now(UTC) + timedelta(seconds=n / 2000 + 3)  # after populating
    due = [start + timedelta(seconds=i / rate) for i in range(n)]
    await populate(url, n, due)
    config = BotConfig()
    store = open_store(url)
    await store.migrate()
    clock = SystemClock()
    notifier = TimedNotifier(due={i + 1: d for i, d in enumerate(due)})
    service = IncidentService(
        store=store, policy=config.policy(), templates=config.templates_set(), clock=clock
    )
    scheduler = Scheduler(store=store, service=service, clock=clock, owner="bench")
    dispatcher = Dispatcher(store=store, service=service, notifiers={"bench": notifier},
                            pagers={}, clock=clock, owner="bench")  # fmt: skip
    service.on_commit = dispatcher.wake
    tasks = [asyncio.create_task(scheduler.run()), asyncio.create_task(dispatcher.run())]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(notifier.all_in.wait(), (due[-1] - datetime.now(UTC)).seconds + 30)
    scheduler.stop()
    dispatcher.stop()
    await asyncio.gather(*tasks)
    await store.aclose()
    got = notifier.lateness
    return {
        "reminders": len(got),
        "missed": n - len(got),
        "lateness_p50_s": pct(got, 50),
        "lateness_p99_s": pct(got, 99),
        "lateness_max_s": max(got),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--incidents", type=int, default=10_000)
    ap.add_argument("--declares", type=int, default=3_000)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--reminders", type=int, default=5_000)
    ap.add_argument("--idle-seconds", type=float, default=15)
    args = ap.parse_args()
    configure(fmt="console", level="warning")

    def one_run() -> dict[str, float]:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            r: dict[str, float] = {"declare_per_s": asyncio.run(bench_declare(tmp, args.declares))}
            r.update(idle_process(tmp, args.incidents, args.idle_seconds))
            r.update(asyncio.run(bench_lateness(tmp, args.reminders, args.rate)))
        return r

    run_and_report(args.runs, one_run)


if __name__ == "__main__":
    main()
