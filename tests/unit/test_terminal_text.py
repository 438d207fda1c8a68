"""`safe_text`: what the console prints of user text can never drive the terminal."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.console import render
from bot.adapters.terminal import safe_text
from bot.core.messages import Field, Message

BIDI = {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}


def harmless(text: str) -> bool:
    return all(unicodedata.category(ch) != "Cc" and ch not in BIDI for ch in text)


@given(st.text())
def test_no_control_character_survives_and_it_is_idempotent(text: str) -> None:
    out = safe_text(text)
    assert harmless(out)
    assert safe_text(out) == out


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=50))
def test_printable_text_is_unchanged(text: str) -> None:
    if not BIDI & set(text):
        assert safe_text(text) == text


def test_sequences_are_removed_whole_and_other_controls_made_visible() -> None:
    assert safe_text("\x1b[31mred\x1b[0m") == "red"
    assert safe_text("\x1b]0;title\x07x") == "x"  # OSC (window title) with BEL
    assert safe_text("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\") == "link"  # hyperlink
    assert safe_text("\x9b2Jx") == "x"  # 8-bit CSI
    assert safe_text("a\rb") == "a\ufffdb"  # no overwriting the start of the line
    assert safe_text("a\nb\tc") == "a b c"  # one line: no fake "#incidents ›" line below
    assert safe_text("\u202eabc") == "\ufffdabc"
    assert safe_text("déjà vu 🔥 — ok") == "déjà vu 🔥 — ok"


def test_render_makes_every_part_of_a_message_safe() -> None:
    msg = Message(
        title="\x1b[2JDown",
        fields=(Field("Commander", "@\x1b[5mbob"),),
        body="line one\x07\nline two\x1b[A",
    )
    assert render(msg) == ["Down", "Commander: @bob", "line one\ufffd", "line two"]
