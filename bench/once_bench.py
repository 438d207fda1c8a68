"""Effectively-once benchmark (issue 10 item 7): duplicates and lost messages under a kill loop.

    .venv/bin/python bench/once_bench.py [--runs 3] [--kills 12] [--incidents 8]
                                         [--store sqlite|postgres|both] [--replicas 3]

Runs tests/killloop.py's kill loop: real `incidentbot run` processes (Slack Socket Mode and
Discord, against tests/fakes on loopback) that are SIGKILLed `--kills` times, each time
right after Slack or Discord stored one of their messages, whose answer the fake sends
200 ms late; every third kill a Slack post, and every third a Discord create, is carried out
and never answered (the connection hangs or drops). SQLite: one process, restarted after
each kill; PostgreSQL: `--replicas` processes, the killed one replaced at once. Then the
incidents are resolved, the outbox drains, and the platforms' messages are counted against
the store, per notice id and per text. Prints one JSON line per run, then medians.
Database: $TEST_DATABASE_URL or postgresql://postgres@127.0.0.1:5432/test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import run_and_report  # noqa: E402
from bot.log import configure  # noqa: E402
from tests.killloop import run_kill_loop  # noqa: E402
from tests.pgschema import fresh_schema  # noqa: E402

DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
FIGURES = (
    "kills",
    "recorded_reminders",
    "posted_reminders",
    "notices_posted",
    "duplicated",
    "duplicated_by_text",
    "lost",
    "unanswered",
    "found_by_lookup",
    "nonce_replays",
    "seconds",
)


async def one(store: str, kills: int, incidents: int, replicas: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if store == "sqlite":
            out = await run_kill_loop(
                tmp, f"sqlite:///{tmp / 'bot.db'}", kills=kills, incidents=incidents
            )
        else:
            async with fresh_schema(DSN, "ib_bench") as dsn:
                out = await run_kill_loop(
                    tmp, dsn, replicas=replicas, kills=kills, incidents=incidents
                )
    line = out.line()
    return {f"{store}_{k}": float(line[k]) for k in FIGURES}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kills", type=int, default=12)
    ap.add_argument("--incidents", type=int, default=8)
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    configure(fmt="console", level="warning")
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]

    def one_run() -> dict[str, float]:
        r: dict[str, float] = {}
        for s in stores:
            r.update(asyncio.run(one(s, args.kills, args.incidents, args.replicas)))
        return r

    run_and_report(args.runs, one_run)


if __name__ == "__main__":
    main()
