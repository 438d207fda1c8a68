"""The scheduler and dispatcher loops themselves, driven by a manual clock: they sleep until
the next due time (no busy polling), wake when a commit adds earlier work, and fire the
moment the clock passes a due time. Nothing here sleeps for real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.core.model import Actor, ChannelRef
from bot.core.records import Timer
from tests.stack import T0, Stack, make_stack

M = timedelta(minutes=1)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Stack, list[int]]]:
    stack = await make_stack(tmp_path)
    steps = [0]
    real_step = stack.scheduler.step

    async def counted(now: datetime) -> int:
        steps[0] += 1
        return await real_step(now)

    stack.scheduler.step = counted  # type: ignore[method-assign]  # count loop iterations

    def wake_both() -> None:
        stack.scheduler.wake()
        stack.dispatcher.wake()

    stack.service.on_commit = wake_both
    tasks = [
        asyncio.create_task(stack.scheduler.run()),
        asyncio.create_task(stack.dispatcher.run()),
    ]
    yield stack, steps
    stack.scheduler.stop()
    stack.dispatcher.stop()
    await asyncio.gather(*tasks)
    await stack.aclose()


async def until(cond: Callable[[], bool], *, within_s: float = 5.0) -> None:
    """Waits for store I/O (aiosqlite runs on a thread) to let `cond` become true. The
    manual clock does not move while waiting: this is I/O latency, not a timer."""
    for _ in range(int(within_s / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    pytest.fail("condition not reached")


async def test_loop_sleeps_while_nothing_is_due_and_fires_on_time(
    running: tuple[Stack, list[int]],
) -> None:
    stack, steps = running
    await stack.service.handle_text("declare Queue stuck sev1", *_who())
    await until(lambda: stack.notifier.count("INCIDENT DECLARED") == 1)
    await until(lambda: stack.notifier.count("5-MINUTE TRIAGE") == 1)
    await asyncio.sleep(0.2)
    idle_steps = steps[0]
    await asyncio.sleep(0.5)
    assert steps[0] == idle_steps  # asleep: no polling while the clock stands still

    await stack.clock.set(T0 + 14 * M)
    await asyncio.sleep(0.1)
    assert stack.notifier.count("UPDATE DUE") == 0
    await stack.clock.set(T0 + 15 * M)
    await until(lambda: stack.notifier.count("UPDATE DUE") == 1)
    await stack.clock.set(T0 + 29 * M)
    await asyncio.sleep(0.1)
    assert stack.notifier.count("UPDATE DUE") == 1
    await stack.clock.set(T0 + 30 * M)
    await until(lambda: stack.notifier.count("UPDATE DUE") == 2)


async def test_a_commit_wakes_the_sleeping_loop(running: tuple[Stack, list[int]]) -> None:
    stack, _ = running
    await stack.service.handle_text("declare Slow burn sev4", *_who())  # due in a day
    await until(lambda: stack.notifier.count("INCIDENT DECLARED") == 1)
    await stack.service.handle_text("sev INC-1 sev1", *_who())  # now due at T0 + 15 min
    await stack.clock.set(T0 + 15 * M)
    await until(lambda: stack.notifier.count("UPDATE DUE") == 1)


async def test_lateness_is_reported_per_fired_timer(tmp_path: Path) -> None:
    stack = await make_stack(tmp_path)
    fired: list[tuple[Timer, datetime]] = []
    stack.scheduler.on_fired = lambda timer, now: fired.append((timer, now))
    await stack.cmd("declare Late sev1")
    await stack.clock.set(T0 + 16 * M)
    await stack.settle()
    [(timer, now)] = fired
    assert now - timer.due_at == M
    await stack.aclose()


def _who() -> tuple[Actor, ChannelRef]:
    from tests.stack import ALICE, HERE

    return ALICE, HERE
