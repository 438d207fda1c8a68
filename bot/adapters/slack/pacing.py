"""Per-channel pacing of Slack posts: Slack allows about one `chat.postMessage` a second
per channel (thread replies count against their channel), and answers more with HTTP 429.

`ChannelPacer.send(channel, post)` runs `post` in the channel's next free slot. Slots are
handed out first come, first served, `interval` seconds apart, one channel independent of
the others. A 429 (a `DeliveryError` carrying `retry_after`) closes that channel, and only
that channel, until Retry-After has passed: slots handed out before then are void and their
holders queue again.

Waiting is bounded by `max_wait` per `send`: the outbox dispatcher gives each delivery
attempt only part of its claim's lease, and it waits for every notice it claimed before it
claims the next ones, so a long wait here would hold back other channels too. When the slot
is further away, `send` raises `DeliveryDeferred` (nothing was sent; `retry_after` says
when the slot should be free) and the notice goes back to the outbox, keeping its place in
its incident's order. A 429 whose Retry-After does not fit in what is left of `max_wait` is
raised as the `DeliveryError` it is.

Time comes from an injectable `PaceClock` (the event loop's monotonic clock by default).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, TypeVar

from bot.errors import DeliveryDeferred, DeliveryError, DeliveryRejected

T = TypeVar("T")

IN_SLOT: ContextVar[bool] = ContextVar("incidentbot_slack_in_slot", default=False)
"""True while `send` runs a post: the Web API client then leaves a 429 to the pacer (a
blind retry after Retry-After would collide with the channel's next slot)."""


class PaceClock(Protocol):
    """Monotonic seconds, and a way to wait for them to pass."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's monotonic clock (never jumps with wall-clock changes)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@dataclass
class _Channel:
    next_free: float = float("-inf")  # the earliest slot not yet handed out
    closed_until: float = float("-inf")  # a 429 said: nothing before this
    last_sent: float = float("-inf")  # when the latest post actually went out


class ChannelPacer:
    """See the module docstring. `interval` 0 turns the spacing off (429s still close a
    channel); `max_429s` bounds how often one `send` retries after a short Retry-After."""

    def __init__(
        self,
        *,
        interval: float = 1.0,
        max_wait: float = 2.0,
        max_429s: int = 2,
        clock: PaceClock | None = None,
    ) -> None:
        if interval < 0 or max_wait < 0 or max_429s < 0:
            raise ValueError("interval, max_wait and max_429s must not be negative")
        self.interval = interval
        self.max_wait = max_wait
        self.max_429s = max_429s
        self.clock: PaceClock = clock or LoopClock()
        self.rate_limited = 0  # 429s seen (for tests, benches and metrics)
        self.deferred = 0  # sends handed back to the outbox because the slot was too far
        self._channels: dict[str, _Channel] = {}
        self._aliases: dict[str, str] = {}

    def alias(self, name: str, channel_id: str) -> None:
        """`name` (a configured channel name) is `channel_id`: they share one pace."""
        if name != channel_id:
            self._aliases[name] = channel_id

    def wait_for(self, channel: str) -> float:
        """Seconds until `channel`'s next free slot (0: a post could go now)."""
        ch = self._channel(channel)
        now = self.clock.now()
        return max(0.0, ch.next_free - now, ch.closed_until - now)

    def closed(self, channel: str, retry_after: float) -> None:
        """Slack answered 429 for `channel`: nothing goes there for `retry_after` seconds."""
        ch = self._channel(channel)
        ch.closed_until = max(ch.closed_until, self.clock.now() + retry_after)

    async def send(self, channel: str, post: Callable[[], Awaitable[T]]) -> T:
        """Runs `post()` in `channel`'s next free slot and returns what it returns.

        Raises `DeliveryDeferred` when the slot is more than what is left of `max_wait`
        away (`post` was not called), and whatever `post` raises; a `DeliveryError` with
        `retry_after` from `post` (a 429) closes the channel and is retried in the next
        slot if that fits in the wait left and `max_429s` allows, else re-raised.
        """
        deadline = self.clock.now() + self.max_wait
        limited = 0
        while True:
            await self._slot(channel, deadline)
            paced = IN_SLOT.set(True)
            try:
                return await post()
            except DeliveryRejected:
                raise
            except DeliveryError as exc:
                if exc.retry_after is None:
                    raise
                self.rate_limited += 1
                self.closed(channel, exc.retry_after)
                limited += 1
                if limited > self.max_429s or self.clock.now() + exc.retry_after > deadline:
                    raise
            finally:
                IN_SLOT.reset(paced)

    async def _slot(self, channel: str, deadline: float) -> None:
        """Waits for a slot of `channel` no later than `deadline`, reserving it first so
        callers are served in the order they asked."""
        ch = self._channel(channel)
        while True:
            now = self.clock.now()
            at = max(now, ch.next_free, ch.closed_until)
            if at > deadline:
                self.deferred += 1
                wait = at - now
                why = (
                    "held after a 429 from Slack"
                    if at == ch.closed_until
                    else "busy (Slack takes about one message a second per channel)"
                )
                raise DeliveryDeferred(
                    f"Slack channel {channel} is {why}: next free slot in {wait:.1f} s",
                    retry_after=wait,
                )
            ch.next_free = at + self.interval
            if at > now:
                await self.clock.sleep(at - now)
            # A post that went out late (a busy event loop) moves the next one with it.
            while (lag := ch.last_sent + self.interval - self.clock.now()) > 0:
                await self.clock.sleep(lag)
            if at >= ch.closed_until:
                sent = ch.last_sent = self.clock.now()
                ch.next_free = max(ch.next_free, sent + self.interval)
                return
            # A 429 closed the channel while we waited: this slot is void, queue again.

    def _channel(self, channel: str) -> _Channel:
        key = self._aliases.get(channel, channel)
        ch = self._channels.get(key)
        if ch is None:
            ch = self._channels[key] = _Channel()
        return ch
