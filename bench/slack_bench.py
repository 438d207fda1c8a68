"""Slack benchmark: slash-command ack latency and throughput, bot vs a bare slack-bolt app.

Run: `.venv/bin/python bench/slack_bench.py` (about a minute).

Layout (2 processes, so the bot has a core of its own as it would in production):
* this process: FakeSlack (Web API + response_url sink) and the load generator, which POSTs
  signed `/incident list` slash commands and times each HTTP response (= bolt's ack);
* a child process (`--serve`): the real bot in HTTP mode (SQLite store, IncidentService,
  dispatcher, SlackAdapter on aiohttp) and, on another port, a bare slack-bolt AsyncApp whose
  only listener acks `/incident`.

Measures, for each of the two apps: (1) open-loop at a steady 200 commands/s: p50/p99 ack
latency; (2) 50 concurrent senders flat out: acknowledged commands per second. Then, against
the bot alone: time from sending `/incident declare …` to the announcement's
chat.postMessage reaching FakeSlack (p50 of sequential declares).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import ClientSession, TCPConnector, web

ROOT = str(Path(__file__).resolve().parents[1])
sys.path.insert(0, ROOT)

from bench.common import pct  # noqa: E402

SECRET = "bench-signing-secret"
CHANNELS = {"incidents": "C0INC", "incidents_low": "C0LOW", "ops": "C0OPS", "security": "C0SEC"}


# ----------------------------------------------------------------------------- server side


async def serve(api_url: str, bot_token: str, db: str) -> None:
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.adapters.slack.adapter import SlackAdapter
    from bot.core.clock import SystemClock
    from bot.core.dispatcher import Dispatcher
    from bot.core.policy import Policy
    from bot.core.service import IncidentService
    from bot.core.templates import Templates
    from bot.storage import open_store

    store = open_store(f"sqlite:///{db}")
    await store.migrate()
    clock = SystemClock()
    dispatcher: Dispatcher | None = None
    service = IncidentService(
        store=store,
        policy=Policy(),
        templates=Templates(),
        clock=clock,
        on_commit=lambda: dispatcher.wake() if dispatcher else None,
    )
    adapter = SlackAdapter(
        service, bot_token=bot_token, channels=CHANNELS, signing_secret=SECRET, api_url=api_url
    )
    dispatcher = Dispatcher(
        store=store,
        service=service,
        notifiers={"slack": adapter},
        pagers={},
        clock=clock,
        owner="bench",
    )
    await adapter.start()
    bot_app = web.Application()
    adapter.mount(bot_app)

    # The baseline: slack-bolt with one listener that only acks.
    bare_client = AsyncWebClient(token=bot_token, base_url=api_url)
    bare = AsyncApp(client=bare_client, signing_secret=SECRET)

    @bare.command("/incident")
    async def _only_ack(ack: AsyncAck) -> None:
        await ack()

    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request

    async def bare_handler(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bare.async_dispatch(await to_bolt_request(request)))

    bare_app = web.Application()
    bare_app.router.add_post("/slack/events", bare_handler)

    runners = []
    ports = {}
    for name, app in (("bot", bot_app), ("bare", bare_app)):
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        ports[name] = runner.addresses[0][1]
    task = asyncio.create_task(dispatcher.run())
    print(json.dumps(ports), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    dispatcher.stop()
    await task
    await adapter.aclose()
    await service.aclose()
    for r in runners:
        await r.cleanup()
    await store.aclose()


# ----------------------------------------------------------------------------- load side


class Load:
    def __init__(self, fake: object, session: ClientSession) -> None:
        from tests.fakes.slack import FakeSlack

        assert isinstance(fake, FakeSlack)
        self.fake = fake
        self.session = session
        self.sent: dict[str, int] = {}

    async def one(self, url: str, text: str) -> float:
        self.sent[url] = self.sent.get(url, 0) + 1
        body = urlencode(self.fake.slash_payload(text)).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **self.fake.sign(body)}
        start = time.perf_counter()
        async with self.session.post(url, data=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"ack status {resp.status}")
        return time.perf_counter() - start

    async def paced(self, url: str, rate: float, seconds: float) -> list[float]:
        """Open loop: command i is sent at t0 + i/rate whatever the earlier ones are doing."""
        n = int(rate * seconds)
        t0 = time.perf_counter()

        async def at(i: int) -> float:
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            return await self.one(url, "list")

        return list(await asyncio.gather(*(at(i) for i in range(n))))

    async def flat_out(self, url: str, senders: int, seconds: float) -> float:
        done = 0
        stop = time.perf_counter() + seconds

        async def sender() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await self.one(url, "list")
                done += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        return done / (time.perf_counter() - t0)


async def run_bench(seconds: float, rounds: int) -> dict[str, object]:
    from tests.fakes.slack import Call, FakeSlack

    async with FakeSlack(signing_secret=SECRET) as fake:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "PYTHONPATH": ROOT}
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--serve",
                fake.api_url,
                fake.bot_token,
                str(Path(tmp) / "bench.db"),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
            )
            assert proc.stdout is not None
            assert proc.stdin is not None
            ports = json.loads(await proc.stdout.readline())
            stdout = proc.stdout

            async def drain() -> None:  # the child's logs must never fill the pipe
                while await stdout.read(65536):
                    pass

            drainer = asyncio.create_task(drain())
            urls = {k: f"http://127.0.0.1:{p}/slack/events" for k, p in ports.items()}
            results: dict[str, dict[str, list[float]]] = {
                k: {"p50": [], "p99": [], "rate": []} for k in urls
            }
            async with ClientSession(connector=TCPConnector(limit=0)) as session:
                load = Load(fake, session)
                for url in urls.values():  # warm-up: auth.test, connections, imports
                    await asyncio.gather(*(load.one(url, "list") for _ in range(50)))
                for _ in range(rounds):
                    for name, url in urls.items():
                        lat = await load.paced(url, 200, seconds)
                        results[name]["p50"].append(pct(lat, 50) * 1000)
                        results[name]["p99"].append(pct(lat, 99) * 1000)
                        results[name]["rate"].append(await load.flat_out(url, 50, seconds))
                        # Let the bot's post-ack work (its answers) finish before the next phase.
                        await fake.wait_for(
                            lambda: len(fake.responses) >= load.sent[urls["bot"]] - 50, within=60
                        )

                # Declare -> announcement at FakeSlack (sequential).
                fake.bot_url = urls["bot"]
                announce: list[float] = []
                for i in range(20):
                    before = len(fake.calls_to("chat.postMessage"))
                    title = f"Bench outage {i}"
                    start = time.monotonic()
                    await fake.slash_command(f"declare {title} sev2")

                    def arrived(t: str = title, b: int = before) -> Call | None:
                        return next(
                            (
                                c
                                for c in fake.calls_to("chat.postMessage")[b:]
                                if t in str(c.args.get("text", ""))
                                and c.args.get("channel") == "C0INC"
                            ),
                            None,
                        )

                    call = await fake.wait_for(
                        arrived,
                        within=10,
                    )
                    announce.append((call.at - start) * 1000)
                sent = load.sent[urls["bot"]] + 20  # + the declares
            proc.stdin.close()
            await proc.wait()
            await drainer
            answered = len(fake.responses)

    med = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}
    return {
        "median_of_rounds": med,
        "announce_p50_ms": statistics.median(announce),
        "answered": f"{answered}/{sent}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve", nargs=3, metavar=("API_URL", "BOT_TOKEN", "DB"))
    ap.add_argument("--seconds", type=float, default=4.0, help="length of each load phase")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.serve:
        from bot.log import configure

        # Logs to stderr, as the bot does: stdout carries only the ports line the parent reads.
        configure(fmt="json", level="warning", stream=sys.stderr)
        asyncio.run(serve(*args.serve))
        return
    out = asyncio.run(run_bench(args.seconds, args.rounds))
    med = out["median_of_rounds"]
    assert isinstance(med, dict)
    print(f"{'app':6} {'p50 ms @200/s':>14} {'p99 ms @200/s':>14} {'acks/s (50 senders)':>20}")
    for name, r in med.items():
        print(f"{name:6} {r['p50']:14.2f} {r['p99']:14.2f} {r['rate']:20.0f}")
    print(f"declare -> announcement at Slack, p50: {out['announce_p50_ms']:.1f} ms")
    print(f"commands answered through response_url (bot only; bare acks only): {out['answered']}")
    bot, bare = med["bot"], med["bare"]
    ok = bot["p99"] < 50 and bot["rate"] >= 500 and bot["rate"] * 2 >= bare["rate"]
    print("targets (p99 < 50 ms, >= 500/s, within 2x of bare bolt):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
