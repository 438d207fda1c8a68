"""Attaching the post-mortem ends its chase, so it is for responders, and only after resolve
(SPEC §7 "who may"). Real service, scheduler and dispatcher over SQLite, manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.stack import ALICE, BOB, Stack, make_stack

H = timedelta(hours=1)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    s = await make_stack(tmp_path)
    yield s
    await s.aclose()


async def test_a_non_responder_cannot_attach_and_the_chase_goes_on(stack: Stack) -> None:
    await stack.cmd("declare Payments down sev1")
    await stack.cmd("resolve INC-1 failover")
    refused = await stack.cmd("postmortem INC-1 https://evil.example/nothing", actor=BOB)
    assert "Only INC-1's responders may do that (IC alice)" in refused
    inc = await stack.store.get(1)
    assert inc is not None and inc.postmortem_at is None and inc.postmortem == ""
    await stack.advance(48 * H)
    assert stack.notifier.count("POST-MORTEM DUE") == 1  # still chased
    await stack.cmd("role INC-1 scribe <@U_BOB|bob>", actor=ALICE)
    assert "Post-mortem attached to INC-1" in await stack.cmd(
        "postmortem INC-1 https://wiki.example/pm/1", actor=BOB
    )
    await stack.advance(72 * H)
    assert stack.notifier.count("POST-MORTEM DUE") == 1  # the scribe's link ended it


async def test_attaching_to_an_open_incident_is_refused(stack: Stack) -> None:
    await stack.cmd("declare Checkout errors sev2")
    answer = await stack.cmd("postmortem INC-1 https://wiki.example/pm/1")  # even by its IC
    assert "INC-1 is still open: attach its post-mortem after /incident resolve" in answer
    inc = await stack.store.get(1)
    assert inc is not None and inc.postmortem_at is None
    await stack.cmd("resolve INC-1")
    await stack.advance(48 * H)
    assert stack.notifier.count("POST-MORTEM DUE") == 1  # the refused link silenced nothing


async def test_a_draft_never_replaces_the_attached_post_mortem(stack: Stack) -> None:
    await stack.cmd("declare Login broken sev2")
    await stack.cmd("resolve INC-1")
    await stack.cmd("postmortem INC-1 https://wiki.example/pm/1")
    assert "Post-mortem draft for INC-1" in await stack.cmd("postmortem INC-1", actor=BOB)
    inc = await stack.store.get(1)
    assert inc is not None and inc.postmortem == "https://wiki.example/pm/1"
    assert stack.notifier.count("POST-MORTEM DRAFT: INC-1") == 1  # the draft is still shown
