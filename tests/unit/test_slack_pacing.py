"""ChannelPacer on a fake clock: slots per channel, first come first served, bounded waits,
and 429s that hold back only their own channel."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable

import pytest

from bot.adapters.slack.pacing import ChannelPacer
from bot.errors import DeliveryDeferred, DeliveryError, DeliveryRejected


class FakeTime:
    """Seconds that pass only when `run_until` moves them; sleepers wake in time order."""

    def __init__(self) -> None:
        self.t = 0.0
        self.late = 0.0  # the next sleeper wakes this much after its time (a busy loop)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        late, self.late = self.late, 0.0
        heapq.heappush(self._sleepers, (self.t + seconds + late, next(self._seq), fut))
        await fut

    @staticmethod
    async def settle() -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    async def run_until(self, end: float) -> None:
        """Moves time to `end`, waking each sleeper at its own time (and letting it run)."""
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= end:
            at, _, fut = heapq.heappop(self._sleepers)
            self.t = max(self.t, at)
            if not fut.done():
                fut.set_result(None)
            await self.settle()
        self.t = max(self.t, end)
        await self.settle()


class Slack:
    """Records when each post ran; `script[channel]` lists answers in turn (None: ok)."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.posts: list[tuple[float, str, str]] = []
        self.script: dict[str, list[Exception | None]] = {}
        self.latency = 0.0  # how long Slack takes to answer

    def post(self, channel: str, what: str) -> Callable[[], Awaitable[str]]:
        async def call() -> str:
            answers = self.script.get(channel)
            answer = answers.pop(0) if answers else None
            self.posts.append((self.time.now(), channel, what))
            if self.latency:
                await self.time.sleep(self.latency)
            if answer is not None:
                raise answer
            return what

        return call

    def times(self, channel: str) -> list[tuple[float, str]]:
        return [(t, what) for t, c, what in self.posts if c == channel]


def ratelimited(seconds: float) -> DeliveryError:
    return DeliveryError("chat.postMessage failed: ratelimited (HTTP 429)", retry_after=seconds)


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def slack(time: FakeTime) -> Slack:
    return Slack(time)


def start(p: ChannelPacer, slack: Slack, channel: str, what: str) -> asyncio.Task[str]:
    return asyncio.create_task(p.send(channel, slack.post(channel, what)))


async def in_turn(
    p: ChannelPacer, slack: Slack, *sends: tuple[str, str]
) -> list[asyncio.Task[str]]:
    """Starts each send after the previous one has asked for its slot."""
    tasks = []
    for channel, what in sends:
        tasks.append(start(p, slack, channel, what))
        await FakeTime.settle()
    return tasks


async def test_one_channel_gets_one_post_per_interval_in_the_order_asked(
    time: FakeTime, slack: Slack
) -> None:
    p = ChannelPacer(interval=1.0, max_wait=5.0, clock=time)
    tasks = await in_turn(p, slack, *(("C1", f"m{i}") for i in range(4)))
    await time.run_until(10)
    assert [t.result() for t in tasks] == ["m0", "m1", "m2", "m3"]
    assert slack.times("C1") == [(0.0, "m0"), (1.0, "m1"), (2.0, "m2"), (3.0, "m3")]


async def test_channels_are_paced_independently(time: FakeTime, slack: Slack) -> None:
    p = ChannelPacer(interval=1.0, max_wait=5.0, clock=time)
    await in_turn(p, slack, ("C1", "a0"), ("C1", "a1"), ("C2", "b0"), ("C2", "b1"))
    await time.run_until(10)
    assert slack.times("C1") == [(0.0, "a0"), (1.0, "a1")]
    assert slack.times("C2") == [(0.0, "b0"), (1.0, "b1")]


