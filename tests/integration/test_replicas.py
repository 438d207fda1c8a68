"""Scale-out: several replicas over one PostgreSQL database.

The process tests run three real `incidentbot run --platform console` processes on one
schema, with a 2 s SEV1 cadence and a 3 s lease (`scheduler.lease`), and check against the
store what the replicas printed: every reminder recorded once and delivered once, none
missed, incident numbers gap-free, and a replica killed with SIGKILL losing its claimed
timers and notices to the others as soon as its lease ends. The in-process tests cover
redelivered commands and concurrent declares across several stores.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.config import BotConfig
from bot.core.clock import ManualClock, SystemClock
from bot.core.dispatcher import Dispatcher
from bot.core.messages import Notice, NoticeKind
from bot.core.model import Actor, ChannelRef, Incident
from bot.core.service import IncidentService
from bot.storage.postgres import PostgresStore
from tests.fakes.recording import RecordingNotifier
from tests.pgschema import fresh_schema
from tests.replicas import Replicas, replica_config

CADENCE = 2.0  # update_every of SEV1 in these tests
LEASE = 3.0  # scheduler.lease
MAX_IDLE = 1.0  # scheduler.max_idle
# How late a reminder may fire on a loaded 2-core box; a missed reminder would show up
# as a whole cadence (2 s) or more of extra delay.
TOLERANCE = 1.2


@pytest.fixture
async def dsn(pg_url: str) -> AsyncIterator[str]:
    async with fresh_schema(pg_url) as url:
        yield url


@dataclass(frozen=True)
class Outbox:
    id: int
    incident: int
    title: str
    owner: str | None
    until: float | None  # claim_until as a UNIX time


@dataclass
class Snapshot:
    """One consistent read of the store (a REPEATABLE READ transaction)."""

    reminders: dict[int, list[float]]  # incident -> reminder timeline times (UNIX)
    texts: dict[int, list[str]]  # incident -> reminder timeline texts
    outbox: list[Outbox]
    timer_claims: dict[int, tuple[str, float]]  # incident -> (owner, claim_until) of REMINDER
    numbers: list[int]
    declared_at: dict[int, float]


async def snapshot(dsn: str) -> Snapshot:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            incs = await conn.fetch("SELECT number, declared_at FROM incidents ORDER BY number")
            tl = await conn.fetch(
                "SELECT incident, at, text FROM timeline WHERE kind = 'reminder'"
                " ORDER BY incident, at, id"
            )
            notices = await conn.fetch(
                "SELECT id, incident, message->>'title' AS title, claim_owner, claim_until"
                " FROM notices ORDER BY id"
            )
            timers = await conn.fetch(
                "SELECT incident, claim_owner, claim_until FROM timers"
                " WHERE kind = 'reminder' AND claim_owner IS NOT NULL"
            )
    finally:
        await conn.close()
    reminders: dict[int, list[float]] = {r["number"]: [] for r in incs}
    texts: dict[int, list[str]] = {r["number"]: [] for r in incs}
    for r in tl:
        reminders[r["incident"]].append(r["at"].timestamp())
        texts[r["incident"]].append(r["text"])
    return Snapshot(
        reminders=reminders,
        texts=texts,
        outbox=[
            Outbox(
                r["id"],
                r["incident"],
                r["title"],
                r["claim_owner"],
                r["claim_until"].timestamp() if r["claim_until"] else None,
            )
            for r in notices
        ],
        timer_claims={
            r["incident"]: (r["claim_owner"], r["claim_until"].timestamp()) for r in timers
        },
        numbers=[r["number"] for r in incs],
        declared_at={r["number"]: r["declared_at"].timestamp() for r in incs},
    )


def outbox_reminders(snap: Snapshot, n: int) -> list[Outbox]:
    return [o for o in snap.outbox if o.incident == n and o.title.startswith("UPDATE DUE")]


def delivered(bots: Replicas) -> dict[int, int]:
    """Incident -> reminder deliveries printed by all replicas together."""
    total: dict[int, int] = {}
    for per in bots.reminders().values():
        for n, times in per.items():
            total[n] = total.get(n, 0) + len(times)
    return total


async def start_and_declare(
    tmp: Path, dsn: str, per_replica: int
) -> tuple[Replicas, dict[str, int]]:
    """Three replicas; `per_replica` SEV1 declarations written to each one's stdin at once."""
    (tmp / "bot.yaml").write_text(replica_config(lease=f"{LEASE:g}s", max_idle=f"{MAX_IDLE:g}s"))
    bots = await Replicas.start(3, dsn=dsn, config=tmp / "bot.yaml", data_dir=tmp)
    titles = [f"{r.name}-{i}" for r in bots.members for i in range(per_replica)]
    lines = {r.name: [f'/incident declare "{r.name}-{i}" sev1' for i in range(per_replica)]
             for r in bots.members}  # fmt: skip
    await asyncio.gather(*(r.send(lines[r.name]) for r in bots.members))
    await bots.wait_until(
        lambda: len(bots.declared()) == len(titles), 30, f"{len(titles)} declarations"
    )
    declared = bots.declared()
    assert sorted(declared) == sorted(titles)
    # Unique and gap-free across processes that declared concurrently.
    assert sorted(declared.values()) == list(range(1, len(titles) + 1))
    return bots, declared


