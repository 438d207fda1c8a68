"""The kill loop (issue 10 item 7, SPEC §7 "Effectively once"): real `incidentbot run`
processes delivering to FakeSlack and FakeDiscord while they are SIGKILLed, over and over,
at the worst moment — right after the platform stored a message whose answer is still on
its way (both fakes answer message creates late, and now and then never).

Used by tests/integration/test_kill_loop.py and bench/once_bench.py.

* SQLite: one process on one file, killed and started again `kills` times.
* PostgreSQL: `replicas` processes on one schema; each kill takes one down and starts a
  replacement at once.

SEV1 incidents (half declared on Slack, half on Discord) remind every `cadence`, so the
outbox is never idle. When the killing is over the incidents are resolved, the outbox
drains and the processes stop cleanly. Then the platforms' messages are counted against
the store: per notice id (Slack metadata, Discord nonce) and per text (one announcement
per incident, one reminder message per reminder in the timeline). Duplicates and lost
messages must both be 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import BotConfig, load_config
from bot.core.clock import SystemClock
from bot.core.model import Actor, ChannelRef
from bot.core.service import IncidentService
from bot.storage import open_store
from tests.fakes.discord import FakeDiscord, message_text
from tests.fakes.slack import FakeSlack

ROOT = Path(__file__).resolve().parents[1]
# A process waiting to take over: the heavy imports done, `incidentbot run` (the real CLI
# entry point) starts when a line arrives on stdin. A restart then takes a fraction of a
# second rather than the several seconds of imports on a loaded 2-core box.
WARM = (
    "import sys, bot.app, bot.adapters.slack.adapter, bot.adapters.discord.adapter\n"
    "import bot.storage.postgres\n"
    "import bot.storage.sqlite, bot.probing, bot.paging.config, bot.config, bot.settings\n"
    "import slack_bolt.adapter.socket_mode.aiohttp, slack_sdk.socket_mode.aiohttp\n"
    "from bot.__main__ import main\n"
    "sys.stdin.readline()\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
CREATE = r"/channels/\d+/messages"
SLACK_CHANNELS = {"incidents": "C0INCIDENTS", "incidents_low": "C0INCLOW", "ops": "C0OPS"}


@dataclass
class Outcome:
    """What one kill loop did and what the platforms ended up showing."""

    store: str
    replicas: int
    kills: int = 0
    seconds: float = 0.0
    recorded_reminders: int = 0  # reminder entries in the store's timelines
    posted_reminders: int = 0  # reminder messages on the platforms
    notices_posted: int = 0  # distinct notice ids seen on the platforms
    duplicated: int = 0  # extra messages: same notice id or same reminder twice
    duplicated_by_text: int = 0  # the same, counted by text alone (also without metadata)
    lost: int = 0  # recorded but never shown, or left in the outbox
    found_by_lookup: int = 0  # Slack retries that found their message and posted nothing
    nonce_replays: int = 0  # Discord creates answered with their original message
    unanswered: int = 0  # creates the fakes carried out but never answered
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "details"}
        out["seconds"] = round(self.seconds, 1)
        return out


class Bot:
    """One `incidentbot run` process (Slack Socket Mode + Discord) and its JSON log."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self.other: list[str] = []
        self.started = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def spawn(cls, name: str, env: dict[str, str], config: Path) -> Bot:
        """A warm process (see WARM); `go()` starts the bot in it."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WARM, "--config", str(config), "run",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env={**env, "REPLICA_ID": name}, cwd=ROOT,
        )  # fmt: skip
        return cls(name, proc)

    async def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            text = raw.decode(errors="replace").rstrip("\n")
            try:
                event = json.loads(text)
            except ValueError:
                self.other.append(text)
                continue
            self.events.append(event)
            if event.get("event") == "app.started":
                self.started.set()

    def count(self, event: str) -> int:
        return sum(1 for e in self.events if e.get("event") == event)

    async def wait_started(self, within: float = 30.0) -> None:
        waiter = asyncio.ensure_future(self.started.wait())
        exited = asyncio.ensure_future(self.proc.wait())
        await asyncio.wait({waiter, exited}, timeout=within, return_when="FIRST_COMPLETED")
        waiter.cancel()
        exited.cancel()
        if not self.started.is_set():
            await asyncio.sleep(0.2)  # the last lines of a failed start
            raise AssertionError(f"{self.name} did not start:\n" + "\n".join(self.tail()))

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await self._reader

    async def stop(self, within: float = 30.0) -> int:
        """SIGTERM: the bot drains what is due, releases its claims and exits."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            self.proc.send_signal(signal.SIGKILL)
            code = await self.proc.wait()
        await self._reader
        return code

    def tail(self, n: int = 20) -> list[str]:
        return [json.dumps(e) for e in self.events[-n:]] + self.other[-n:]


