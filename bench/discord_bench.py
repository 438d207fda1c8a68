"""Discord adapter latency on loopback: `.venv/bin/python bench/discord_bench.py`.

The real stack (SQLite store on a temp file, IncidentService, dispatcher, scheduler,
discord.py adapter) against FakeDiscord, all in one process and event loop on the system
clock. Measures, per round:
* interaction -> initial response: the time from FakeDiscord writing INTERACTION_CREATE on
  the gateway to the bot's interaction callback arriving, for waves of 20 concurrent
  `/incident note` commands (each a store commit) — the figure behind Discord's 3 s rule;
* declare -> announcement in thread: from the declare interaction's delivery to the
  triage checklist appearing in the new thread (announce + thread + outbox ordering).
Prints p50/p99 per round and the median over rounds.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import pct
from bot.core.clock import SystemClock
from tests.e2e.discord.conftest import DiscordBot
from tests.fakes.discord import FakeDiscord, message_text

ROUNDS = 5
WAVES = 10
CONCURRENCY = 20
DECLARES = 20


async def one_round(workdir: Path, n: int) -> tuple[float, float, float]:
    fake = FakeDiscord()
    await fake.start()
    bot = DiscordBot(fake, workdir / f"bench{n}.db", SystemClock())  # type: ignore[arg-type]
    await bot.start()
    try:
        # declare -> checklist in the thread, sequentially
        to_thread: list[float] = []
        for i in range(DECLARES):
            rec = await fake.slash("declare", {"title": f"bench {i}", "severity": "SEV3"})
            key = f"INC-{i + 1} "
            thread = await fake.wait_for(
                lambda key=key: next(
                    (t for t in fake.threads() if t["name"].startswith(key)), None
                ),
                within=10,
            )
            await fake.wait_for(
                lambda tid=thread["id"]: any(
                    "TRIAGE" in message_text(m) for m in fake.messages_in(tid)
                ),
                within=10,
            )
            assert rec.delivered_at is not None
            to_thread.append(asyncio.get_running_loop().time() - rec.delivered_at)
        # waves of concurrent interactions
        latencies: list[float] = []
        for w in range(WAVES):
            recs = await asyncio.gather(
                *(
                    fake.slash(
                        "note", {"text": f"w{w} n{j}", "incident": f"INC-{j % DECLARES + 1}"}
                    )
                    for j in range(CONCURRENCY)
                )
            )
            await fake.wait_for(lambda recs=recs: all(r.callbacks for r in recs), within=10)
            for r in recs:
                assert r.latency is not None
                assert not r.rejected
                latencies.append(r.latency)
        return pct(latencies, 50), pct(latencies, 99), statistics.median(to_thread)
    finally:
        await bot.stop()
        await fake.aclose()


async def main() -> None:
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(ROUNDS):
            p50, p99, thread50 = await one_round(Path(tmp), n)
            results.append((p50, p99, thread50))
            print(
                f"round {n + 1}: interaction->response p50 {p50 * 1000:.1f} ms,"
                f" p99 {p99 * 1000:.1f} ms ({WAVES}x{CONCURRENCY} concurrent);"
                f" declare->checklist in thread p50 {thread50 * 1000:.1f} ms"
            )
    med = [statistics.median(col) for col in zip(*results, strict=True)]
    print(
        f"median of {ROUNDS} rounds: p50 {med[0] * 1000:.1f} ms, p99 {med[1] * 1000:.1f} ms;"
        f" declare->thread p50 {med[2] * 1000:.1f} ms  ({time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