def check_lateness(
    snap: Snapshot, allowed_from: dict[tuple[int, int], float], stopped_at: float
) -> None:
    """Reminder k of incident n is due a cadence after the previous one (or after the
    declaration) and must fire within TOLERANCE of that, or of `allowed_from[(n, k)]` where
    a stop or a kill legitimately held it back; the last one must leave nothing overdue."""
    for n, times in snap.reminders.items():
        previous = snap.declared_at[n]
        for k, at in enumerate(times):
            due = previous + CADENCE
            assert at >= due - 0.001, f"INC-{n} reminder #{k + 1} fired early"
            start = max(due, allowed_from.get((n, k), due))
            assert at - start <= TOLERANCE, (
                f"INC-{n} reminder #{k + 1} {at - start:.2f} s late (due {due:.2f})"
            )
            previous = at
        # None missed at the end: the next one was not yet overdue when they stopped.
        assert previous + CADENCE > stopped_at - TOLERANCE, f"INC-{n} missed a reminder"


def check_numbering(snap: Snapshot) -> None:
    for n, texts in snap.texts.items():
        assert texts == [f"update reminder #{k}" for k in range(1, len(texts) + 1)], (n, texts)


# --------------------------------------------------------------------------- processes


@pytest.mark.slow
async def test_three_replicas_deliver_each_reminder_exactly_once(tmp_path: Path, dsn: str) -> None:
    bots, _ = await start_and_declare(tmp_path, dsn, per_replica=12)
    try:
        # Let at least three cadences pass for every incident, judged by what was printed.
        await bots.wait_until(
            lambda: len(d := delivered(bots)) == 36 and min(d.values()) >= 3,
            8 * CADENCE + 10,
            "three reminders for every incident",
        )
    finally:
        stopped_at = time.time()
        codes = await bots.close()
    assert codes == [0, 0, 0], bots.dump()
    snap = await snapshot(dsn)
    assert snap.numbers == list(range(1, 37))
    check_numbering(snap)
    check_lateness(snap, {}, stopped_at)
    # Every recorded reminder was printed by exactly one replica, and nothing is left over:
    # each replica drained the outbox before exiting.
    assert snap.outbox == []
    assert delivered(bots) == {n: len(t) for n, t in snap.reminders.items()}
    # The work really was shared: every replica delivered reminders.
    per_replica = {name: sum(map(len, per.values())) for name, per in bots.reminders().items()}
    assert all(count > 0 for count in per_replica.values()), per_replica