async def test_interval_is_configurable_and_measured_from_the_last_slot(
    time: FakeTime, slack: Slack
) -> None:
    p = ChannelPacer(interval=0.25, max_wait=5.0, clock=time)
    await in_turn(p, slack, ("C1", "m0"), ("C1", "m1"))
    await time.run_until(3.0)
    tasks = await in_turn(p, slack, ("C1", "m2"))  # long after: no wait at all
    await time.run_until(3.0)
    assert tasks[0].done()
    assert slack.times("C1") == [(0.0, "m0"), (0.25, "m1"), (3.0, "m2")]


async def test_a_post_that_went_out_late_moves_the_next_one_with_it(
    time: FakeTime, slack: Slack
) -> None:
    p = ChannelPacer(interval=1.0, max_wait=5.0, clock=time)
    await in_turn(p, slack, ("C1", "m0"))
    time.late = 0.3  # m1's waiter wakes 0.3 s after its slot
    await in_turn(p, slack, ("C1", "m1"), ("C1", "m2"))
    await time.run_until(10)
    assert slack.times("C1") == [(0.0, "m0"), (1.3, "m1"), (2.3, "m2")]


async def test_a_slot_beyond_max_wait_is_deferred_without_posting(
    time: FakeTime, slack: Slack
) -> None:
    p = ChannelPacer(interval=1.0, max_wait=2.0, clock=time)
    tasks = await in_turn(p, slack, *(("C1", f"m{i}") for i in range(4)))
    await time.run_until(0)
    with pytest.raises(DeliveryDeferred) as deferred:
        await tasks[3]  # its slot would be at 3 s: more than 2 s away
    assert deferred.value.retry_after == pytest.approx(3.0)
    assert "C1 is busy" in str(deferred.value)
    assert p.deferred == 1
    await time.run_until(10)
    assert [w for _, w in slack.times("C1")] == ["m0", "m1", "m2"]
    # The deferred caller held no slot: whoever comes next gets the one after m2.
    later = await in_turn(p, slack, ("C1", "m3"))
    await time.run_until(10)
    assert later[0].result() == "m3"
    assert slack.times("C1")[-1] == (10.0, "m3")


async def test_short_429_holds_only_its_channel_and_is_retried_in_the_next_slot(
    time: FakeTime, slack: Slack
) -> None:
    p = ChannelPacer(interval=1.0, max_wait=5.0, clock=time)
    slack.script["C1"] = [ratelimited(3)]
    c1 = await in_turn(p, slack, ("C1", "first"), ("C1", "second"))
    c2 = await in_turn(p, slack, ("C2", "other"), ("C2", "other2"))
    await time.run_until(10)
    assert [t.result() for t in c1 + c2] == ["first", "second", "other", "other2"]
    # first: 429 at 0; second's slot at 1 was void (the channel was held until 3), so
    # it queued again behind first's retry; C2 went on at its own pace.
    assert slack.times("C1") == [(0.0, "first"), (3.0, "first"), (4.0, "second")]
    assert slack.times("C2") == [(0.0, "other"), (1.0, "other2")]
    assert p.rate_limited == 1


async def test_slots_handed_out_before_a_429_are_void_and_queue_again(
    time: FakeTime, slack: Slack
) -> None:
    p = ChannelPacer(interval=1.0, max_wait=10.0, clock=time)
    slack.latency = 0.1
    slack.script["C1"] = [ratelimited(3)]
    tasks = await in_turn(p, slack, ("C1", "first"), ("C1", "second"), ("C2", "other"))
    await time.run_until(10)
    assert [t.result() for t in tasks] == ["first", "second", "other"]
    # second held the slot at 1 s when first's 429 (answered at 0.1 s) closed C1 until
    # 3.1 s: posting at 1 s would only earn another 429, so it queued behind first's retry.
    assert slack.times("C1") == [(0.0, "first"), (3.1, "first"), (4.1, "second")]
    assert slack.times("C2") == [(0.0, "other")]


