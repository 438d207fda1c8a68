"""Slack pacing under a burst: `.venv/bin/python bench/slack_pacing_bench.py [--runs 3]`.

20 incidents are declared in 10 s (one every 0.5 s, SEV1..SEV4 in turn, so announcements
go to #incidents and #incidents-low as the product routes them, and every incident's ops
line to #ops) through signed slash commands, against a FakeSlack that enforces Slack's
chat.postMessage limit: one message per channel per second, thread replies counted against
their channel, 429 `ratelimited` with Retry-After beyond that. Each incident says four
things in order: announcement, ops line, triage checklist and probe results (threads).

The real stack (SQLite store on a temp file, IncidentService, dispatcher, scheduler, the
slack-bolt adapter in HTTP mode), one process and one event loop on the system clock
(tests/e2e/slack/conftest.py's SlackBot, with Slack's pace of 1 s).

Per run: whether every message arrived and in each incident's order, the number of 429s,
the notices handed back to the outbox to wait for a slot (`deferred`), and `ratio`: the
time from the first declaration to the last message at Slack, over the least the limit
allows for the same declarations (per channel, each message no earlier than its incident's
declaration and one second after the channel's previous one; the worst channel counts).
Prints one JSON line per run, then the medians. `--interval 0` turns the bot's pacing off
(the storm, for comparison).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import run_and_report
from bot.core.clock import SystemClock
from tests.e2e.slack.conftest import SlackBot
from tests.fakes.slack import FakeSlack, SlackMessage

INCIDENTS = 20
SPREAD_S = 10.0
LIMIT_S = 1.0  # FakeSlack: one message per channel per second
SEVERITIES = ["sev1", "sev2", "sev3", "sev4"]
ANNOUNCE_CHANNEL = {"sev1": "C0INCIDENTS", "sev2": "C0INCIDENTS"}
REPLIES = 2  # checklist + probe results, in the thread


def least_time(releases: dict[str, list[float]], start: float) -> float:
    """The earliest the last message can reach Slack, from `start`: per channel, each
    message no earlier than its release and `LIMIT_S` after the previous one."""
    end = start
    for times in releases.values():
        slot = float("-inf")
        for r in sorted(times):
            slot = max(r, slot + LIMIT_S)
        end = max(end, slot)
    return end - start


def _announcement(fake: FakeSlack, channel: str, title: str) -> SlackMessage | None:
    return next((m for m in fake.channel_messages(channel) if title in m.text), None)


async def one_run(workdir: Path, n: int, interval: float) -> dict[str, float]:
    async with FakeSlack() as fake:
        bot = SlackBot(
            fake, workdir / f"bench{n}.db", "http", SystemClock(), pace_interval=interval
        )
        await bot.start()
        try:
            fake.limit_channels(LIMIT_S)
            declared: dict[str, tuple[float, str]] = {}  # title -> (when, announce channel)
            t0 = time.monotonic()

            async def declare(i: int) -> None:
                await asyncio.sleep(max(0.0, t0 + i * SPREAD_S / INCIDENTS - time.monotonic()))
                sev = SEVERITIES[i % len(SEVERITIES)]
                at = time.monotonic()
                title = f"Bench outage n{i + 1:02d}"  # fixed width: no title contains another
                ack = await fake.slash_command(f"declare {title} {sev}")
                if ack.status != 200:
                    raise RuntimeError(f"declare {title}: ack {ack.status}")
                declared[title] = (at, ANNOUNCE_CHANNEL.get(sev, "C0INCLOW"))

            await asyncio.gather(*(declare(i) for i in range(INCIDENTS)))

            def complete() -> bool:
                for title, (_, channel) in declared.items():
                    ann = _announcement(fake, channel, title)
                    if ann is None or len(fake.thread(ann.channel, ann.ts)) < REPLIES:
                        return False
                ops = [m.text for m in fake.channel_messages("C0OPS")]
                return all(any(k in t for t in ops) for k in declared)

            await fake.wait_for(complete, within=180)
            await bot.adapter.idle()

            # Order per incident: announcement < ops line < checklist < probe results.
            releases: dict[str, list[float]] = {"C0INCIDENTS": [], "C0INCLOW": [], "C0OPS": []}
            in_order = 0
            for title, (at, channel) in declared.items():
                ann = _announcement(fake, channel, title)
                assert ann is not None
                ops = next(m for m in fake.channel_messages("C0OPS") if title in m.text)
                replies = fake.thread(ann.channel, ann.ts)
                ts = [float(ann.ts), float(ops.ts), *(float(r.ts) for r in replies[:REPLIES])]
                in_order += ts == sorted(ts) and replies[0].text.startswith("5-MINUTE TRIAGE")
                releases[channel] += [at] * (1 + REPLIES)
                releases["C0OPS"].append(at)
            posts = fake.calls_to("chat.postMessage")
            accepted = [c for c in posts if c.status == 200]
            first = min(at for at, _ in declared.values())
            took = max(c.at for c in accepted) - first
            least = least_time(releases, first)
            return {
                "delivered": len(accepted),
                "expected": INCIDENTS * (2 + REPLIES),
                "in_order": in_order,
                "http_429": sum(c.status == 429 for c in posts),
                "deferred": sum(bot.dispatcher.deferred.values()),
                "took_s": took,
                "least_s": least,
                "ratio": took / least,
            }
        finally:
            await bot.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--interval", type=float, default=1.0, help="the bot's pace (0: off)")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    with tempfile.TemporaryDirectory() as tmp:
        runs = iter(range(args.runs))
        run_and_report(
            args.runs, lambda: asyncio.run(one_run(Path(tmp), next(runs), args.interval))
        )
    print(
        "target: every message delivered, in order, no 429 storm,"
        " ratio <= 1.2 (took / least the limit allows)"
    )


if __name__ == "__main__":
    main()