def config_yaml(discord: FakeDiscord, *, cadence: str, lease: str) -> str:
    names = {"incidents": "incidents", "incidents_low": "incidents-low", "ops": "ops"}
    d = {key: discord.channel_id(name) for key, name in names.items()}
    return (
        f"channels: {json.dumps(SLACK_CHANNELS)}\n"
        f"platforms:\n  discord:\n    guild_id: '{discord.guild_id}'\n"
        f"    channels: {json.dumps(d)}\n"
        f"severities:\n  SEV1: {{update_every: {cadence}, escalate_after: never}}\n"
        "escalation: {missed_updates: 0}\n"
        f"scheduler: {{lease: {lease}, max_idle: 1s}}\n"
        "on_declare: []\n"
    )


async def _declare(store_url: str, config: BotConfig, discord: FakeDiscord, n: int) -> None:
    """`n` SEV1 incidents, alternately declared in Slack and in Discord."""
    store = open_store(store_url)
    await store.migrate()
    svc = IncidentService(
        store=store, policy=config.policy(), templates=config.templates_set(), clock=SystemClock()
    )
    for i in range(n):
        if i % 2 == 0:
            who, where = Actor("U0ALICE", "alice"), ChannelRef("slack", "C0INCIDENTS")
        else:
            alice = discord.user_id("alice")
            who, where = Actor(alice, "alice"), ChannelRef("discord", discord.channel_id("general"))
        reply = await svc.handle_text(f'declare "kill loop {i:03d}" sev1', who, where)
        assert reply.ok, reply
    await svc.aclose()
    await store.aclose()


async def _resolve_all(store_url: str, config: BotConfig) -> None:
    store = open_store(store_url)
    svc = IncidentService(
        store=store, policy=config.policy(), templates=config.templates_set(), clock=SystemClock()
    )
    for inc in await store.list_incidents(open_only=True, limit=1000):
        who = inc.declared_by
        where = inc.thread or ChannelRef(inc.platform, "")
        reply = await svc.handle_text(f"resolve {inc.key} kill loop over", who, where)
        assert reply.ok, reply
    await svc.aclose()
    await store.aclose()


async def _outbox_empty(store_url: str) -> bool:
    store = open_store(store_url)
    try:
        return await store.next_notice_at() is None
    finally:
        await store.aclose()


async def _until(
    pred: Callable[[], bool], within: float, what: str, why: Callable[[], str] = lambda: ""
) -> None:
    end = time.monotonic() + within
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"kill loop: timed out waiting for {what}\n{why()}")
        await asyncio.sleep(0.005)  # the answer is late by 200 ms: kill well inside it