@pytest.mark.slow
async def test_a_killed_replicas_claims_are_taken_over_within_the_lease(
    tmp_path: Path, dsn: str
) -> None:
    """SIGKILL one replica while it holds claims. To know exactly what it held and what it
    had printed, all three are frozen (SIGSTOP) around the kill and the store is read while
    nothing moves; the survivors then resume.

    The outbox is at-least-once in one precise case: the killed process printed a notice
    (the platform accepted it) but died before deleting it from the outbox, so a survivor
    delivers it again after the lease. That can only be the notice it held as its incident's
    head at the kill, and only if its print is already on the pipe; the test computes that
    set from the frozen state and allows exactly those duplicates, and no other."""
    bots, _ = await start_and_declare(tmp_path, dsn, per_replica=8)
    victim, survivors = bots.members[2], bots.members[:2]
    try:
        await bots.wait_until(
            lambda: len(d := delivered(bots)) == 24 and min(d.values()) >= 1,
            4 * CADENCE + 10,
            "a first reminder for every incident",
        )
        frozen_at, frozen, snap = await freeze_with_victim_claims(bots, victim.name)
        # What was printed vs recorded at the frozen instant: a printed notice still in the
        # outbox must be the claimed head of its lane (mid-delivery); the victim's such
        # notices are the allowed duplicates.
        printed = delivered(bots)
        await victim.kill()
        resumed_at = time.time()
        for r in survivors:
            r.signal(signal.SIGCONT)

        held = {o.incident: o for o in snap.outbox if o.owner == victim.name}
        duplicates: set[int] = set()
        for n, times in snap.reminders.items():
            pending = outbox_reminders(snap, n)
            extra = printed.get(n, 0) - (len(times) - len(pending))
            assert extra in (0, 1), (n, extra)
            if extra:
                assert pending[0].owner is not None, f"INC-{n}: printed but unclaimed"
                if pending[0].owner == victim.name:
                    duplicates.add(n)
        victim_timers = {n: c for n, c in snap.timer_claims.items() if c[0] == victim.name}
        assert held, "the victim held no notice at the kill"

        # Its claimed notices are delivered by a survivor once the lease ends (+ max_idle).
        for n, o in held.items():
            assert o.until is not None and o.until <= frozen_at + LEASE + 0.01
            line = await bots.first_line(survivors, f"INC-{n} › {o.title}", resumed_at, LEASE + 5)
            assert o.until - 0.01 <= line.at <= o.until + MAX_IDLE + TOLERANCE, (
                n,
                line.at - o.until,
            )
        # ... and the timers it claimed fire once, right after the lease (checked below).
        allowed: dict[tuple[int, int], float] = {}
        for n, times in snap.reminders.items():
            k = len(times)  # the next reminder of n was due or overdue at the freeze
            allowed[(n, k)] = resumed_at
            if n in victim_timers:
                allowed[(n, k)] = victim_timers[n][1]
        await bots.wait_until(
            lambda: (
                min(delivered(bots).get(n, 0) for n in snap.reminders)
                >= max(len(t) for t in snap.reminders.values()) + 2
            ),
            LEASE + MAX_IDLE + 3 * CADENCE + 10,
            "two more reminders for every incident after the kill",
        )
    finally:
        stopped_at = time.time()
        for r in bots.members:
            r.signal(signal.SIGCONT)
        codes = await bots.close()
    assert codes == [0, 0, -9], bots.dump()
    final = await snapshot(dsn)
    assert final.numbers == list(range(1, 25))
    check_numbering(final)
    check_lateness(final, allowed, stopped_at)
    for n in victim_timers:
        # Taken over once the victim's lease ended, not earlier, not much later.
        later = [t for t in final.reminders[n] if t > frozen]
        assert later and victim_timers[n][1] <= later[0] <= victim_timers[n][1] + MAX_IDLE + 1
    assert final.outbox == []
    expected = {n: len(t) + (1 if n in duplicates else 0) for n, t in final.reminders.items()}
    assert delivered(bots) == expected


async def freeze_with_victim_claims(
    bots: Replicas, victim: str, attempts: int = 60
) -> tuple[float, float, Snapshot]:
    """Stops every replica (SIGSTOP) at a moment the victim holds an outbox claim, reads the
    store, and leaves them stopped. Returns (time stopped, time read, snapshot)."""
    target = next(r for r in bots.members if r.name == victim)
    for _ in range(attempts):
        # Right after the victim prints a reminder it is mid-delivery (the print comes
        # before the outbox row is deleted), and usually mid-way through a burst.
        seen = len(target.lines)
        await bots.wait_until(
            lambda seen=seen: len(target.lines) > seen,  # type: ignore[misc]
            3 * CADENCE,
            "victim output",
        )
        for r in bots.members:
            r.signal(signal.SIGSTOP)
        frozen_at = time.time()
        await bots.quiet()
        snap = await snapshot(bots.dsn)
        # Holding a notice shows the outbox's takeover (its timers' claims are shorter-lived).
        if any(o.owner == victim for o in snap.outbox):
            return frozen_at, time.time(), snap
        for r in bots.members:
            r.signal(signal.SIGCONT)
    raise AssertionError(f"{victim} never held a claim when stopped")


# --------------------------------------------------------------------------- in process

ALICE = Actor("U_ALICE", "alice")
HERE = ChannelRef("slack", "C_INCIDENTS")


