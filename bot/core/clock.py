"""Clocks: the system clock, and a manual clock for tests, benchmarks and simulations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta


class SystemClock:
    """Wall-clock UTC time; `sleep_until` sleeps the remaining interval."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        delay = (when - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


class ManualClock:
    """Time that only moves when `advance`/`set` is called; sleepers wake as it passes them.

    Nothing sleeps for real: a scheduler driven by this clock fires a 15-minute reminder
    the instant a test advances the clock by 15 minutes.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start
        self._changed = asyncio.Condition()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._now >= when)

    async def set(self, when: datetime) -> None:
        self._now = max(self._now, when)
        async with self._changed:
            self._changed.notify_all()
        # let the woken sleepers run before the caller continues
        for _ in range(3):
            await asyncio.sleep(0)

    async def advance(self, delta: timedelta) -> None:
        await self.set(self._now + delta)
