"""Background work tracked so that shutdown can wait for it (bounded) and cancel the rest.

Used by the core for its own background work (probe runs after a declare) and by every
chat adapter for the work a request starts after the platform's ack
(bot/adapters/inbound.py). Platform-neutral: asyncio only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Tasks:
    """Tracks background tasks on the running loop.

    `on_failure(exc)` is called for a task that ended with an exception (never for a
    cancelled one), so nothing fails silently; by default such a task's exception is only
    retrieved (the work is expected to carry its own error boundary)."""

    def __init__(self, on_failure: Callable[[BaseException], None] | None = None) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_failure = on_failure

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Starts `work` now, tracked until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # retrieved either way: no "exception never retrieved"
        if exc is not None and self._on_failure is not None:
            self._on_failure(exc)

    async def idle(self) -> None:
        """Returns once no tracked task is running (work may spawn more work)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def settle(self, grace_s: float) -> bool:
        """Waits for the tracked tasks, each round at most `grace_s` seconds; True if none
        is left."""
        while self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            if pending:
                return False
        return True

    async def drain(self, grace_s: float) -> None:
        """Lets running work finish within `grace_s`, then cancels what is left and waits
        for the cancellations to land."""
        if await self.settle(grace_s):
            return
        left = list(self._tasks)
        for t in left:
            t.cancel()
        await asyncio.gather(*left, return_exceptions=True)