@pytest.fixture
async def services(dsn: str) -> AsyncIterator[list[IncidentService]]:
    """Three IncidentServices, each over its own PostgresStore (pool) on one schema."""
    config = BotConfig()
    stores = [PostgresStore(dsn, min_size=1, max_size=5) for _ in range(3)]
    for s in stores:
        await s.migrate()
    yield [
        IncidentService(
            store=s,
            policy=config.policy(),
            templates=config.templates_set(),
            clock=SystemClock(),
            probes=None,
        )
        for s in stores
    ]
    for s in stores:
        await s.aclose()


async def test_a_redelivered_command_acts_once_across_replicas(
    services: list[IncidentService],
) -> None:
    a, b = services[0], services[1]
    replies = await asyncio.gather(
        *(
            svc.handle_text('declare "Checkout 500s" sev2', ALICE, HERE, request_id="slack-evt-1")
            for svc in (a, b, a, b)
        )
    )
    texts = sorted(r.message.title for r in replies if r.message is not None)
    assert texts[:3] == ["Already handled."] * 3
    assert texts[3].startswith("INC-1 declared (SEV2): Checkout 500s.")
    assert [i.number for i in await a.store.list_incidents(open_only=False)] == [1]
    # A different request id is a different command.
    await b.handle_text('declare "Queue backlog" sev3', ALICE, HERE, request_id="slack-evt-2")
    assert [i.number for i in await a.store.list_incidents(open_only=False)] == [2, 1]


async def test_concurrent_declares_across_replicas_are_gap_free(
    services: list[IncidentService],
) -> None:
    replies = await asyncio.gather(
        *(services[i % 3].handle_text(f'declare "load {i}" sev2', ALICE, HERE) for i in range(60))
    )
    assert all(r.ok for r in replies)
    numbers = sorted(r.incident for r in replies if r.incident is not None)
    assert numbers == list(range(1, 61))
    stored = await services[1].store.list_incidents(open_only=False, limit=100)
    assert sorted(i.number for i in stored) == numbers
    assert {i.title for i in stored} == {f"load {i}" for i in range(60)}
    # Each declaration's reply names the number its own incident got.
    by_title = {i.title: i.number for i in stored}
    for i, r in enumerate(replies):
        assert r.incident == by_title[f"load {i}"]


class HangingNotifier:
    """A platform that never answers (a stuck connection, a long rate-limit wait)."""

    platform = "slack"

    def __init__(self) -> None:
        self.started = 0
        self.cancelled = 0

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        self.started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        raise AssertionError("unreachable")


async def test_a_delivery_attempt_ends_before_its_lease_so_no_two_replicas_post_at_once(
    dsn: str,
) -> None:
    """Replica A's platform call hangs. A gives the attempt up within its lease and puts
    the notice back with a backoff, so replica B, which may claim it after that, is the
    only one delivering it: A never posts late on top of B."""
    clock = ManualClock(datetime(2030, 1, 7, 9, 0, tzinfo=UTC))
    config = BotConfig()
    stores = [PostgresStore(dsn, min_size=1, max_size=3) for _ in range(2)]
    try:
        for s in stores:
            await s.migrate()
        svc = [
            IncidentService(
                store=s, policy=config.policy(), templates=config.templates_set(), clock=clock
            )
            for s in stores
        ]
        await svc[0].handle_text('declare "Checkout 500s" sev2', ALICE, HERE)
        hanging, recording = HangingNotifier(), RecordingNotifier(platform="slack")
        lease = timedelta(seconds=0.5)
        a = Dispatcher(store=stores[0], service=svc[0], notifiers={"slack": hanging},
                       pagers={}, clock=clock, owner="a", lease=lease)  # fmt: skip
        b = Dispatcher(store=stores[1], service=svc[1], notifiers={"slack": recording},
                       pagers={}, clock=clock, owner="b", lease=lease)  # fmt: skip
        started = time.monotonic()
        # The announcement: claimed, then given up (a bound in case it is not).
        assert await asyncio.wait_for(a.step(clock.now()), 5) == 1
        assert time.monotonic() - started < lease.total_seconds()
        counts = (sum(a.failures.values()), sum(a.delivered.values()))
        assert (hanging.started, hanging.cancelled, *counts) == (1, 1, 1, 0)
        # Back in the outbox with a backoff (no claim): nobody takes it before the retry.
        assert await b.step(clock.now()) == 0
        await clock.advance(timedelta(seconds=2))
        await b.drain(clock.now() + timedelta(hours=1))
        assert [d.kind for d in recording.delivered] == [
            NoticeKind.ANNOUNCE,
            NoticeKind.POST,
            NoticeKind.THREAD,
        ]
        assert hanging.started == 1
    finally:
        for s in stores:
            await s.aclose()