async def test_long_429_is_raised_and_holds_the_channel_for_the_others(
    time: FakeTime, slack: Slack
) -> None:
    p = ChannelPacer(interval=1.0, max_wait=2.0, clock=time)
    slack.script["C1"] = [ratelimited(30)]
    first = await in_turn(p, slack, ("C1", "first"))
    await time.run_until(0)
    with pytest.raises(DeliveryError) as err:
        await first[0]
    assert not isinstance(err.value, DeliveryDeferred)
    assert err.value.retry_after == 30  # Slack's own figure, for the outbox
    await time.run_until(10)
    held, other = await in_turn(p, slack, ("C1", "second"), ("C2", "other"))
    await time.run_until(10)
    with pytest.raises(DeliveryDeferred) as deferred:
        await held
    assert deferred.value.retry_after == pytest.approx(20.0)
    assert "held after a 429" in str(deferred.value)
    assert other.result() == "other"
    assert slack.times("C1") == [(0.0, "first")]  # nothing more was sent while held
    assert slack.times("C2") == [(10.0, "other")]
    await time.run_until(30)
    again = await in_turn(p, slack, ("C1", "second"))
    await time.run_until(30)
    assert again[0].result() == "second"
    assert slack.times("C1")[-1] == (30.0, "second")


async def test_429s_in_a_row_are_retried_at_most_max_429s_times(
    time: FakeTime, slack: Slack
) -> None:
    p = ChannelPacer(interval=1.0, max_wait=60.0, max_429s=2, clock=time)
    slack.script["C1"] = [ratelimited(1), ratelimited(1), ratelimited(1), None]
    task = await in_turn(p, slack, ("C1", "m"))
    await time.run_until(30)
    with pytest.raises(DeliveryError) as err:
        await task[0]
    assert err.value.retry_after == 1
    assert [t for t, _ in slack.times("C1")] == [0.0, 1.0, 2.0]


async def test_other_errors_pass_through_and_leave_the_channel_open(
    time: FakeTime, slack: Slack
) -> None:
    p = ChannelPacer(interval=1.0, max_wait=5.0, clock=time)
    slack.script["C1"] = [
        DeliveryRejected("channel_not_found"),
        DeliveryError("Slack unreachable: ClientConnectorError"),
    ]
    rejected, unreachable, ok = await in_turn(p, slack, ("C1", "a"), ("C1", "b"), ("C1", "c"))
    await time.run_until(10)
    with pytest.raises(DeliveryRejected):
        await rejected
    with pytest.raises(DeliveryError, match="unreachable"):
        await unreachable
    assert ok.result() == "c"
    assert [t for t, _ in slack.times("C1")] == [0.0, 1.0, 2.0]  # each held its own slot
    assert p.rate_limited == 0


async def test_a_name_and_its_channel_id_share_one_pace(time: FakeTime, slack: Slack) -> None:
    p = ChannelPacer(interval=1.0, max_wait=5.0, clock=time)
    p.alias("incidents", "C0INC")
    await in_turn(p, slack, ("incidents", "announce"), ("C0INC", "thread reply"))
    await time.run_until(5)
    assert [t for t, _, _ in slack.posts] == [0.0, 1.0]
    assert p.wait_for("incidents") == p.wait_for("C0INC") == 0.0


async def test_a_cancelled_waiter_does_not_block_the_channel(time: FakeTime, slack: Slack) -> None:
    p = ChannelPacer(interval=1.0, max_wait=5.0, clock=time)
    first, cancelled, third = await in_turn(p, slack, ("C1", "a"), ("C1", "b"), ("C1", "c"))
    await time.run_until(0.5)
    cancelled.cancel()  # e.g. the dispatcher's attempt timeout
    await time.run_until(5)
    assert first.result() == "a" and third.result() == "c"
    assert slack.times("C1") == [(0.0, "a"), (2.0, "c")]  # its slot stays unused, no more


async def test_zero_interval_turns_spacing_off(time: FakeTime, slack: Slack) -> None:
    p = ChannelPacer(interval=0.0, max_wait=0.0, clock=time)
    await in_turn(p, slack, *(("C1", f"m{i}") for i in range(3)))
    await time.run_until(0)
    assert [t for t, _ in slack.times("C1")] == [0.0, 0.0, 0.0]


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        ChannelPacer(interval=-1)
