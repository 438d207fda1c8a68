"""`/incident list` tells the true count and pages through the rest (newest first, by
severity), within the platforms' message limits. Real service over SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.model import Actor, Incident, Severity, Status
from bot.core.records import Change
from tests.conftest import TEST_DATABASE_URL, require_service
from tests.pgschema import fresh_schema
from tests.stack import ALICE, HERE, T0, Stack, make_stack

SEVERITIES = (Severity.SEV1, Severity.SEV2, Severity.SEV3, Severity.SEV4)


@pytest.fixture(params=["sqlite", "postgres"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    async with contextlib.AsyncExitStack() as scope:
        url = None
        if request.param == "postgres":
            pg = require_service(TEST_DATABASE_URL, 5432, "PostgreSQL")
            url = await scope.enter_async_context(fresh_schema(pg))
        s = await make_stack(tmp_path, store_url=url)
        yield s
        await s.aclose()


async def _open(stack: Stack, n: int, *, title: str = "incident {i}", ic: Actor = ALICE) -> None:
    """`n` open incidents straight into the store: SEV1..SEV4 in turn, every 10th private."""
    for i in range(1, n + 1):
        inc = Incident(
            number=0,
            title=title.format(i=i),
            severity=SEVERITIES[(i - 1) % 4],
            status=Status.INVESTIGATING,
            platform="test",
            declared_at=T0,
            declared_by=ic,
            commander=ic,
            private=i % 10 == 0,
        )
        await stack.store.create(inc, Change())


def _rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("INC-")]


async def test_240_open_incidents_show_the_true_count_and_page(stack: Stack) -> None:
    await _open(stack, 240)
    first = await stack.cmd("list", actor=Actor("U_X"))
    assert first.startswith("240 open incidents (24 private) · page 1 of 12, newest first")
    rows = _rows(first)
    assert rows[0].startswith("INC-239  SEV3") and len(rows) == 18  # INC-240, 230 private
    assert "+ 2 private incidents, shown only in the security channel" in first
    assert first.endswith("More: /incident list --page 2")
    assert _rows(await stack.cmd("list"))[0].startswith("INC-240")  # their IC sees them
    last = await stack.cmd("list --page 12", actor=Actor("U_X"))
    assert "page 12 of 12" in last and "More:" not in last
    assert _rows(last)[-1].startswith("INC-1  SEV1")
    assert _rows(await stack.cmd("list page 2")) == _rows(await stack.cmd("list --page 2"))
    assert "There is no page 13: the 240 open incident(s) fill 12." in await stack.cmd(
        "list --page 13"
    )


async def test_list_filters_by_severity(stack: Stack) -> None:
    await _open(stack, 240)
    sev2 = await stack.cmd("list sev2", actor=Actor("U_X"))
    assert sev2.startswith("60 open SEV2 incidents (12 private) · page 1 of 3, newest first")
    assert {r.split()[1] for r in _rows(sev2)} == {"SEV2"}
    assert sev2.endswith("More: /incident list sev2 --page 2")
    assert "page 3 of 3" in await stack.cmd("list p1 --page 3")  # any alias
    await stack.cmd("resolve INC-237")
    sev1 = await stack.cmd("list critical")
    assert sev1.startswith("59 open SEV1 incidents · page 1 of 3, newest first")
    assert "INC-237" not in sev1 and _rows(sev1)[0].startswith("INC-233  SEV1")


async def test_list_answers_stay_within_the_platform_limits(stack: Stack) -> None:
    long_ic = Actor("U_LONG", "a" * 80)
    await _open(stack, 45, title="W" * 200 + " {i}", ic=long_ic)
    page = await stack.service.handle_text("list", long_ic, HERE)
    assert page.message is not None
    assert len(page.message.title) <= 150  # a Slack header
    assert len(page.message.body) <= 3000  # one Slack section, one Discord embed description
    assert len(_rows(page.message.body)) == 20


async def test_bad_list_arguments_are_clear_errors(stack: Stack) -> None:
    for text, expected in (
        ("list banana", "Unexpected 'banana'. Usage: /incident list [severity] [--page N]"),
        ("list --page", "Give a page number"),
        ("list --page 0", "Give a page number"),
        ("list --page x", "Give a page number"),
        ("list sev1 sev2", "Unexpected 'sev2'"),
    ):
        assert expected in await stack.cmd(text), text
    assert "No open SEV2 incidents." in await stack.cmd("list sev2")


@pytest.mark.slow
async def test_5000_open_incidents(tmp_path: Path) -> None:
    stack = await make_stack(tmp_path)
    try:
        await _open(stack, 5000)
        started = time.perf_counter()
        first = await stack.cmd("list")
        elapsed = time.perf_counter() - started
        assert first.startswith("5000 open incidents (500 private) · page 1 of 250")
        assert "page 250 of 250" in await stack.cmd("list --page 250")
        assert elapsed < 2.0, elapsed  # a count and one page, not 5,000 rows
    finally:
        await stack.aclose()