async def run_kill_loop(
    tmp: Path,
    store_url: str,
    *,
    replicas: int = 1,
    kills: int = 8,
    incidents: int = 8,
    cadence: str = "2s",
    lease: str = "2s",
    answer_delay: float = 0.2,
    seed: int = 7,
) -> Outcome:
    """Runs the kill loop (see the module docstring) and counts what the platforms show."""
    rng = random.Random(seed)
    outcome = Outcome(store="postgres" if store_url.startswith("postgres") else "sqlite",
                      replicas=replicas)  # fmt: skip
    started_at = time.monotonic()
    spawned: list[Bot] = []
    async with FakeSlack() as slack:
        discord = FakeDiscord()
        await discord.start()
        try:
            cfg = tmp / "bot.yaml"
            cfg.write_text(config_yaml(discord, cadence=cadence, lease=lease))
            config = load_config(str(cfg))
            await _declare(store_url, config, discord, incidents)
            slack.answer_late("chat.postMessage", answer_delay)
            discord.answer_late("POST", CREATE, answer_delay)
            env = _env(slack, discord, store_url, tmp)
            names = (f"bot{i}" for i in range(10_000))

            async def spawn() -> Bot:
                spawned.append(await Bot.spawn(next(names), env, cfg))
                return spawned[-1]

            bots = [await spawn() for _ in range(replicas)]
            retired: list[Bot] = []
            for b in bots:
                await b.go()
            await asyncio.gather(*(b.wait_started(60) for b in bots))
            standby = await spawn()  # warms up while the first victim works
            phases: dict[str, list[float]] = {"started": [time.monotonic() - started_at]}
            mark = time.monotonic()

            def lap(name: str) -> None:
                nonlocal mark
                now = time.monotonic()
                phases.setdefault(name, []).append(round(now - mark, 2))
                mark = now

            outcome.details["phases"] = phases
            for k in range(kills):
                if k % 3 == 1:  # now and then a create is carried out and never answered
                    slack.never_answer("chat.postMessage", drop=k % 2 == 0)
                if k % 3 == 2:
                    discord.never_answer("POST", CREATE, drop=k % 2 == 0)
                # Kill right after a platform stored a message: its answer is still 200 ms
                # away, so (for the process that sent it) the outcome is lost.
                on_slack = k % 2 == 0
                seen = len(slack.messages) if on_slack else len(discord.messages)
                await _until(
                    lambda s=seen, o=on_slack: (  # type: ignore[misc]  # mypy cannot infer it
                        (len(slack.messages) if o else len(discord.messages)) > s
                    ),
                    60,
                    f"a message to be stored on {'Slack' if on_slack else 'Discord'}",
                    lambda: _diagnose(bots, slack, discord),
                )
                lap("until_stored")
                # The victim is one that is running (a replacement may still be starting).
                await _until(lambda: any(b.started.is_set() for b in bots), 60, "a bot up")
                slot = rng.choice([i for i, b in enumerate(bots) if b.started.is_set()])
                victim = bots[slot]
                await victim.kill()
                outcome.kills += 1
                retired.append(victim)
                bots[slot], standby = standby, await spawn()
                await bots[slot].go()
                if replicas == 1:  # nothing runs until it is back
                    await bots[slot].wait_started(60)
                lap("restart")
            await _until(lambda: any(b.started.is_set() for b in bots), 60, "a bot up")
            await _resolve_all(store_url, config)
            lap("resolve")
            slack.answer_late("chat.postMessage", 0)
            discord.answer_late("POST", CREATE, 0)
            loop_end = time.monotonic() + 60
            while not await _outbox_empty(store_url):
                assert time.monotonic() < loop_end, "the outbox did not drain"
                await asyncio.sleep(0.2)
            lap("drain")
            # Replacements still starting never ran: they just go. The others stop cleanly.
            idle = [standby, *(b for b in bots if not b.started.is_set())]
            await asyncio.gather(*(b.kill() for b in idle))
            running = [b for b in bots if b.started.is_set()]
            codes = await asyncio.gather(*(b.stop() for b in running))
            assert set(codes) == {0}, [b.tail() for b in running]
            lap("stop")
            everyone = retired + bots
            outcome.found_by_lookup = sum(b.count("slack.already_posted") for b in everyone)
            outcome.nonce_replays = discord.nonce_replays
            outcome.unanswered = sum(1 for c in slack.calls if c.status == 0) + sum(
                1 for c in discord.calls if c.status == 0 and c.method == "POST"
            )
            outcome.seconds = time.monotonic() - started_at
            await _count(outcome, store_url, slack, discord)
            outcome.details["tails"] = {b.name: b.tail(5) for b in everyone}
            outcome.details["warnings"] = Counter(
                f"{e.get('event')}: {str(e.get('error', ''))[:60]}"
                for b in everyone
                for e in b.events
                if e.get("level") in ("warning", "error")
            )
        finally:
            for b in spawned:  # after a failure: no process outlives the loop
                if b.proc.returncode is None:
                    await b.kill()
            await discord.aclose()
    return outcome


