"""Buttons are typed commands (bot/core/service.py `press`): a Snooze button acts exactly
as the typed `snooze` would, and a forged or stale value is refused with one line and
changes nothing. Real core, real SQLite."""

from __future__ import annotations

from pathlib import Path

from tests.stack import ALICE, HERE, make_stack


async def test_snooze_button_moves_the_reminder_like_the_typed_command(tmp_path: Path) -> None:
    stack = await make_stack(tmp_path)
    try:
        await stack.cmd("declare Checkout errors sev2")
        typed = await stack.service.handle_text("snooze INC-1 30m", ALICE, HERE, "t1")
        by_text = (await stack.store.next_due_at(), len(await stack.store.timeline(1)))
        await stack.service.handle_text("snooze INC-1 1m", ALICE, HERE, "t2")  # move it back
        reply = await stack.service.press("snooze", "INC-1 30m", ALICE, HERE, "b1")
        assert reply.ok and reply.message == typed.message, (reply, typed)
        assert (await stack.store.next_due_at(), len(await stack.store.timeline(1)) - 2) == by_text
        again = await stack.service.press("snooze", "INC-1 30m", ALICE, HERE, "b1")
        assert again.message is not None and again.message.title == "Already handled."
    finally:
        await stack.aclose()


async def test_a_button_with_a_bad_duration_changes_nothing(tmp_path: Path) -> None:
    stack = await make_stack(tmp_path)
    try:
        await stack.cmd("declare Checkout errors sev2")
        before = (await stack.store.next_due_at(), await stack.store.timeline(1))
        for value, says in [
            ("INC-1 forever", "not valid"),
            ("INC-1 30d", "7 days at most"),
            ("nothing", "not tied to an incident"),
        ]:
            reply = await stack.service.press("snooze", value, ALICE, HERE)
            assert not reply.ok and reply.message is not None, value
            assert says in reply.message.title and "\n" not in reply.message.title
        assert (await stack.store.next_due_at(), await stack.store.timeline(1)) == before
    finally:
        await stack.aclose()
