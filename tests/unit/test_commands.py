"""The command parser: every SPEC §2 form, clear errors, and a fuzzer proving any text
yields a command or a UserError — never another exception."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import commands as c
from bot.core import grammar as g
from bot.core.model import Actor, Role, Severity, Status
from bot.core.policy import Policy
from bot.errors import UserError

LEX = Policy().aliases()


def parse(text: str) -> c.Command:
    return g.parse(text, LEX)


def test_declare_quoted_title_and_alias() -> None:
    assert parse('/incident declare "Checkout API 500s" sev1') == c.Declare(
        "Checkout API 500s", Severity.SEV1
    )
    assert parse('declare "Backend DB unreachable" critical') == c.Declare(
        "Backend DB unreachable", Severity.SEV1
    )
    assert parse("declare Backend DB unreachable p1") == c.Declare(
        "Backend DB unreachable", Severity.SEV1
    )
    assert parse("declare Login slow") == c.Declare("Login slow", None)


def test_declare_private_and_tags() -> None:
    cmd = parse('declare "Leaked key" p2 --private --tag data-loss')
    assert cmd == c.Declare("Leaked key", Severity.SEV2, True, "", ("data-loss",))
    sec = parse("declare Odd logins --tag security")
    assert isinstance(sec, c.Declare) and sec.private


def test_severity_shaped_last_word_is_an_error_not_title() -> None:
    for word in ("sev9", "p7", "s0"):
        with pytest.raises(UserError, match=f"Unknown severity '{word}'.*Nothing was created"):
            parse(f"declare Something broke {word}")


def test_declare_needs_a_title() -> None:
    with pytest.raises(UserError, match="A title is needed"):
        parse("declare sev1")


def test_apostrophes_do_not_break_parsing() -> None:
    assert parse("note we don't know yet") == c.AddNote(None, "we don't know yet")
    assert parse("declare Can't log in p3") == c.Declare("Can't log in", Severity.SEV3)


def test_incident_ids_and_users() -> None:
    assert parse("sev INC-7 high") == c.SetSeverity(7, Severity.SEV2)
    assert parse("ic inc-7 <@U123|alice>") == c.SetCommander(7, Actor("U123", "alice"))
    assert parse("ic") == c.SetCommander(None, None)
    assert parse("role INC-2 scribe @bob") == c.AssignRole(2, Role.SCRIBE, Actor("bob", "bob"))
    assert parse("role comms") == c.AssignRole(None, Role.COMMS, None)


def test_status_update_note_probe_resolve_snooze() -> None:
    assert parse("status INC-3 identified bad deploy 4512") == c.SetStatus(
        3, Status.IDENTIFIED, "bad deploy 4512"
    )
    assert parse("update INC-3 pool exhausted ; rolling back 4512") == c.PostUpdate(
        3, "pool exhausted", "rolling back 4512"
    )
    assert parse("probe backend db") == c.RunProbes(None, ("backend", "db"))
    assert parse("resolve INC-3 rolled back") == c.Resolve(3, "rolled back")
    assert parse("snooze 30m") == c.Snooze(None, timedelta(minutes=30))
    assert parse("postmortem INC-3 https://wiki/pm/3") == c.Postmortem(3, "https://wiki/pm/3")
    assert parse("timeline INC-3") == c.ShowTimeline(3)
    assert parse("list") == c.ListIncidents()
    assert parse("") == c.Help()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("frobnicate", "Unknown command 'frobnicate'. Expected one of: declare"),
        ("sev", "Give exactly one severity"),
        ("sev INC-1 sev7", "Unknown severity 'sev7'"),
        ("status resolved", "To resolve, use /incident resolve"),
        ("status sleeping", "Unknown status 'sleeping'. Expected one of: investigating"),
        ("role janitor", "Unknown role 'janitor'"),
        ("snooze soon", "expected a duration like 30s"),
        ("snooze 30d", "7 days at most"),
        ("update", "Say what you found"),
        ("note INC-4", "The note is empty"),
        ("ic someone", "is not a @mention"),
        ("probe http://evil/", "is not a probe or service name"),
        ("declare x --frob", "Unknown option --frob"),
    ],
)
def test_errors_say_what_was_expected(text: str, expected: str) -> None:
    with pytest.raises(UserError) as err:
        parse(text)
    assert expected in str(err.value)


def test_chat_cannot_name_a_dsn_or_shell() -> None:
    for bad in ("postgresql://u:p@h/db", "$(rm -rf /)", "a;b"):
        with pytest.raises(UserError):
            parse(f"probe {bad}")


def test_help_comes_from_the_table() -> None:
    text = g.help_text()
    for spec in g.SPECS.values():
        assert spec.usage in text
    assert g.help_text("sev").startswith("/incident sev [INC-n] <severity>")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_any_text_is_a_command_or_a_user_error(text: str) -> None:
    try:
        result = parse(text)
    except UserError as exc:
        assert str(exc)
    else:
        assert isinstance(result, c.Command)


WORDS = st.sampled_from(
    [*g.SPECS, "INC-1", "inc-99", "sev1", "p9", "--private", "--tag", '"', "'", ";", "@bob",
     "<@U1|x>", "30m", "identified", "scribe", "all", "\u201c", "\u201d", "x" * 50]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(WORDS, max_size=8).map(" ".join))
def test_fuzz_command_shaped_text(text: str) -> None:
    try:
        result = parse(text)
    except UserError as exc:
        assert str(exc)
    else:
        assert isinstance(result, c.Command)
