"""The dispatcher: delivers the outbox — chat notices through the platform's Notifier and
pages through the configured Pagers — with retries, in order per incident.

A notice is only marked delivered after the platform accepted it; a failure keeps it in
the outbox with a backoff (the platform's Retry-After when given), so nothing is dropped.
The one exception is a page its pager refused for good (`DeliveryError.permanent`, an HTTP
4xx other than 408/425/429): retrying cannot help, so it is marked dead at once and the
thread is told to page by hand. Either way the thread hears of a failed page after its
first failed attempt, naming the pager; each pager is its own lane (see `claim_notices`).
An attempt that outlasts most of the claim's lease is given up and retried the same way:
once the lease ends another replica may claim the notice, and two replicas delivering it at
once would post it twice. Each claimed notice is delivered in a task of its own, and a step
waits for them only up to `step_wait`: a pager that answers nothing (a black hole, held up
to its attempt deadline) never holds up the next claims of the other lanes and incidents.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta

import structlog

from bot.core.loop import DueLoop
from bot.core.messages import Notice, NoticeKind
from bot.core.ports import Clock, IncidentStore, Notifier, Pager
from bot.core.service import IncidentService
from bot.errors import DeliveryDeferred, DeliveryError

log = structlog.get_logger("incidentbot.dispatcher")

MAX_BACKOFF_S = 300.0


def backoff_s(attempts: int, retry_after: float | None) -> float:
    """Retry-After when the platform gave one, else exponential (1 s … 5 min) with jitter."""
    if retry_after is not None:
        return max(0.0, min(retry_after, MAX_BACKOFF_S))
    base: float = min(MAX_BACKOFF_S, 2.0 ** min(attempts, 12))
    return base * (0.5 + random.random() / 2)


class Dispatcher(DueLoop):
    """Delivers claimed notices; `notifiers` by platform name, `pagers` by pager name."""

    name = "dispatcher"

    def __init__(
        self,
        *,
        store: IncidentStore,
        service: IncidentService,
        notifiers: Mapping[str, Notifier],
        pagers: Mapping[str, Pager],
        clock: Clock,
        owner: str,
        lease: timedelta = timedelta(seconds=30),
        batch: int = 100,
        max_idle: timedelta = timedelta(seconds=5),
        step_wait: timedelta = timedelta(seconds=2),
    ) -> None:
        super().__init__(clock=clock, batch=batch, max_idle=max_idle)
        self.step_wait = step_wait
        # Deliveries still running after their step returned (each under its lease).
        self._in_flight: set[asyncio.Task[None]] = set()
        self.store = store
        self.service = service
        self.notifiers = notifiers
        self.pagers = pagers
        self.owner = owner
        self.lease = lease
        # Leaves a fifth of the lease to record the outcome before anyone may take over.
        self.attempt_limit = lease * 0.8
        # By (target, kind): target is the platform, or the pager for pages (for metrics).
        self.delivered: Counter[tuple[str, str]] = Counter()
        self.failures: Counter[tuple[str, str]] = Counter()
        self.deferred: Counter[tuple[str, str]] = Counter()

    async def next_due(self) -> datetime | None:
        return await self.store.next_notice_at()

    @property
    def in_flight(self) -> int:
        """Deliveries still running after the step that claimed them returned."""
        return len(self._in_flight)

    async def step(self, now: datetime) -> int:
        """Claims what is deliverable at `now` and starts delivering each notice; waits for
        them at most `step_wait` (the rest go on in the background and wake the loop when
        done, as their lane's next notice may then be due). Returns how many were claimed;
        raises the first error of a delivery that ended within the wait (a store outage)."""
        notices = await self.store.claim_notices(now, self.owner, self.lease, self.batch)
        if not notices:
            return 0
        tasks = [self._start(n) for n in notices]
        done, _ = await asyncio.wait(tasks, timeout=self.step_wait.total_seconds())
        for task in tasks:
            if task in done and (error := task.exception()) is not None:
                raise error
        return len(notices)

    async def wait_in_flight(self, within: float | None = None) -> None:
        """Waits (at most `within` seconds) for the deliveries still running."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=within)

    async def drain(self, deadline: datetime) -> None:
        """Delivers until nothing is due now or `deadline` passes (used on shutdown/EOF),
        waiting for deliveries in flight too."""
        while self.clock.now() < deadline:
            claimed = await self.step(self.clock.now())
            if self._in_flight:
                await self.wait_in_flight((deadline - self.clock.now()).total_seconds())
                if self._in_flight:
                    return  # still running at the deadline: their leases cover them
            elif claimed == 0:
                return

    def _start(self, notice: Notice) -> asyncio.Task[None]:
        task = asyncio.create_task(self._deliver(notice), name=f"deliver-notice-{notice.id}")
        self._in_flight.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("notice.delivery_crashed", error=repr(error)[:300])
        self.wake()

    async def _deliver(self, notice: Notice) -> None:
        attempt = asyncio.timeout(self.attempt_limit.total_seconds())
        try:
            async with attempt:
                await self._send(notice)
        except DeliveryDeferred as exc:
            # Nothing was sent: the notifier held the notice back (its target's pace) and
            # says when to come back. Not a failure (no warning, no failure count); the
            # notice keeps its place in its incident's order.
            self.deferred[_target(notice)] += 1
            delay = backoff_s(0, exc.retry_after)
            log.debug(
                "notice.deferred", incident=f"INC-{notice.incident}", retry_in_s=round(delay, 1)
            )
            retry_at = self.clock.now() + timedelta(seconds=delay)
            await self.store.notice_failed(notice.id, retry_at, str(exc)[:500])
            return
        except Exception as exc:
            retry_after = exc.retry_after if isinstance(exc, DeliveryError) else None
            delay = backoff_s(notice.attempts, retry_after)
            error = str(exc)
            if attempt.expired():
                error = f"no answer within {self.attempt_limit.total_seconds():g} s"
            self.failures[_target(notice)] += 1
            if (
                notice.kind is NoticeKind.PAGE
                and isinstance(exc, DeliveryError)
                and exc.permanent
                and not attempt.expired()
            ):
                log.error(
                    "notice.delivery_refused",
                    incident=f"INC-{notice.incident}",
                    kind=notice.kind.value,
                    pager=notice.channel,
                    attempts=notice.attempts + 1,
                    error=error[:300],
                )
                await self.store.notice_dead(notice.id, self.clock.now(), error[:500])
                await self.service.paging_failed(notice, error, permanent=True)
                return
            log.warning(
                "notice.delivery_failed",
                incident=f"INC-{notice.incident}",
                kind=notice.kind.value,
                attempts=notice.attempts + 1,
                retry_in_s=round(delay, 1),
                error=error[:300],
            )
            retry_at = self.clock.now() + timedelta(seconds=delay)
            await self.store.notice_failed(notice.id, retry_at, error[:500])
            if notice.kind is NoticeKind.PAGE and notice.attempts == 0:
                await self.service.paging_failed(notice, error)
            return
        self.delivered[_target(notice)] += 1
        await self.store.notice_delivered(notice.id)

    async def _send(self, notice: Notice) -> None:
        incident = await self.store.get(notice.incident)
        if incident is None:
            return  # the incident is gone; nothing left to say about it
        if notice.kind is NoticeKind.PAGE:
            pager = self.pagers.get(notice.channel)
            if pager is None:
                raise DeliveryError(f"no pager named {notice.channel!r} is configured")
            await pager.page(notice, incident)
            return
        notifier = self.notifiers.get(notice.platform)
        if notifier is None:
            raise DeliveryError(f"platform {notice.platform!r} is not connected")
        thread = await notifier.deliver(notice, incident)
        if notice.kind is NoticeKind.ANNOUNCE and thread is not None and incident.thread is None:
            await self.store.set_thread(incident.number, thread)


def _target(notice: Notice) -> tuple[str, str]:
    """(platform or pager name, notice kind): how deliveries are counted."""
    where = notice.channel if notice.kind is NoticeKind.PAGE else notice.platform
    return where, notice.kind.value
