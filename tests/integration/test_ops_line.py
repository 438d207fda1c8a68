"""The one line per incident in `ops`, at declare and at resolve, comes from the `ops_line`
template: the shipped one, or the configured one (also under its old placeholder name)."""

from __future__ import annotations

from pathlib import Path

from bot.config import BotConfig
from tests.stack import Stack, make_stack

CONTACTS = {"oncall": ["U_ONCALL"], "engineering_manager": ["U_EM"], "security": ["U_SEC"]}


def ops_lines(stack: Stack) -> list[str]:
    return [d.text for d in stack.notifier.delivered if d.channel == "ops"]


async def declare_and_resolve(stack: Stack) -> list[str]:
    try:
        await stack.cmd('declare "Checkout API 500s" sev1')
        await stack.cmd("resolve INC-1 fixed")
        return ops_lines(stack)
    finally:
        await stack.aclose()


async def test_the_shipped_ops_line_at_declare_and_at_resolve(tmp_path: Path) -> None:
    lines = await declare_and_resolve(await make_stack(tmp_path))
    assert lines == [
        "[INCIDENT] SEV1 INC-1 - Checkout API 500s. Investigating.",
        "[RESOLVED] SEV1 INC-1 - Checkout API 500s.",
    ]


async def test_a_configured_ops_line_is_used_at_resolve_too(tmp_path: Path) -> None:
    config = BotConfig(contacts=CONTACTS, templates={"ops_line": "{key} {severity}: {status}"})
    assert config.templates_set().validate() == []
    lines = await declare_and_resolve(await make_stack(tmp_path, config))
    assert lines == ["INC-1 SEV1: Investigating", "INC-1 SEV1: Resolved"]


async def test_the_old_status_word_placeholder_still_fills(tmp_path: Path) -> None:
    config = BotConfig(contacts=CONTACTS, templates={"ops_line": "{key}: {status_word}."})
    assert config.templates_set().validate() == []
    lines = await declare_and_resolve(await make_stack(tmp_path, config))
    assert lines == ["INC-1: Investigating.", "INC-1: Resolved."]
