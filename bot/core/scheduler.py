"""The scheduler: claims due timers (reminders, escalations, post-mortem reminders) from
the store under a lease and has the service act on each exactly once.

Due times live in the store, so a restart neither loses nor repeats a reminder: a timer is
re-timed in the same commit that records its reminder, and a replica that dies holding a
claim has its timers taken over when the lease expires.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from bot.core.loop import DueLoop
from bot.core.ports import Clock, IncidentStore
from bot.core.records import Timer
from bot.core.service import IncidentService

log = structlog.get_logger("incidentbot.scheduler")


class Scheduler(DueLoop):
    """Fires due timers through `service.fire`. `owner` names this replica in leases."""

    name = "scheduler"

    def __init__(
        self,
        *,
        store: IncidentStore,
        service: IncidentService,
        clock: Clock,
        owner: str,
        lease: timedelta = timedelta(seconds=15),
        batch: int = 200,
        concurrency: int = 32,
        max_idle: timedelta = timedelta(seconds=5),
        on_fired: Callable[[Timer, datetime], None] = lambda timer, now: None,
    ) -> None:
        super().__init__(clock=clock, batch=batch, max_idle=max_idle)
        self.store = store
        self.service = service
        self.owner = owner
        self.lease = lease
        self.on_fired = on_fired
        self._limit = asyncio.Semaphore(concurrency)

    async def next_due(self) -> datetime | None:
        return await self.store.next_due_at()

    async def step(self, now: datetime) -> int:
        """Claims and fires what is due at `now`; returns how many timers were claimed."""
        timers = await self.store.claim_due(now, self.owner, self.lease, self.batch)
        if timers:
            await asyncio.gather(*(self._fire(t, now) for t in timers))
        return len(timers)

    async def _fire(self, timer: Timer, now: datetime) -> None:
        async with self._limit:
            try:
                await self.service.fire(timer)
            except Exception as exc:  # leave the claim to expire: another try follows
                log.error(
                    "timer.failed",
                    incident=f"INC-{timer.incident}",
                    kind=timer.kind.value,
                    error=repr(exc)[:300],
                )
                return
            self.on_fired(timer, now)
