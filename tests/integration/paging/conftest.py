"""Fixtures for the pager tests: a shared httpx client, incidents, notices, fast retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from bot.core.messages import Field, Message, Notice, NoticeKind
from bot.core.model import Actor, Incident, Severity, Status
from bot.paging.retry import RetryPolicy

DECLARED = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)

# Short waits so a retry test takes milliseconds; recorded waits are checked instead.
FAST = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.004, attempt_timeout=2.0)


class SleepRecorder:
    """A `sleep` that records the requested waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_incident(
    number: int = 7,
    severity: Severity = Severity.SEV1,
    *,
    title: str = "Backend DB unreachable",
    **changes: object,
) -> Incident:
    incident = Incident(
        number=number,
        title=title,
        severity=severity,
        status=Status.INVESTIGATING,
        platform="console",
        declared_at=DECLARED,
        declared_by=Actor("U0ALICE", "alice"),
        description="Primary database refuses connections",
        commander=Actor("U0BOB", "bob"),
        tags=("db",),
    )
    return incident.evolve(**changes) if changes else incident


def make_notice(
    action: str = "trigger", contacts: str | None = "oncall", incident: int = 7
) -> Notice:
    data = {"action": action}
    if contacts:
        data["contacts"] = contacts
    message = Message(
        title="INCIDENT DECLARED: Backend DB unreachable",
        fields=(Field("Severity", "SEV1"), Field("Commander", "<@U0BOB>")),
        mentions=("U0ONCALL",),
        severity=Severity.SEV1,
    )
    return Notice(
        incident=incident,
        platform="console",
        kind=NoticeKind.PAGE,
        message=message,
        channel="pager",
        data=data,
        id=41,
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as c:
        yield c


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()
