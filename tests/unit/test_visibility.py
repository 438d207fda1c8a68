"""The one predicate every reply path asks: may this viewer see this incident? (pure)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.model import Actor, ChannelRef, Incident, Role, Severity, Status
from bot.core.policy import Policy
from bot.core.visibility import Viewer, may_see

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
POLICY = Policy(
    contacts={"security": ("U_SEC",)},
    responders=frozenset({"U_RESP"}),
    security_channels={"*": "security", "slack": "C0SEC"},
)
PRIVATE = Incident(
    number=7,
    title="Leaked keys",
    severity=Severity.SEV1,
    status=Status.INVESTIGATING,
    platform="slack",
    declared_at=T0,
    declared_by=Actor("U_REPORTER"),
    private=True,
    commander=Actor("U_IC"),
    roles={Role.SCRIBE: Actor("U_SCRIBE")},
    thread=ChannelRef("slack", "C0SEC_REAL_ID", "1700000000.0001"),
)
GENERAL = ChannelRef("slack", "C0GENERAL")


@pytest.mark.parametrize("user", ["U_IC", "U_SCRIBE", "U_RESP", "U_SEC", "U_REPORTER"])
def test_its_people_see_it_anywhere_but_only_privately(user: str) -> None:
    assert may_see(POLICY, PRIVATE, Viewer(Actor(user), GENERAL))
    assert not may_see(POLICY, PRIVATE, Viewer(Actor(user), GENERAL, alone=False))


@pytest.mark.parametrize(
    "where",
    [
        ChannelRef("slack", "C0SEC"),  # the configured security channel
        ChannelRef("slack", "C0SEC_REAL_ID"),  # where it was announced (Slack's real id)
        ChannelRef("slack", "C0SEC_REAL_ID", "1700000000.0001"),  # its thread
    ],
)
def test_anyone_sees_it_in_the_security_channel_or_its_thread(where: ChannelRef) -> None:
    assert may_see(POLICY, PRIVATE, Viewer(Actor("U_ANYONE"), where, alone=False))


@pytest.mark.parametrize(
    "where",
    [
        GENERAL,
        ChannelRef("slack", "C0GENERAL", "1700000000.0001"),  # same ts, another channel
        ChannelRef("discord", "C0SEC"),  # another platform's channel of that id
        ChannelRef("slack", ""),
    ],
)
def test_nobody_else_sees_it(where: ChannelRef) -> None:
    assert not may_see(POLICY, PRIVATE, Viewer(Actor("U_ANYONE"), where))


def test_a_public_incident_is_seen_by_everyone_everywhere() -> None:
    public = PRIVATE.evolve(private=False)
    assert may_see(POLICY, public, Viewer(Actor("U_ANYONE"), GENERAL, alone=False))


def test_no_security_channel_on_a_platform() -> None:
    policy = Policy(security_channels={"slack": "C0SEC"})
    assert policy.security_channel("slack") == "C0SEC"
    assert policy.security_channel("discord") is None
    assert Policy(security_channels={}).security_channel("slack") is None
