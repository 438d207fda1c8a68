"""The core answers a title-less declare with the declare form where the adapter can open
one (bot/core/grammar.py `declare_form`), so no adapter reads the command words."""

from __future__ import annotations

from bot.core.grammar import declare_form
from bot.core.messages import Modal, ModalKind
from bot.core.model import Severity

LEX = {"sev1": Severity.SEV1, "sev2": Severity.SEV2, "critical": Severity.SEV1}


def test_bare_declare_is_the_empty_form() -> None:
    assert declare_form("declare", LEX) == Modal(ModalKind.DECLARE)
    assert declare_form("  DECLARE ", LEX) == Modal(ModalKind.DECLARE)


def test_declare_with_only_a_severity_preselects_it() -> None:
    assert declare_form("declare SEV2", LEX) == Modal(
        ModalKind.DECLARE, prefill={"severity": "SEV2"}
    )
    assert declare_form("declare critical", LEX) == Modal(
        ModalKind.DECLARE, prefill={"severity": "SEV1"}
    )


def test_anything_else_is_parsed_as_usual() -> None:
    for text in ["declare db down", "declare sev9", "declare --private", "list", "", "declared"]:
        assert declare_form(text, LEX) is None, text
