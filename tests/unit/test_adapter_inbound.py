"""The inbound pieces every adapter shares (bot/adapters/inbound.py): the once-only guard,
tracked background work with a bounded drain, and the error boundary's reference ids."""

from __future__ import annotations

import asyncio
import re

import pytest
import structlog
from structlog.testing import capture_logs

from bot.adapters.inbound import GENERIC_ERROR, ErrorBoundary, SeenOnce, Tasks
from bot.core.messages import Reply
from bot.errors import UserError


def test_seen_once_admits_each_key_once() -> None:
    seen = SeenOnce(limit=10)
    assert [seen.first(k) for k in ["a", "b", "a", "b", "c"]] == [True, True, False, False, True]


def test_seen_once_forgets_the_oldest_beyond_its_limit() -> None:
    seen = SeenOnce(limit=2)
    assert seen.first("a") and seen.first("b") and seen.first("c")  # "a" is forgotten
    assert not seen.first("c")
    assert seen.first("a")


def test_seen_once_lets_an_event_without_an_id_through_every_time() -> None:
    seen = SeenOnce()
    assert seen.first("") and seen.first("")


def test_seen_once_refuses_a_useless_limit() -> None:
    with pytest.raises(ValueError, match="at least one"):
        SeenOnce(limit=0)


async def test_tasks_idle_waits_for_work_started_by_work() -> None:
    tasks, done = Tasks(), []

    async def child() -> None:
        done.append("child")

    async def parent() -> None:
        tasks.spawn(child())
        done.append("parent")

    tasks.spawn(parent())
    assert len(tasks) == 1
    await tasks.idle()
    assert done == ["parent", "child"] and len(tasks) == 0


async def test_tasks_drain_cancels_what_outlives_the_bound() -> None:
    tasks = Tasks()
    release = asyncio.Event()
    quick_done = asyncio.Event()

    async def quick() -> None:
        quick_done.set()

    stuck = tasks.spawn(release.wait())
    tasks.spawn(quick())
    assert not await tasks.settle(0.01)  # the stuck one is still running
    await tasks.drain(0.01)
    assert quick_done.is_set() and stuck.cancelled() and len(tasks) == 0


async def test_tasks_report_a_failure_and_never_a_cancellation() -> None:
    failures: list[BaseException] = []
    tasks = Tasks(on_failure=failures.append)

    async def boom() -> None:
        raise RuntimeError("store down")

    tasks.spawn(boom())
    cancelled = tasks.spawn(asyncio.Event().wait())
    await asyncio.sleep(0)  # let both start
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    await tasks.idle()
    assert [str(e) for e in failures] == ["store down"]


async def test_boundary_passes_replies_and_user_errors_through_unlogged() -> None:
    boundary = ErrorBoundary(structlog.get_logger("t"), "t.failed")

    async def fine() -> Reply:
        return Reply.info("ok")

    async def typo() -> Reply:
        raise UserError("Unknown severity 'x'.")

    with capture_logs() as logs:
        assert await boundary.run(fine()) == Reply.info("ok")
        assert await boundary.run(typo()) == Reply.error("Unknown severity 'x'.")
    assert logs == []


async def test_boundary_answers_a_failure_with_the_reference_id_it_logged() -> None:
    boundary = ErrorBoundary(structlog.get_logger("t"), "t.failed")

    async def broken() -> Reply:
        raise ConnectionError("db gone")

    with capture_logs() as logs:
        first = await boundary.run(broken(), user="U1")
        second = await boundary.run(broken(), user="U1")
    assert not first.ok and first.message is not None and second.message is not None
    refs = [re.search(r"\(ref (\w+)\)", m.title) for m in (first.message, second.message)]
    assert all(refs)
    assert [log["ref"] for log in logs] == [m.group(1) for m in refs if m]
    assert refs[0] and refs[1] and refs[0].group(1) != refs[1].group(1)
    assert logs[0]["event"] == "t.failed" and logs[0]["user"] == "U1"
    assert "db gone" in logs[0]["error"] and logs[0]["exc_info"] is True
    assert first.message.title == GENERIC_ERROR.format(ref=logs[0]["ref"])


async def test_boundary_detail_adds_platform_facts_and_may_drop_the_traceback() -> None:
    boundary = ErrorBoundary(
        structlog.get_logger("t"), "t.failed", lambda exc: ({"code": "ratelimited"}, False)
    )
    with capture_logs() as logs:
        boundary.failed(RuntimeError("429"))
    assert logs[0]["code"] == "ratelimited" and logs[0]["exc_info"] is False