def _diagnose(bots: list[Bot], slack: FakeSlack, discord: FakeDiscord) -> str:
    lines = [f"slack messages {len(slack.messages)}, discord messages {len(discord.messages)}"]
    for b in bots:
        warn = [e for e in b.events if e.get("level") in ("warning", "error")][-5:]
        lines.append(f"{b.name} rc={b.proc.returncode} started={b.started.is_set()} {warn}")
    return "\n".join(lines)


def _env(slack: FakeSlack, discord: FakeDiscord, store_url: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
    for var in ("PORT", "INCIDENTBOT_CONFIG", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                "https_proxy"):  # fmt: skip
        env.pop(var, None)
    env.update(
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_APP_TOKEN=slack.app_token,
        SLACK_API_URL=slack.api_url,
        DISCORD_TOKEN=discord.token,
        DISCORD_API_URL=discord.api_url,
        DATABASE_URL=store_url,
        INCIDENTBOT_DATA_DIR=str(tmp),
        LOG_FORMAT="json",
        LOG_LEVEL="info",
    )
    return env


async def _count(outcome: Outcome, store_url: str, slack: FakeSlack, discord: FakeDiscord) -> None:
    """Messages on the platforms against the store (see the module docstring)."""
    store = open_store(store_url)
    try:
        incidents = await store.list_incidents(open_only=False, limit=1000)
        per_notice: Counter[str] = Counter()
        for m in slack.messages:
            if m.bot:
                per_notice[f"slack:{m.notice}"] += 1
        for d in discord.messages.values():
            if d["author"]["id"] == discord.bot["id"] and not int(d["flags"]) & 64:
                per_notice[f"discord:{d.get('nonce')}"] += 1
        outcome.notices_posted = len(per_notice)
        by_id = sum(c - 1 for c in per_notice.values())
        by_text = 0
        lost = 0 if await store.next_notice_at() is None else 1
        untagged = [key for key in per_notice if key.endswith((":None", ":none"))]
        for inc in incidents:
            recorded = sum(1 for e in await store.timeline(inc.number) if e.kind == "reminder")
            title = f"INCIDENT DECLARED: {inc.title}"
            reminder = f"UPDATE DUE: {inc.key} {inc.title}"
            if inc.platform == "slack":
                texts = [m.text for m in slack.messages if m.bot]
            else:
                texts = [message_text(d) for d in discord.messages.values()
                         if d["author"]["id"] == discord.bot["id"]]  # fmt: skip
            announced = sum(1 for t in texts if title in t)
            posted = sum(1 for t in texts if reminder in t)
            outcome.recorded_reminders += recorded
            outcome.posted_reminders += posted
            by_text += max(0, announced - 1) + max(0, posted - recorded)
            lost += (1 if announced == 0 else 0) + max(0, recorded - posted)
        outcome.duplicated = max(by_id, by_text)
        outcome.duplicated_by_text = by_text
        outcome.lost = lost + len(untagged)
        outcome.details.update(by_id=by_id, by_text=by_text, untagged=untagged)
    finally:
        await store.aclose()
