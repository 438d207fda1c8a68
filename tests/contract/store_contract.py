"""The `IncidentStore` contract, run unchanged against every store.

A test module subclasses `StoreContract` (its name must start with `Test`) and provides:
* `store`: a freshly migrated, empty store, closed afterwards;
* `same_db`: an async factory returning another migrated store on the same database
  (a second replica), closed by the fixture;
* `store_url`: the URL `open_store` accepts for that database (for a separate process).

Times are explicit `now` values: nothing here sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.core.messages import Button, Field, Message, Notice, NoticeKind
from bot.core.model import (
    Actor,
    ChannelRef,
    Incident,
    Role,
    Severity,
    Status,
    TimelineEntry,
    TimerKind,
)
from bot.core.ports import IncidentStore
from bot.core.records import Change
from bot.errors import ConflictError, DuplicateRequest

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=10)
ALICE = Actor("U1", "alice")
BOB = Actor("U2", "bob")
REPO_ROOT = Path(__file__).resolve().parents[2]

SameDb = Callable[[], Awaitable[IncidentStore]]


def make_incident(title: str = "checkout errors", **changes: object) -> Incident:
    base = Incident(
        number=0,
        title=title,
        severity=Severity.SEV2,
        status=Status.INVESTIGATING,
        platform="slack",
        declared_at=T0,
        declared_by=ALICE,
    )
    return base.evolve(**changes) if changes else base


def note(text: str, *, incident: int = 0, kind: NoticeKind = NoticeKind.THREAD) -> Notice:
    return Notice(incident=incident, platform="slack", kind=kind, message=Message(title=text))


def declared(at: datetime = T0) -> TimelineEntry:
    return TimelineEntry(at=at, kind="declared", text="declared", actor=ALICE)


class StoreContract:
    # ------------------------------------------------------------------ lifecycle

    async def test_migrate_is_idempotent_and_keeps_data(self, store: IncidentStore) -> None:
        created = await store.create(make_incident(), Change())
        await store.migrate()
        assert await store.get(created.number) == created

    async def test_ping_answers(self, store: IncidentStore) -> None:
        await store.ping()

    # ------------------------------------------------------------------ create / get

    async def test_create_numbers_from_one_with_version_one(self, store: IncidentStore) -> None:
        first = await store.create(make_incident("a"), Change())
        second = await store.create(make_incident("b", number=99), Change())
        assert (first.number, first.version) == (1, 1)
        assert (second.number, second.version) == (2, 1)
        assert await store.get(2) == second

    async def test_every_field_round_trips(self, store: IncidentStore) -> None:
        cest = timezone(timedelta(hours=2))
        full = make_incident(
            "payments \u2014 EU outage",
            severity=Severity.SEV1,
            status=Status.MITIGATING,
            description="card auth failing",
            private=True,
            tags=("payments", "eu"),
            commander=BOB,
            roles={Role.SCRIBE: Actor("U3", "carol"), Role.COMMS: Actor("U4")},
            origin=ChannelRef("slack", "C0ORIGIN"),
            thread=ChannelRef("slack", "C0INC", "1714564800.000100"),
            last_update_at=T0 + timedelta(minutes=5),
            last_reminder_at=T0 + timedelta(minutes=20),
            missed_updates=2,
            escalation_level=1,
            snoozed_until=datetime(2024, 5, 1, 15, 30, 0, 123456, tzinfo=cest),
            resolved_at=T0 + timedelta(hours=2),
            summary="bad deploy",
            postmortem="# Post-mortem",
            postmortem_at=T0 + timedelta(days=5),
        )
        created = await store.create(full, Change())
        got = await store.get(created.number)
        assert got == full.evolve(number=created.number, version=1)
        assert got is not None
        assert got.snoozed_until is not None
        assert got.snoozed_until.utcoffset() == timedelta(0)
        assert got.snoozed_until == datetime(2024, 5, 1, 13, 30, 0, 123456, tzinfo=UTC)

    async def test_get_unknown_is_none(self, store: IncidentStore) -> None:
        assert await store.get(42) is None

    async def test_create_fills_notice_incident_and_writes_the_change(
        self, store: IncidentStore
    ) -> None:
        await store.create(make_incident("first"), Change())
        msg = Message(
            title="INCIDENT DECLARED",
            fields=(Field("Severity", "SEV2"),),
            body="body",
            mentions=("U9",),
            buttons=(Button("snooze", "Snooze", "INC-2 30m"),),
            severity=Severity.SEV2,
        )
        change = Change(
            timeline=[declared()],
            notices=[
                Notice(0, "slack", NoticeKind.PAGE, msg, channel="pagerduty", data={"a": "b"}),
                note("other incident", incident=1),
            ],
            timers={TimerKind.REMINDER: T0 + timedelta(minutes=30)},
        )
        created = await store.create(make_incident("second"), change)
        assert created.number == 2
        assert await store.timeline(2) == [declared()]
        claimed = await store.claim_notices(T0, "w", LEASE, 10)
        assert [(n.incident, n.message, n.channel, n.data, n.attempts) for n in claimed] == [
            (2, msg, "pagerduty", {"a": "b"}, 0),
            (1, Message(title="other incident"), "", {}, 0),
        ]
        assert all(n.id > 0 for n in claimed)
        assert await store.next_due_at() == T0 + timedelta(minutes=30)

    async def test_create_accepts_a_change_made_from_the_numbered_incident(
        self, store: IncidentStore
    ) -> None:
        await store.create(make_incident("first"), Change())
        seen: list[Incident] = []

        def change_for(numbered: Incident) -> Change:
            seen.append(numbered)
            return Change(
                timeline=[declared()],
                notices=[note(f"declared {numbered.key}", incident=numbered.number)],
                timers={TimerKind.REMINDER: T0},
            )

        created = await store.create(make_incident("second"), change_for)
        assert seen == [created]
        assert (created.number, created.version) == (2, 1)
        [n] = await store.claim_notices(T0, "w", LEASE, 10)
        assert (n.incident, n.message.title) == (2, "declared INC-2")
        assert [t.incident for t in await store.claim_due(T0, "w", LEASE, 10)] == [2]

    async def test_create_whose_change_function_fails_writes_nothing(
        self, store: IncidentStore
    ) -> None:
        def broken(numbered: Incident) -> Change:
            raise RuntimeError("template error")

        with pytest.raises(RuntimeError, match="template error"):
            await store.create(make_incident("bad"), broken)
        assert await store.list_incidents(open_only=False) == []
        assert (await store.create(make_incident("good"), Change())).number == 1

    async def test_failed_create_writes_nothing_and_leaves_no_gap(
        self, store: IncidentStore
    ) -> None:
        naive = TimelineEntry(at=datetime(2024, 5, 1, 12, 0), kind="declared", text="x")
        with pytest.raises(ValueError, match="naive"):
            await store.create(make_incident("bad"), Change(timeline=[naive]))
        assert await store.list_incidents(open_only=False) == []
        created = await store.create(make_incident("good"), Change())
        assert created.number == 1

    async def test_cancelled_writes_leave_the_store_usable_and_gap_free(
        self, store: IncidentStore
    ) -> None:
        # Cancel creates at successive points of their progress (0, 1, 2, … event-loop
        # turns after they start): each is either wholly written or not at all.
        for turns in range(8):
            task = asyncio.create_task(
                store.create(
                    make_incident(f"cancel {turns}"),
                    Change(timeline=[declared()] * 20, notices=[note("x")] * 20),
                )
            )
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        last = await store.create(make_incident("after"), Change(timeline=[declared()]))
        numbers = [i.number for i in await store.list_incidents(open_only=False)]
        assert numbers == list(range(last.number, 0, -1))
        for n in numbers[1:]:
            assert len(await store.timeline(n)) == 20
        assert await store.timeline(last.number) == [declared()]

    async def test_concurrent_creates_are_gap_free(
        self, store: IncidentStore, same_db: SameDb
    ) -> None:
        others = [await same_db(), await same_db()]
        stores = [store, *others]
        results = await asyncio.gather(
            *(
                stores[i % 3].create(
                    make_incident(f"n{i}"), Change(timeline=[declared()], notices=[note("x")])
                )
                for i in range(50)
            )
        )
        numbers = sorted(r.number for r in results)
        assert numbers == list(range(1, 51))
        for r in results:
            got = await store.get(r.number)
            assert got is not None
            assert got.title == r.title
        claimed = await store.claim_notices(T0, "w", LEASE, 100)
        assert sorted(n.incident for n in claimed) == numbers

    # ------------------------------------------------------------------ listing

    async def test_list_incidents_newest_first_open_only_and_limit(
        self, store: IncidentStore
    ) -> None:
        for i in range(1, 6):
            await store.create(make_incident(f"i{i}"), Change())
        resolved = await store.get(2)
        assert resolved is not None
        await store.commit(resolved.evolve(status=Status.RESOLVED, resolved_at=T0), Change())
        assert [i.number for i in await store.list_incidents()] == [5, 4, 3, 1]
        assert [i.number for i in await store.list_incidents(open_only=False)] == [5, 4, 3, 2, 1]
        assert [i.number for i in await store.list_incidents(limit=2)] == [5, 4]

    async def test_list_incidents_pages_and_filters_by_severity(self, store: IncidentStore) -> None:
        for i in range(1, 8):
            sev = Severity.SEV1 if i % 2 else Severity.SEV3
            await store.create(make_incident(f"i{i}", severity=sev, private=i == 5), Change())
        done = await store.get(3)
        assert done is not None
        await store.commit(done.evolve(status=Status.RESOLVED, resolved_at=T0), Change())
        assert [i.number for i in await store.list_incidents(limit=2, offset=2)] == [5, 4]
        assert [i.number for i in await store.list_incidents(limit=10, offset=5)] == [1]
        assert await store.list_incidents(limit=10, offset=6) == []
        sev1 = await store.list_incidents(severity=Severity.SEV1)
        assert [i.number for i in sev1] == [7, 5, 1]
        assert [i.number for i in await store.list_incidents(severity=Severity.SEV1, offset=1)] == [
            5,
            1,
        ]
        everything = await store.list_incidents(open_only=False, severity=Severity.SEV1)
        assert [i.number for i in everything] == [7, 5, 3, 1]

    async def test_count_incidents_matches_the_listing(self, store: IncidentStore) -> None:
        assert await store.count_incidents() == 0
        for i in range(1, 8):
            sev = Severity.SEV1 if i % 2 else Severity.SEV3
            await store.create(make_incident(f"i{i}", severity=sev, private=i in (5, 6)), Change())
        done = await store.get(5)
        assert done is not None
        await store.commit(done.evolve(status=Status.RESOLVED, resolved_at=T0), Change())
        assert await store.count_incidents() == 6
        assert await store.count_incidents(open_only=False) == 7
        assert await store.count_incidents(severity=Severity.SEV1) == 3
        assert await store.count_incidents(severity=Severity.SEV4) == 0
        assert await store.count_incidents(private=True) == 1
        assert await store.count_incidents(private=False) == 5
        assert await store.count_incidents(open_only=False, private=True) == 2
        assert await store.count_incidents(severity=Severity.SEV3, private=True) == 1
        for sev in Severity:
            listed = await store.list_incidents(limit=1000, severity=sev)
            assert len(listed) == await store.count_incidents(severity=sev)

    async def test_count_open_by_severity(self, store: IncidentStore) -> None:
        assert await store.count_open() == {"SEV1": 0, "SEV2": 0, "SEV3": 0, "SEV4": 0}
        await store.create(make_incident(severity=Severity.SEV1), Change())
        await store.create(make_incident(severity=Severity.SEV1), Change())
        await store.create(make_incident(severity=Severity.SEV3), Change())
        done = await store.create(make_incident(severity=Severity.SEV3), Change())
        await store.commit(done.evolve(status=Status.RESOLVED), Change())
        assert await store.count_open() == {"SEV1": 2, "SEV2": 0, "SEV3": 1, "SEV4": 0}

    # ------------------------------------------------------------------ threads

    async def test_set_thread_bumps_version_and_is_found(self, store: IncidentStore) -> None:
        created = await store.create(make_incident(), Change())
        await store.create(make_incident("other"), Change())
        assert await store.find_by_thread("slack", "111.222") is None
        await store.set_thread(created.number, ChannelRef("slack", "C0INC", "111.222"))
        found = await store.find_by_thread("slack", "111.222")
        assert found is not None
        assert found.number == created.number
        assert found.version == 2
        assert found.thread == ChannelRef("slack", "C0INC", "111.222")
        assert await store.find_by_thread("discord", "111.222") is None
        with pytest.raises(ConflictError):
            await store.commit(created.evolve(title="stale"), Change())

    # ------------------------------------------------------------------ commit

    async def test_commit_bumps_version_and_writes_the_change(self, store: IncidentStore) -> None:
        inc = await store.create(
            make_incident(), Change(timeline=[declared()], timers={TimerKind.REMINDER: T0})
        )
        later = TimelineEntry(T0 + timedelta(minutes=5), "status", "mitigating", BOB)
        updated = await store.commit(
            inc.evolve(status=Status.MITIGATING, commander=BOB),
            Change(
                timeline=[later],
                notices=[note("status changed")],
                timers={
                    TimerKind.REMINDER: T0 + timedelta(minutes=20),
                    TimerKind.ESCALATION: T0 + timedelta(minutes=40),
                },
            ),
        )
        assert updated.version == 2
        assert await store.get(inc.number) == updated
        assert await store.timeline(inc.number) == [declared(), later]
        [n] = await store.claim_notices(T0, "w", LEASE, 10)
        assert (n.incident, n.message.title) == (inc.number, "status changed")
        due = await store.claim_due(T0 + timedelta(hours=1), "w", LEASE, 10)
        assert [(t.kind, t.due_at) for t in due] == [
            (TimerKind.REMINDER, T0 + timedelta(minutes=20)),
            (TimerKind.ESCALATION, T0 + timedelta(minutes=40)),
        ]

    async def test_stale_commit_conflicts_and_writes_nothing(self, store: IncidentStore) -> None:
        inc = await store.create(
            make_incident(), Change(timeline=[declared()], timers={TimerKind.REMINDER: T0})
        )
        current = await store.commit(inc.evolve(summary="v2"), Change())
        with pytest.raises(ConflictError):
            await store.commit(
                inc.evolve(summary="lost update"),
                Change(
                    timeline=[TimelineEntry(T0, "note", "lost")],
                    notices=[note("lost")],
                    timers={TimerKind.REMINDER: None, TimerKind.ESCALATION: T0},
                ),
            )
        assert await store.get(inc.number) == current
        assert await store.timeline(inc.number) == [declared()]
        assert await store.claim_notices(T0, "w", LEASE, 10) == []
        assert [t.kind for t in await store.claim_due(T0, "w", LEASE, 10)] == [TimerKind.REMINDER]

    async def test_only_one_of_concurrent_commits_wins(
        self, store: IncidentStore, same_db: SameDb
    ) -> None:
        other = await same_db()
        inc = await store.create(make_incident(), Change())
        attempts = [
            (store if i % 2 else other).commit(
                inc.evolve(summary=f"s{i}"), Change(timeline=[TimelineEntry(T0, "note", f"{i}")])
            )
            for i in range(6)
        ]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        winners = [r for r in results if isinstance(r, Incident)]
        assert len(winners) == 1
        assert all(isinstance(r, ConflictError) for r in results if r not in winners)
        assert await store.get(inc.number) == winners[0]
        assert [e.text for e in await store.timeline(inc.number)] == [
            winners[0].summary.removeprefix("s")
        ]

    async def test_request_key_is_written_with_the_change_and_only_once(
        self, store: IncidentStore
    ) -> None:
        created = await store.create(
            make_incident(), Change([declared()], request="slack:e1", request_at=T0)
        )
        with pytest.raises(DuplicateRequest):
            await store.create(
                make_incident("again"), Change([declared()], request="slack:e1", request_at=T0)
            )
        entry = TimelineEntry(T0, "note", "once", ALICE)
        committed = await store.commit(
            created, Change([entry], [note("n")], request="slack:e2", request_at=T0)
        )
        with pytest.raises(DuplicateRequest):
            await store.commit(
                committed, Change([entry], [note("n")], request="slack:e2", request_at=T0)
            )
        # the refused writes wrote nothing: no second incident, no version bump, one note
        assert [i.number for i in await store.list_incidents()] == [created.number]
        assert (await store.get(created.number)) == committed
        assert [e.text for e in await store.timeline(created.number)] == ["declared", "once"]
        assert not await store.first_time("slack:e2", T0)  # one key space with first_time
        nxt = await store.create(make_incident("next"), Change(request="slack:e3", request_at=T0))
        assert nxt.number == created.number + 1  # the refused create left no gap

    async def test_a_request_key_is_stamped_with_the_given_time_and_ages_like_first_time(
        self, store: IncidentStore
    ) -> None:
        # Stamped with `request_at` (the injected clock), not the wall clock: a day after
        # T0 the key is pruned like any `first_time` key, whatever the real date is.
        created = await store.create(
            make_incident(), Change([declared()], request="slack:old", request_at=T0)
        )
        await store.commit(
            created, Change(request="slack:recent", request_at=T0 + timedelta(days=2))
        )
        assert await store.first_time("slack:fresh", T0 + timedelta(days=2, hours=1)) is True
        assert await store.first_time("slack:old", T0 + timedelta(days=2, hours=1)) is True
        assert await store.first_time("slack:recent", T0 + timedelta(days=2, hours=1)) is False

    async def test_a_change_that_fails_does_not_record_its_request_key(
        self, store: IncidentStore
    ) -> None:
        created = await store.create(make_incident(), Change())
        stale = created.evolve(version=created.version + 5)
        with pytest.raises(ConflictError):
            await store.commit(stale, Change([declared()], request="slack:retry-me", request_at=T0))
        await store.commit(created, Change([declared()], request="slack:retry-me", request_at=T0))
        assert [e.kind for e in await store.timeline(created.number)] == ["declared"]

    async def test_timeline_oldest_first(self, store: IncidentStore) -> None:
        inc = await store.create(make_incident(), Change(timeline=[declared()]))
        late = TimelineEntry(T0 + timedelta(minutes=9), "update", "late")
        early = TimelineEntry(T0 + timedelta(minutes=1), "probe", "early")
        await store.commit(inc, Change(timeline=[late, early]))
        assert [e.text for e in await store.timeline(inc.number)] == ["declared", "early", "late"]
        assert await store.timeline(999) == []

    # ------------------------------------------------------------------ timers

    async def test_timers_upsert_delete_and_leave_absent_kinds(self, store: IncidentStore) -> None:
        assert await store.next_due_at() is None
        inc = await store.create(
            make_incident(),
            Change(
                timers={
                    TimerKind.REMINDER: T0 + timedelta(minutes=15),
                    TimerKind.ESCALATION: T0 + timedelta(minutes=30),
                }
            ),
        )
        assert await store.next_due_at() == T0 + timedelta(minutes=15)
        inc = await store.commit(
            inc, Change(timers={TimerKind.REMINDER: None, TimerKind.POSTMORTEM: T0})
        )
        assert await store.next_due_at() == T0
        due = await store.claim_due(T0 + timedelta(hours=1), "w", LEASE, 10)
        assert [(t.incident, t.kind, t.due_at) for t in due] == [
            (inc.number, TimerKind.POSTMORTEM, T0),
            (inc.number, TimerKind.ESCALATION, T0 + timedelta(minutes=30)),
        ]
        inc = await store.commit(inc, Change(timers={TimerKind.POSTMORTEM: None}))
        await store.commit(inc, Change(timers={TimerKind.ESCALATION: None}))
        assert await store.next_due_at() is None

    async def test_claim_due_hands_out_only_due_timers_earliest_first(
        self, store: IncidentStore
    ) -> None:
        for minutes in (30, 10, 20, 40):
            await store.create(
                make_incident(f"{minutes}"),
                Change(timers={TimerKind.REMINDER: T0 + timedelta(minutes=minutes)}),
            )
        assert await store.claim_due(T0 + timedelta(minutes=9), "w", LEASE, 10) == []
        due = await store.claim_due(T0 + timedelta(minutes=30), "w", LEASE, 2)
        assert [t.due_at for t in due] == [T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)]
        due = await store.claim_due(T0 + timedelta(minutes=30), "w", LEASE, 10)
        assert [t.due_at for t in due] == [T0 + timedelta(minutes=30)]
        assert await store.next_due_at() == T0 + timedelta(minutes=30) + LEASE

    async def test_claimed_timer_is_leased_then_taken_over(self, store: IncidentStore) -> None:
        due_at = T0 + timedelta(minutes=15)
        inc = await store.create(make_incident(), Change(timers={TimerKind.REMINDER: due_at}))
        now = due_at + timedelta(seconds=1)
        [timer] = await store.claim_due(now, "replica-a", LEASE, 10)
        assert (timer.incident, timer.kind, timer.due_at) == (
            inc.number,
            TimerKind.REMINDER,
            due_at,
        )
        # Under the live lease nobody else gets it, and the next chance is the lease end.
        assert await store.claim_due(now, "replica-b", LEASE, 10) == []
        assert await store.claim_due(now + LEASE - timedelta(microseconds=1), "b", LEASE, 10) == []
        assert await store.next_due_at() == now + LEASE
        # replica-a died without acting: once the lease ends another replica takes over.
        [again] = await store.claim_due(now + LEASE, "replica-b", LEASE, 10)
        assert (again.incident, again.kind, again.due_at) == (
            inc.number,
            TimerKind.REMINDER,
            due_at,
        )
        assert await store.next_due_at() == now + 2 * LEASE

    async def test_setting_a_timer_clears_its_claim(self, store: IncidentStore) -> None:
        inc = await store.create(make_incident(), Change(timers={TimerKind.REMINDER: T0}))
        await store.claim_due(T0, "replica-a", LEASE, 10)
        await store.commit(inc, Change(timers={TimerKind.REMINDER: T0 + timedelta(seconds=1)}))
        assert await store.next_due_at() == T0 + timedelta(seconds=1)
        [timer] = await store.claim_due(T0 + timedelta(seconds=1), "replica-b", LEASE, 10)
        assert timer.due_at == T0 + timedelta(seconds=1)

    async def test_release_claims_frees_only_that_owners_work(self, store: IncidentStore) -> None:
        a = await store.create(
            make_incident("a"), Change(timers={TimerKind.REMINDER: T0}, notices=[note("a1")])
        )
        b = await store.create(
            make_incident("b"), Change(timers={TimerKind.REMINDER: T0}, notices=[note("b1")])
        )
        assert [t.incident for t in await store.claim_due(T0, "a", LEASE, 1)] == [a.number]
        assert [n.incident for n in await store.claim_notices(T0, "a", LEASE, 1)] == [a.number]
        assert [t.incident for t in await store.claim_due(T0, "b", LEASE, 1)] == [b.number]
        assert [n.incident for n in await store.claim_notices(T0, "b", LEASE, 1)] == [b.number]
        await store.release_claims("a")
        assert [t.incident for t in await store.claim_due(T0, "c", LEASE, 10)] == [a.number]
        assert [n.incident for n in await store.claim_notices(T0, "c", LEASE, 10)] == [a.number]

    async def test_each_due_timer_goes_to_exactly_one_of_many_claimers(
        self, store: IncidentStore, same_db: SameDb
    ) -> None:
        for i in range(30):
            await store.create(
                make_incident(f"{i}"),
                Change(
                    timers={
                        TimerKind.REMINDER: T0 + timedelta(seconds=i),
                        TimerKind.ESCALATION: T0 + timedelta(seconds=i),
                    }
                ),
            )
        stores = [store, await same_db(), await same_db(), await same_db()]

        async def claim_all(s: IncidentStore, owner: str) -> list[tuple[int, str]]:
            got: list[tuple[int, str]] = []
            while batch := await s.claim_due(T0 + timedelta(minutes=1), owner, LEASE, 4):
                got.extend((t.incident, t.kind.value) for t in batch)
            return got

        results = await asyncio.gather(*(claim_all(s, f"r{i}") for i, s in enumerate(stores)))
        everything = [key for r in results for key in r]
        assert len(everything) == 60
        assert len(set(everything)) == 60

    async def test_killed_claimer_work_is_taken_over_after_the_lease(
        self, store: IncidentStore, store_url: str
    ) -> None:
        """A replica that claims then dies by SIGKILL (no clean shutdown) loses its timers
        and its outbox head to another replica once the lease ends."""
        inc = await store.create(
            make_incident(), Change(timers={TimerKind.REMINDER: T0}, notices=[note("n")])
        )
        script = textwrap.dedent(
            f"""
            import asyncio, os, signal
            from datetime import datetime, timedelta
            from bot.storage import open_store

            async def main():
                store = open_store(os.environ["STORE_URL"])
                now = datetime.fromisoformat({T0.isoformat()!r})
                lease = timedelta(seconds=10)
                timers = await store.claim_due(now, "doomed", lease, 10)
                notices = await store.claim_notices(now, "doomed", lease, 10)
                print(len(timers), len(notices), flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

            asyncio.run(main())
            """
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            cwd=REPO_ROOT,
            env={**os.environ, "STORE_URL": store_url},
            stdout=subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        assert proc.returncode == -9
        assert out.decode().split() == ["1", "1"]
        assert await store.claim_due(T0 + timedelta(seconds=5), "survivor", LEASE, 10) == []
        assert await store.claim_notices(T0 + timedelta(seconds=5), "survivor", LEASE, 10) == []
        after = T0 + LEASE
        assert [t.incident for t in await store.claim_due(after, "survivor", LEASE, 10)] == [
            inc.number
        ]
        [n] = await store.claim_notices(after, "survivor", LEASE, 10)
        assert n.message.title == "n"

    # ------------------------------------------------------------------ outbox

    async def test_only_the_oldest_notice_per_incident_is_claimed(
        self, store: IncidentStore
    ) -> None:
        a = await store.create(make_incident("a"), Change(notices=[note("a1"), note("a2")]))
        b = await store.create(make_incident("b"), Change(notices=[note("b1")]))
        await store.commit(a, Change(notices=[note("a3")]))
        first = await store.claim_notices(T0, "w", LEASE, 10)
        assert [(n.incident, n.message.title) for n in first] == [
            (a.number, "a1"),
            (b.number, "b1"),
        ]
        # a2 waits behind a1 (leased, undelivered) even though it is ready itself.
        assert await store.claim_notices(T0, "w", LEASE, 10) == []
        assert await store.next_notice_at() == T0 + LEASE
        await store.notice_delivered(first[0].id)
        [a2] = await store.claim_notices(T0, "w", LEASE, 10)
        assert a2.message.title == "a2"
        await store.notice_delivered(a2.id)
        await store.notice_delivered(first[1].id)
        [a3] = await store.claim_notices(T0, "w", LEASE, 10)
        assert a3.message.title == "a3"
        await store.notice_delivered(a3.id)
        assert await store.next_notice_at() is None
        assert await store.claim_notices(T0 + timedelta(days=1), "w", LEASE, 10) == []

    async def test_a_notice_counts_its_claims_so_a_retry_knows_its_outcome_is_unknown(
        self, store: IncidentStore, same_db: SameDb
    ) -> None:
        """`claims` grows with every claim, whatever ended the one before (a recorded
        failure, a lease that ran out because its claimer died, a release at shutdown);
        `first_claimed_at` keeps the first claim's time: nothing was posted before it."""
        inc = await store.create(make_incident(), Change(notices=[note("n")]))
        [first] = await store.claim_notices(T0, "a", LEASE, 10)
        assert (first.claims, first.first_claimed_at, first.outcome_unknown) == (1, T0, False)
        # a fails it (a timeout after sending, say): the retry is uncertain.
        await store.notice_failed(first.id, T0 + timedelta(seconds=1), "no answer within 8 s")
        [second] = await store.claim_notices(T0 + timedelta(seconds=1), "a", LEASE, 10)
        assert (second.id, second.claims, second.attempts) == (first.id, 2, 1)
        assert second.first_claimed_at == T0
        assert second.outcome_unknown
        # a dies holding it: another replica takes it over after the lease, still counting.
        other = await same_db()
        later = T0 + timedelta(seconds=1) + LEASE
        [third] = await other.claim_notices(later, "b", LEASE, 10)
        assert (third.claims, third.attempts, third.first_claimed_at) == (3, 1, T0)
        await other.release_claims("b")
        [fourth] = await store.claim_notices(later, "c", LEASE, 10)
        assert (fourth.claims, fourth.first_claimed_at) == (4, T0)
        await store.notice_delivered(fourth.id)
        # A new notice starts from zero.
        await store.commit(inc, Change(notices=[note("m")]))
        [fresh] = await store.claim_notices(later, "c", LEASE, 10)
        assert (fresh.message.title, fresh.claims, fresh.first_claimed_at) == ("m", 1, later)

    async def test_pages_form_their_own_ordered_lane_per_incident(
        self, store: IncidentStore
    ) -> None:
        """An incident's PAGE notices are ordered among themselves, apart from its chat
        notices (THREAD/POST/ANNOUNCE): a held page never blocks the thread, nor the other
        way round."""
        page, post = NoticeKind.PAGE, NoticeKind.POST
        inc = await store.create(
            make_incident("a"),
            Change(
                notices=[
                    note("page 1", kind=page),
                    note("thread 1"),
                    note("page 2", kind=page),
                    note("post 1", kind=post),
                    note("thread 2"),
                ]
            ),
        )

        async def claim(at: datetime = T0) -> dict[str, int]:
            return {n.message.title: n.id for n in await store.claim_notices(at, "w", LEASE, 10)}

        heads = await claim()
        assert list(heads) == ["page 1", "thread 1"]  # one head per lane, both at once
        # The pager is down: page 1 waits an hour, page 2 behind it; the chat lane goes on.
        later = T0 + timedelta(hours=1)
        await store.notice_failed(heads["page 1"], later, "pager down")
        await store.notice_delivered(heads["thread 1"])
        chat = await claim()
        assert list(chat) == ["post 1"]
        await store.notice_delivered(chat["post 1"])
        chat = await claim()
        assert list(chat) == ["thread 2"]
        await store.notice_delivered(chat["thread 2"])
        assert await claim() == {}
        assert await store.next_notice_at() == later
        # Pages keep their order: page 2 only after page 1 went out.
        retried = await store.claim_notices(later, "w", LEASE, 10)
        assert [(n.message.title, n.attempts) for n in retried] == [("page 1", 1)]
        assert await claim(later) == {}
        await store.notice_delivered(retried[0].id)
        assert list(await claim(later)) == ["page 2"]

        # The other way round: a held chat notice does not hold up the incident's pages.
        await store.commit(
            inc,
            Change(
                notices=[
                    note("thread 3"),
                    note("page 3", kind=page),
                    note("thread 4"),
                    note("page 4", kind=page),
                ]
            ),
        )
        heads = await claim(later + LEASE)  # page 2's lease has run out by then
        assert list(heads) == ["page 2", "thread 3"]
        await store.notice_failed(heads["thread 3"], later + timedelta(hours=1), "HTTP 503")
        await store.notice_delivered(heads["page 2"])
        for title in ("page 3", "page 4"):
            [n] = await store.claim_notices(later + LEASE, "w", LEASE, 10)
            assert n.message.title == title
            await store.notice_delivered(n.id)
        assert await claim(later + LEASE) == {}  # thread 4 waits behind thread 3
        assert list(await claim(later + timedelta(hours=1))) == ["thread 3"]

    async def test_each_pager_is_a_lane_of_its_own(self, store: IncidentStore) -> None:
        """Pages to one pager keep their order, apart from every other pager's: a pager
        that keeps failing holds up only its own later pages."""

        def page(title: str, pager: str) -> Notice:
            return Notice(0, "slack", NoticeKind.PAGE, Message(title=title), channel=pager)

        inc = await store.create(
            make_incident(),
            Change(
                notices=[
                    page("pd trigger", "pd"),
                    page("hook trigger", "hook"),
                    page("pd resolve", "pd"),
                    page("hook resolve", "hook"),
                ]
            ),
        )

        async def claim(at: datetime = T0) -> dict[str, int]:
            return {n.message.title: n.id for n in await store.claim_notices(at, "w", LEASE, 10)}

        heads = await claim()
        assert list(heads) == ["pd trigger", "hook trigger"]  # both pagers at once
        later = T0 + timedelta(hours=1)
        await store.notice_failed(heads["pd trigger"], later, "pd down")
        await store.notice_delivered(heads["hook trigger"])
        hook = await claim()
        assert list(hook) == ["hook resolve"]  # pd's outage does not hold it
        await store.notice_delivered(hook["hook resolve"])
        assert await claim() == {}  # pd resolve waits behind pd trigger
        assert await store.next_notice_at() == later
        [retried] = await store.claim_notices(later, "w", LEASE, 10)
        assert (retried.message.title, retried.channel, retried.attempts) == ("pd trigger", "pd", 1)
        await store.notice_delivered(retried.id)
        assert list(await claim(later)) == ["pd resolve"]
        assert inc.number == retried.incident

    async def test_a_dead_notice_is_never_claimed_again_and_frees_its_lane(
        self, store: IncidentStore
    ) -> None:
        def page(title: str) -> Notice:
            return Notice(0, "slack", NoticeKind.PAGE, Message(title=title), channel="pd")

        inc = await store.create(
            make_incident(), Change(notices=[page("trigger"), page("resolve")])
        )
        [trigger] = await store.claim_notices(T0, "w", LEASE, 10)
        await store.notice_dead(trigger.id, T0, "HTTP 400: invalid routing key")
        [resolve] = await store.claim_notices(T0, "w", LEASE, 10)  # at once, not after a lease
        assert resolve.message.title == "resolve"
        await store.notice_delivered(resolve.id)
        assert await store.claim_notices(T0 + timedelta(days=1), "w", LEASE, 10) == []
        assert await store.next_notice_at() is None  # nothing pending: the loop may sleep
        [dead] = await store.dead_notices(inc.number)
        assert (dead.id, dead.message.title, dead.attempts) == (trigger.id, "trigger", 1)
        assert await store.dead_notices(inc.number + 1) == []

    async def test_claim_notices_respects_limit_oldest_first(self, store: IncidentStore) -> None:
        for i in range(5):
            await store.create(make_incident(f"{i}"), Change(notices=[note(f"n{i}")]))
        got = await store.claim_notices(T0, "w", LEASE, 3)
        assert [n.message.title for n in got] == ["n0", "n1", "n2"]
        got = await store.claim_notices(T0, "w", LEASE, 3)
        assert [n.message.title for n in got] == ["n3", "n4"]

    async def test_failed_notice_waits_for_its_retry_time_and_blocks_its_successors(
        self, store: IncidentStore
    ) -> None:
        inc = await store.create(make_incident(), Change(notices=[note("first"), note("second")]))
        fresh_at = await store.next_notice_at()
        assert fresh_at is not None
        assert fresh_at <= T0
        [first] = await store.claim_notices(T0, "w", LEASE, 10)
        retry_at = T0 + timedelta(seconds=30)
        await store.notice_failed(first.id, retry_at, "HTTP 429")
        assert await store.next_notice_at() == retry_at
        assert await store.claim_notices(T0 + timedelta(seconds=29), "w", LEASE, 10) == []
        [again] = await store.claim_notices(retry_at, "other", LEASE, 10)
        assert (again.id, again.attempts, again.incident) == (first.id, 1, inc.number)
        await store.notice_failed(again.id, retry_at + timedelta(minutes=1), "HTTP 500")
        [third] = await store.claim_notices(retry_at + timedelta(minutes=1), "w", LEASE, 10)
        assert (third.id, third.attempts) == (first.id, 2)
        await store.notice_delivered(third.id)
        [second] = await store.claim_notices(retry_at + timedelta(minutes=1), "w", LEASE, 10)
        assert (second.message.title, second.attempts) == ("second", 0)

    async def test_leased_notice_is_taken_over_after_the_lease(self, store: IncidentStore) -> None:
        await store.create(make_incident(), Change(notices=[note("n")]))
        [n] = await store.claim_notices(T0, "replica-a", LEASE, 10)
        assert await store.claim_notices(T0 + timedelta(seconds=9), "replica-b", LEASE, 10) == []
        [taken] = await store.claim_notices(T0 + LEASE, "replica-b", LEASE, 10)
        assert taken.id == n.id

    async def test_each_notice_goes_to_exactly_one_of_many_claimers(
        self, store: IncidentStore, same_db: SameDb
    ) -> None:
        for i in range(30):
            await store.create(make_incident(f"{i}"), Change(notices=[note(f"{i}")]))
        stores = [store, await same_db(), await same_db()]

        async def claim_all(s: IncidentStore, owner: str) -> list[int]:
            got: list[int] = []
            while batch := await s.claim_notices(T0, owner, LEASE, 3):
                got.extend(n.id for n in batch)
            return got

        results = await asyncio.gather(*(claim_all(s, f"r{i}") for i, s in enumerate(stores)))
        ids = [i for r in results for i in r]
        assert len(ids) == 30
        assert len(set(ids)) == 30

    # ------------------------------------------------------------------ idempotency

    async def test_first_time_sees_each_key_once_and_forgets_after_a_day(
        self, store: IncidentStore
    ) -> None:
        assert await store.first_time("req-1", T0) is True
        assert await store.first_time("req-1", T0 + timedelta(seconds=5)) is False
        assert await store.first_time("req-2", T0) is True
        assert await store.first_time("req-1", T0 + timedelta(hours=12)) is False
        # Two days on, the old keys have been pruned.
        assert await store.first_time("req-3", T0 + timedelta(days=2)) is True
        assert await store.first_time("req-1", T0 + timedelta(days=2)) is True
