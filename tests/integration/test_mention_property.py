"""SPEC §7 as a property: random command sequences full of mention-like text, through the
real service, scheduler, dispatcher and SQLite store, then through the real Slack and
Discord renderers. Whatever was typed, no output notifies a group, a role, @here, @channel
or @everyone the bot did not name itself, nobody named in a title is ever notified, and a
person named in a note or update is notified by that message and no other.

Ids are numeric (valid on both platforms) and drawn from separate ranges, so where an id
came from is known: contacts 10xx, people 20xx, typed into a title 9xxx, into a note or an
update 8xxx.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.discord import render as dr
from bot.adapters.slack import render as sb
from bot.config import BotConfig
from bot.core.clock import ManualClock
from bot.core.dispatcher import Dispatcher
from bot.core.messages import Message, Notice, NoticeKind, people_in
from bot.core.model import Actor, ChannelRef, Incident
from bot.core.scheduler import Scheduler
from bot.core.service import IncidentService
from bot.storage import open_store
from tests.fakes.discord import pinged
from tests.mention_audit import discord_raw_mass, slack_live
from tests.stack import T0

CONTACTS = {"oncall": ["1001", "S0SRE"], "engineering_manager": ["1002"], "security": ["1003"]}
BOT_GROUPS = {"!subteam^S0SRE"}  # configured, so the bot's own: it may notify
PEOPLE = ("2001", "2002", "2003")
ACTORS = (Actor("2001", "alice"), Actor("2002", "@everyone"))  # a display name is text too
HERE = ChannelRef("test", "C_INCIDENTS")

HOSTILE = st.sampled_from(
    [
        "<!here>",
        "<!channel>",
        "<!everyone>",
        "<!group>",
        "<!subteam^S123>",
        "<!subteam^S123|@sre>",
        "<!date^1392734382^{date}|x>",
        "@here",
        "@channel",
        "@everyone",
        "@sre-team",
        "@everyone's",
        "ops@here.example",
        "<@&123456>",
        "<@!123456|x>",
        "<#C1|ops>",
        "<http://evil.example|bank>",
        "&lt;!here&gt;",
        "@\u200beveryone",
        "*bold* _it_ `code`",
        "```",
        "a@b.c",
    ]
)
NOISE = st.text(alphabet=st.sampled_from(list("<>@!&^|#:*_~;- aZ9")), max_size=12)
TEXT = st.lists(st.one_of(HOSTILE, NOISE), min_size=1, max_size=6).map(" ".join)
INC = st.integers(1, 3).map(lambda n: f"INC-{n}")
TARGET = st.one_of(
    st.sampled_from([f"<@{p}>" for p in PEOPLE]),
    st.sampled_from(["@here", "@channel", "@everyone", "<!here>", "<!subteam^S9|@sre>", "<@&77>"]),
)

STEP = st.one_of(
    st.tuples(st.just("declare"), TEXT, st.sampled_from(["sev1", "sev2", "sev3", "sev4"])),
    st.tuples(st.just("note"), INC, TEXT, st.booleans()),
    st.tuples(st.just("update"), INC, TEXT, st.booleans()),
    st.tuples(st.just("status"), INC, st.sampled_from(["identified", "monitoring"]), TEXT),
    st.tuples(st.just("ic"), INC, TARGET),
    st.tuples(st.just("role"), INC, st.sampled_from(["scribe", "comms"]), TARGET),
    st.tuples(st.just("resolve"), INC, TEXT),
    st.tuples(st.just("timeline"), INC),
    st.tuples(
        st.just("list"),
    ),
    st.tuples(st.just("wait"), st.integers(1, 180)),
)


@dataclass
class Capturing:
    """A Notifier that keeps every notice it is given (a real class, not a mock)."""

    platform: str = "test"
    notices: list[Notice] = field(default_factory=list)

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        self.notices.append(notice)
        if notice.kind is NoticeKind.ANNOUNCE:
            return ChannelRef("test", "C", f"thread-{incident.key}")
        return None


@dataclass
class Run:
    """What one sequence produced, and where each typed id came from."""

    messages: list[Message] = field(default_factory=list)  # notices, then replies
    replies: list[Message] = field(default_factory=list)
    title_ids: set[str] = field(default_factory=set)
    # person id -> how many notes/updates naming it were taken (each notifies it once)
    typed: Counter[str] = field(default_factory=Counter)
    rejected_targets: list[tuple[str, bool]] = field(default_factory=list)


async def _run(steps: list[tuple[Any, ...]], store_url: str) -> Run:
    config = BotConfig(contacts=CONTACTS)
    clock = ManualClock(T0)
    store = open_store(store_url)
    await store.migrate()
    notifier = Capturing()
    service = IncidentService(
        store=store, policy=config.policy(), templates=config.templates_set(), clock=clock
    )
    scheduler = Scheduler(store=store, service=service, clock=clock, owner="t")
    dispatcher = Dispatcher(
        store=store, service=service, notifiers={"test": notifier}, pagers={}, clock=clock,
        owner="t",
    )  # fmt: skip

    async def settle() -> None:
        for _ in range(50):
            now = clock.now()
            if not await scheduler.step(now) and not await dispatcher.step(now):
                return

    run = Run()
    try:
        for i, step in enumerate(steps):
            actor = ACTORS[i % 2]
            kind = step[0]
            if kind == "wait":
                await clock.advance(timedelta(minutes=step[1]))
                await settle()
                continue
            if kind == "declare":
                tid = f"{9000 + i}"
                run.title_ids.add(tid)
                line = f'declare "{step[1]} <@{tid}>" {step[2]}'
            elif kind in ("note", "update"):
                typed = f"{8000 + i}"
                line = f"{kind} {step[1]} {step[2]}" + (f" <@{typed}>" if step[3] else "")
            elif kind == "status":
                line = f"status {step[1]} {step[2]} {step[3]}"
            elif kind == "ic":
                line = f"ic {step[1]} {step[2]}"
            elif kind == "role":
                line = f"role {step[1]} {step[2]} {step[3]}"
            elif kind == "resolve":
                line = f"resolve {step[1]} {step[2]}"
            else:
                line = " ".join(step)
            reply = await service.handle_text(line, actor, HERE)
            if kind in ("note", "update"):
                for person in people_in(line):
                    run.typed[person] += 1 if reply.ok else 0
            if kind in ("ic", "role"):
                run.rejected_targets.append((step[-1], reply.ok))
            if reply.message is not None:
                run.replies.append(reply.message)
            await settle()
    finally:
        await service.aclose()
        await store.aclose()
    run.messages = [n.message for n in notifier.notices]
    return run


def _slack_own(msg: Message) -> set[str]:
    """The Slack mentions the bot itself makes in `msg`."""
    return {sb.mention(m).strip("<>") for m in msg.mentions} | {f"@{p}" for p in msg.people}


def _discord_pinged(msg: Message) -> tuple[set[str], dict[str, Any]]:
    out = dr.render(msg)
    allowed: dict[str, Any] = dict(out.mentions.to_dict())
    users, roles, mass = pinged(out.content, allowed)
    got = users | {f"&{r}" for r in roles} | ({"@everyone"} if mass else set())
    body = {"content": out.content, "embeds": [out.embed.to_dict()] if out.embed else []}
    assert discord_raw_mass(body) == [], body
    assert "everyone" not in (allowed.get("parse") or [])
    return got, allowed


_MASS_TARGET = re.compile(r"^(?:@(?:here|channel|everyone)|<!.*|<@&.*)$")


def _check(run: Run) -> None:
    """The §7 invariants over everything one run said (see the module docstring)."""
    bots_own = {m for ids in CONTACTS.values() for m in ids} | set(PEOPLE)
    live_in: Counter[str] = Counter()
    for msg in [*run.messages, *run.replies]:
        # the core names only contacts, people and persons typed into a note or update
        assert set(msg.notifies()) <= bots_own | set(run.typed), msg
        text, blocks = sb.render(msg)
        slack = slack_live(text, blocks)
        assert slack <= _slack_own(msg), (slack, msg)
        assert {t for t in slack if t.startswith("!")} <= BOT_GROUPS
        discord, allowed = _discord_pinged(msg)
        assert discord <= set(msg.notifies()), (discord, msg)
        assert not run.title_ids & ({t.lstrip("@") for t in slack} | discord)
        for tid in run.title_ids:
            assert tid not in {str(u) for u in allowed.get("users", [])}
    for msg in run.messages:
        slack = slack_live(*sb.render(msg))
        discord, _ = _discord_pinged(msg)
        for typed in run.typed:
            assert (f"@{typed}" in slack) == (typed in discord), (typed, msg)
            live_in[typed] += f"@{typed}" in slack
    assert live_in == run.typed  # each note or update notified its people once, nothing else did
    for target, took in run.rejected_targets:
        if _MASS_TARGET.match(target):
            assert not took, target


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(STEP, min_size=2, max_size=10).map(lambda s: [("declare", "x", "sev1"), *s]))
def test_typed_text_never_pings_anyone_the_bot_did_not_name(steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _check(asyncio.run(_run(steps, f"sqlite:///{Path(tmp) / 'bot.sqlite3'}")))


ALL_OF_IT = "<!here> <!channel> <!everyone> <!subteam^S1|@sre> @everyone @here <@&9> <@!77>"
FIXED: list[tuple[Any, ...]] = [
    ("declare", ALL_OF_IT, "sev1"),
    ("note", "INC-1", ALL_OF_IT, True),
    ("update", "INC-1", f"{ALL_OF_IT} ; {ALL_OF_IT}", True),
    ("wait", 16),  # a reminder and an escalation repeat the title
    ("ic", "INC-1", "<!here>"),
    ("role", "INC-1", "scribe", "<!subteam^S9|@sre>"),
    ("ic", "INC-1", "<@2003>"),
    ("resolve", "INC-1", ALL_OF_IT),
    ("timeline", "INC-1"),
    ("list",),
]


async def _fixed(store_url: str) -> None:
    run = await _run(FIXED, store_url)
    _check(run)
    # what the outbox stored still says whom to notify: the paged contacts and the IC
    announcement = run.messages[0]
    assert announcement.title.startswith("[INC-1] INCIDENT DECLARED")
    assert slack_live(*sb.render(announcement)) == {"@1001", "!subteam^S0SRE", "@1002", "@2001"}
    assert run.typed == Counter({"77": 2, "8001": 1, "8002": 1})
    assert [took for _, took in run.rejected_targets] == [False, False, True]


async def test_the_same_holds_through_sqlite(tmp_path: Path) -> None:
    await _fixed(f"sqlite:///{tmp_path / 'bot.sqlite3'}")


async def test_the_same_holds_through_postgresql(pg_schema_url: str) -> None:
    await _fixed(pg_schema_url)
