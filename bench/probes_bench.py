"""Probe benchmark: fan-out wall time, and the cost of one PostgreSQL / Redis probe.

Run: `.venv/bin/python bench/probes_bench.py [--runs N] [--skip-services]`

1. 50 HTTP targets answering in ~300 ms plus one hung target (timeout 1 s), run through
   `probes.runner.Runner` with its defaults, and the same 51 probes one after another
   (concurrency 1), side by side in each run. Goals: concurrent wall ≤ 1.2 s and ≥ 10×
   faster than sequential.
2. A full PostgreSQL probe (connect + R0–R6 + close) and a full Redis probe (PING, INFO,
   SLOWLOG) through the runner, on loopback. Goals: < 100 ms and < 20 ms (medians).

PostgreSQL/Redis come from BENCH_DATABASE_URL / BENCH_REDIS_URL (defaults: the local
servers). Exits 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web

from probes.base import Status
from probes.config import parse_probes
from probes.runner import Runner

PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TARGETS = 50
LATENCY = 0.3
HUNG_TIMEOUT = 1.0


async def _serve() -> tuple[web.AppRunner, str]:
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(LATENCY)
        return web.Response(text="ok")

    async def hang(_: web.Request) -> web.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_get("/slow/{i}", slow)
    app.router.add_get("/hang", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.2, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    return runner, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def fan_out(runs: int) -> tuple[list[float], list[float]]:
    web_runner, base = await _serve()
    try:
        items: list[dict[str, object]] = [
            {"name": f"t{i}", "service": "web", "kind": "http", "url": f"{base}/slow/{i}"}
            for i in range(TARGETS)
        ]
        items.append(
            {"name": "hung", "service": "web", "kind": "http", "url": f"{base}/hang",
             "timeout": HUNG_TIMEOUT}
        )  # fmt: skip
        configs = parse_probes(items)
        concurrent, sequential = [], []
        for _ in range(runs):
            report = await Runner(configs).run(["all"])
            _check(report.results, TARGETS)
            concurrent.append(report.elapsed_s)
            report = await Runner(configs, concurrency=1, run_deadline=60).run(["all"])
            _check(report.results, TARGETS)
            sequential.append(report.elapsed_s)
            print(f"  run: concurrent {concurrent[-1]:.3f} s, sequential {sequential[-1]:.3f} s")
        return concurrent, sequential
    finally:
        await web_runner.cleanup()


def _check(results: list, ok: int) -> None:  # type: ignore[type-arg]
    statuses = [r.status for r in results]
    assert statuses[:ok] == [Status.OK] * ok, [r.summary for r in results if r.status != "ok"]
    assert statuses[ok] is Status.ERROR
    assert results[ok].summary == "timed out after 1s"


async def single_probe(item: dict[str, object], n: int) -> list[float]:
    runner = Runner(parse_probes([item]))
    times = []
    for _ in range(n):
        report = await runner.run(["all"])
        r = report.results[0]
        assert r.status in (Status.OK, Status.WARN), r
        times.append(report.elapsed_s)
    return times


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-services", action="store_true")
    args = parser.parse_args()
    ok = True
    print(
        f"fan-out: {TARGETS} targets × {LATENCY * 1000:.0f} ms"
        f" + 1 hung ({HUNG_TIMEOUT:g} s timeout)"
    )
    concurrent, sequential = await fan_out(args.runs)
    c, s = statistics.median(concurrent), statistics.median(sequential)
    print(f"  median concurrent {c:.3f} s, sequential {s:.3f} s, speed-up {s / c:.1f}×")
    ok &= c <= 1.2 and s / c >= 10
    if not args.skip_services:
        pg = await single_probe(
            {"name": "db", "service": "s", "kind": "postgres", "dsn": PG_URL}, 30
        )
        rd = await single_probe(
            {"name": "c", "service": "s", "kind": "redis", "url": REDIS_URL}, 100
        )
        pg_med, rd_med = statistics.median(pg) * 1000, statistics.median(rd) * 1000
        print(f"postgres probe: median {pg_med:.1f} ms, max {max(pg) * 1000:.1f} ms (n={len(pg)})")
        print(f"redis probe:    median {rd_med:.1f} ms, max {max(rd) * 1000:.1f} ms (n={len(rd)})")
        ok &= pg_med < 100 and rd_med < 20
    print("goals met" if ok else "GOAL MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
