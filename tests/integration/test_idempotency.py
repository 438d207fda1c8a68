"""Redelivered platform requests act exactly once — and a request whose first attempt
failed still acts when the platform redelivers it, because the request id is recorded in
the same transaction as the command's effects (real PostgreSQL behind a loopback proxy
that is cut mid-way)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import InfraError
from tests.conftest import via_proxy
from tests.fakes.tcp_proxy import TcpProxy
from tests.stack import ALICE, HERE, make_stack


async def test_request_that_failed_acts_on_redelivery(
    tmp_path: Path, pg_schema_url: str, proxy: TcpProxy
) -> None:
    stack = await make_stack(tmp_path, store_url=via_proxy(pg_schema_url, proxy))
    try:
        await stack.cmd("declare Earlier incident sev3")
        await proxy.cut()  # the database becomes unreachable for the first attempt
        with pytest.raises(InfraError):
            await stack.service.handle_text("declare DB down sev1", ALICE, HERE, "evt-1")
        await proxy.restore()

        retried = await stack.service.handle_text("declare DB down sev1", ALICE, HERE, "evt-1")
        assert retried.ok and retried.message is not None
        assert "INC-2 declared (SEV1): DB down" in retried.message.text()
        again = await stack.service.handle_text("declare DB down sev1", ALICE, HERE, "evt-1")
        assert again.message is not None and again.message.text() == "Already handled."
        assert [i.number for i in await stack.store.list_incidents()] == [2, 1]  # no gap
    finally:
        await stack.aclose()


async def test_redelivered_mutation_acts_once(tmp_path: Path) -> None:
    stack = await make_stack(tmp_path)
    await stack.cmd("declare Queue stuck sev2")
    for _ in range(3):
        await stack.service.handle_text("note replica 2 lagging", ALICE, HERE, "evt-note")
    notes = [e for e in await stack.store.timeline(1) if e.kind == "note"]
    assert len(notes) == 1
    # the same id on another platform is another request
    other = HERE.__class__("other", HERE.channel)
    reply = await stack.service.handle_text("note INC-1 from elsewhere", ALICE, other, "evt-note")
    assert reply.ok
    assert len([e for e in await stack.store.timeline(1) if e.kind == "note"]) == 2
    await stack.aclose()
