"""`/incident list [severity] [--page N]`: parsing and the page layout (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core import commands as c
from bot.core import grammar as g
from bot.core.model import Actor, Incident, Severity, Status
from bot.core.policy import Policy
from bot.core.templates import Templates
from bot.core.views import LIST_PAGE, Views
from bot.errors import UserError

LEX = Policy().aliases()
T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def test_list_takes_a_severity_and_a_page() -> None:
    assert g.parse("list", LEX) == c.ListIncidents()
    assert g.parse("list sev1", LEX) == c.ListIncidents(Severity.SEV1)
    assert g.parse("ls critical --page 3", LEX) == c.ListIncidents(Severity.SEV1, 3)
    assert g.parse("list page 2 low", LEX) == c.ListIncidents(Severity.SEV4, 2)


@pytest.mark.parametrize("text", ["list x", "list --page", "list --page -1", "list --page 9999999"])
def test_bad_list_arguments(text: str) -> None:
    with pytest.raises(UserError, match="Usage: /incident list"):
        g.parse(text, LEX)


def test_a_full_page_of_the_longest_rows_fits_one_slack_section() -> None:
    views = Views(Policy(), Templates())
    worst = Incident(
        number=999_999_999,
        title="W" * 150 + "\nsecond line of a pasted title",
        severity=Severity.SEV1,
        status=Status.INVESTIGATING,
        platform="slack",
        declared_at=T0.replace(year=2020),
        declared_by=Actor("U1"),
        commander=Actor("U" * 80, "n" * 80),
    )
    msg = views.listing(
        [worst] * LIST_PAGE, T0, total=10**9, private=10**8, hidden=LIST_PAGE, page=10**6,
        pages=10**8, severity=Severity.SEV1,
    )  # fmt: skip
    assert len(msg.title) <= 150 and len(msg.body) <= 3000
    lines = msg.body.splitlines()
    assert len(lines) == LIST_PAGE + 2  # one line a row (a pasted newline does not break it)
    assert all(line.startswith(("INC-999999999  SEV1", "+ 20 private", "More:")) for line in lines)
