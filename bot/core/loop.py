"""A claim-act loop that sleeps until the next due time or until woken (no busy polling).

Shared by the scheduler (due timers) and the dispatcher (outbox notices): both claim due
work from the store under a lease, act on it, and sleep until the store says the next item
is due — capped at `max_idle` so work committed by another replica is noticed too.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog

from bot.core.ports import Clock

log = structlog.get_logger("incidentbot.loop")


class DueLoop:
    """Runs `step(now) -> handled_count` whenever work may be due.

    Subclasses implement `step` and `next_due` (when work next becomes due; None: nothing
    scheduled). `step` is called again at once while it reports a full batch.
    """

    name = "loop"

    def __init__(
        self,
        *,
        clock: Clock,
        batch: int,
        max_idle: timedelta,
        error_backoff: timedelta = timedelta(seconds=1),
    ) -> None:
        self.clock = clock
        self.batch = batch
        self.max_idle = max_idle
        self.error_backoff = error_backoff
        self._wake = asyncio.Event()
        self._stopping = False

    async def step(self, now: datetime) -> int:
        """Handles what is due at `now`; returns how many items it claimed."""
        raise NotImplementedError

    async def next_due(self) -> datetime | None:
        """When work next becomes due (None: nothing scheduled)."""
        raise NotImplementedError

    def wake(self) -> None:
        """New work may be due now (called after every commit)."""
        self._wake.set()

    def stop(self) -> None:
        """Ends `run()` after the step in progress."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Loops until `stop()`; a failing step is logged and retried after a backoff."""
        while not self._stopping:
            self._wake.clear()
            now = self.clock.now()
            try:
                handled = await self.step(now)
                if handled >= self.batch:
                    continue
                due = await self.next_due()
            except Exception as exc:  # the loop must outlive a store outage
                log.error(f"{self.name}.step_failed", error=repr(exc)[:300])
                due = now + self.error_backoff
            wake_at = now + self.max_idle
            if due is not None and due < wake_at:
                wake_at = due
            await self._sleep(wake_at)

    async def _sleep(self, until: datetime) -> None:
        if self._wake.is_set() or self._stopping:
            return
        sleeper = asyncio.ensure_future(self.clock.sleep_until(until))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
