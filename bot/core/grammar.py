"""The `/incident` command grammar: a text parser and help, both from one table.

`parse(text, lexicon)` turns what follows `/incident` (Slack text, a console line, a bot
mention) into a Command, or raises `UserError` saying what was expected. Discord builds
the same Command types from typed options. Any text yields one or the other, never
another exception (fuzzed in tests). `declare_form` recognises a title-less declare, which
an adapter that has forms answers with the declare form. The words themselves (quoting,
mentions, incident and severity tokens) are `bot.core.lexing`'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from bot.core.commands import (
    AddNote,
    AssignRole,
    Command,
    Declare,
    Help,
    ListIncidents,
    Postmortem,
    PostUpdate,
    Resolve,
    RunProbes,
    SetCommander,
    SetImpact,
    SetSeverity,
    SetStatus,
    ShowTimeline,
    Snooze,
)
from bot.core.lexing import (
    MAX_TEXT,
    QUOTES,
    declare_words,
    levels,
    parse_incident,
    parse_severity,
    person,
    raw_rest,
    shell_words,
)
from bot.core.messages import Modal, ModalKind
from bot.core.model import Role, Severity, Status
from bot.core.policy import parse_duration
from bot.errors import UserError

_SEVERITY_SHAPED = re.compile(r"^(?:sev|p|s)\d+$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Spec:
    """One subcommand: its usage line and summary (the help text) and its parser."""

    name: str
    usage: str
    summary: str
    parse: Callable[[list[str], str, Mapping[str, Severity]], Command]


def _take_incident(args: list[str]) -> tuple[int | None, list[str]]:
    if args and (n := parse_incident(args[0])) is not None:
        return n, args[1:]
    return None, args


def _need(cond: bool, usage: str, what: str) -> None:
    if not cond:
        raise UserError(f"{what}. Usage: /incident {usage}")


_VALUED = ("--tag", "--sev", "--severity", "--desc", "--description", "--impact")


def _declare(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    usage = SPECS["declare"].usage
    words: list[tuple[str, bool]] = []
    private = False
    tags: list[str] = []
    severity: Severity | None = None
    description = ""
    it = iter(declare_words(raw))
    for tok, quoted in it:
        if quoted:
            words.append((tok, quoted))
        elif tok in ("--private", "--security"):
            private = True
            if tok == "--security":
                tags.append("security")
        elif tok in _VALUED:
            val = next(it, None)
            _need(val is not None, usage, f"{tok} needs a value")
            assert val is not None
            if tok == "--tag":
                tags.append(val[0].lower())
            elif tok in ("--sev", "--severity"):
                severity = parse_severity(val[0], lex)
            else:
                description = val[0]
        elif tok.startswith("--"):
            raise UserError(f"Unknown option {tok}. Usage: /incident {usage}")
        else:
            words.append((tok, quoted))
    if severity is None and words:
        severity = _trailing_severity(words, lex)
    title = " ".join(w for w, _ in words).strip()
    if not title:
        raise UserError(f"A title is needed. Usage: /incident {usage}")
    _need(len(title) <= 200, usage, "The title is too long (200 characters at most)")
    if "security" in tags:
        private = True
    return Declare(title, severity, private, description, tuple(dict.fromkeys(tags)))


def _trailing_severity(
    words: list[tuple[str, bool]], lex: Mapping[str, Severity]
) -> Severity | None:
    """Takes a trailing severity off `words`. `sev1`/`p1`/`s1` always count (an unknown one
    is an error); a plain word such as `high` or `critical` counts only after a quoted
    title (`"Checkout errors" high`): `Checkout error rate high` is a title, not a SEV2."""
    last, quoted = words[-1]
    if quoted:
        return None
    if _SEVERITY_SHAPED.match(last):
        if last.lower() not in lex:
            raise UserError(
                f"Unknown severity {last!r}. Expected one of: {levels(lex)}. Nothing was created."
            )
    elif last.lower() not in lex or not (len(words) == 2 and words[0][1]):
        return None
    words.pop()
    return lex[last.lower()]


def _sev(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    inc, rest = _take_incident(args)
    _need(len(rest) == 1, SPECS["sev"].usage, "Give exactly one severity")
    return SetSeverity(inc, parse_severity(rest[0], lex))


def _ic(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    inc, rest = _take_incident(args)
    usage = SPECS["ic"].usage
    _need(len(rest) <= 1, usage, "Give at most one person")
    return SetCommander(inc, person(rest[0], usage) if rest else None)


def _role(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    inc, rest = _take_incident(args)
    usage = SPECS["role"].usage
    roles = ", ".join(r.value for r in Role)
    _need(1 <= len(rest) <= 2, usage, f"Name a role ({roles}) and optionally a person")
    try:
        role = Role(rest[0].lower())
    except ValueError:
        raise UserError(f"Unknown role {rest[0]!r}. Expected one of: {roles}.") from None
    return AssignRole(inc, role, person(rest[1], usage) if len(rest) == 2 else None)


_STATUSES = tuple(s for s in Status if s is not Status.RESOLVED)


def _status(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    inc, rest = _take_incident(args)
    names = "|".join(s.value for s in _STATUSES)
    _need(bool(rest), SPECS["status"].usage, f"Name a status ({names})")
    word = rest[0].lower()
    if word == Status.RESOLVED.value:
        raise UserError("To resolve, use /incident resolve [INC-n] [summary].")
    try:
        status = Status(word)
    except ValueError:
        raise UserError(f"Unknown status {rest[0]!r}. Expected one of: {names}.") from None
    return SetStatus(inc, status, _clip(raw_rest(raw, len(args) - len(rest) + 1)))


def _update(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    inc, rest = _take_incident(args)
    text = _clip(raw_rest(raw, len(args) - len(rest)))
    findings, _, actions = text.partition(";")
    _need(bool(findings.strip()), SPECS["update"].usage, "Say what you found")
    return PostUpdate(inc, findings.strip(), actions.strip())


def _note(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    inc, rest = _take_incident(args)
    text = _clip(raw_rest(raw, len(args) - len(rest)))
    _need(bool(text), SPECS["note"].usage, "The note is empty")
    return AddNote(inc, text)


_PROBE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _probe(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    inc, rest = _take_incident(args)
    for t in rest:
        # Chat only names configured probes or services: never a URL, host or DSN.
        _need(
            bool(_PROBE_NAME.match(t)),
            SPECS["probe"].usage,
            f"{t[:40]!r} is not a probe or service name",
        )
    return RunProbes(inc, tuple(rest))


_CAUSE = re.compile(r"(?:^|\s)--cause(?:\s+|$)")


def _resolve(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    inc, rest = _take_incident(args)
    text = raw_rest(raw, len(args) - len(rest))
    parts = _CAUSE.split(text, maxsplit=1)
    summary = raw_rest(parts[0], 0)
    cause = raw_rest(parts[1], 0) if len(parts) > 1 else ""
    _need(len(parts) == 1 or bool(cause), SPECS["resolve"].usage, "--cause needs a value")
    return Resolve(inc, _clip(summary), _clip(cause))


def _impact(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    inc, rest = _take_incident(args)
    text = _clip(raw_rest(raw, len(args) - len(rest)))
    _need(bool(text), SPECS["impact"].usage, "Say who is affected and how")
    return SetImpact(inc, text)


def _postmortem(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    inc, rest = _take_incident(args)
    return Postmortem(inc, _clip(raw_rest(raw, len(args) - len(rest))))


def _snooze(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    inc, rest = _take_incident(args)
    usage = SPECS["snooze"].usage
    _need(len(rest) == 1, usage, "Give one duration like 30m or 1h")
    try:
        duration = parse_duration(rest[0])
    except ValueError as exc:
        raise UserError(f"{exc}. Usage: /incident {usage}") from None
    _need(duration <= timedelta(days=7), usage, "Snooze for 7 days at most")
    return Snooze(inc, duration)


def _timeline(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    inc, rest = _take_incident(args)
    _need(not rest, SPECS["timeline"].usage, "Unexpected words after the incident")
    return ShowTimeline(inc)


def _list(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    usage = SPECS["list"].usage
    severity: Severity | None = None
    page = 1
    it = iter(args)
    for tok in it:
        if tok.lower() in ("--page", "page"):
            val = next(it, "")
            _need(val.isdigit() and 0 < len(val) <= 6 and int(val) > 0, usage, "Give a page number")
            page = int(val)
        elif severity is None and tok.lower() in lex:
            severity = lex[tok.lower()]
        else:
            raise UserError(f"Unexpected {tok[:40]!r}. Usage: /incident {usage}")
    return ListIncidents(severity, page)


def _help(args: list[str], raw: str, lex: Mapping[str, Severity]) -> Command:
    return Help(args[0].lower() if args else "")


def _clip(text: str) -> str:
    return text[:MAX_TEXT]


SPECS: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec(
            "declare",
            'declare <title> [sevN] [--sev <severity>] [--impact "<text>"] [--private]'
            " [--tag <tag>]",
            "Open an incident, announce it, open its thread, page per severity, start the cadence.",
            _declare,
        ),
        Spec("sev", "sev [INC-n] <severity>", "Change the severity (cadence follows).", _sev),
        Spec("ic", "ic [INC-n] [@user]", "Designate the incident commander (you by default).", _ic),
        Spec("role", "role [INC-n] <scribe|comms> [@user]", "Assign a response role.", _role),
        Spec(
            "status",
            "status [INC-n] <investigating|identified|mitigating|monitoring> [note]",
            "Move the status; drafts the status-page text for SEV1/SEV2.",
            _status,
        ),
        Spec(
            "update",
            "update [INC-n] <findings> [; actions]",
            "Post the IC update; resets the reminder clock.",
            _update,
        ),
        Spec("note", "note [INC-n] <text>", "Add a timestamped timeline entry.", _note),
        Spec(
            "probe",
            "probe [INC-n] [name|service|all …]",
            "Run diagnostic probes; results go to the incident thread.",
            _probe,
        ),
        Spec(
            "impact",
            "impact [INC-n] <who is affected and how>",
            "State the impact (announcements and status-page drafts use it).",
            _impact,
        ),
        Spec(
            "resolve",
            "resolve [INC-n] [summary] [--cause <root cause>]",
            "Resolve; stops reminders and schedules the post-mortem.",
            _resolve,
        ),
        Spec(
            "postmortem",
            "postmortem [INC-n] [link]",
            "Post the post-mortem draft, or attach the finished one by link.",
            _postmortem,
        ),
        Spec(
            "snooze", "snooze [INC-n] <30m|1h|…>", "Delay the next update reminder once.", _snooze
        ),
        Spec("timeline", "timeline [INC-n]", "Show the timeline.", _timeline),
        Spec(
            "list",
            "list [severity] [--page N]",
            "List open incidents, newest first (20 a page).",
            _list,
        ),
        Spec("help", "help [command]", "Show this help.", _help),
    )
}

ALIASES = {"severity": "sev", "commander": "ic", "pm": "postmortem", "ls": "list", "?": "help"}


def parse(text: str, lexicon: Mapping[str, Severity]) -> Command:
    """Parses the words after `/incident`. Raises `UserError` saying what was expected."""
    raw = text.translate(QUOTES).strip()
    if raw.lower().startswith("/incident"):
        raw = raw[len("/incident") :].strip()
    if len(raw) > MAX_TEXT + 200:
        raise UserError(f"That command is too long ({len(raw)} characters).")
    tokens = shell_words(raw)
    if not tokens:
        return Help()
    name = ALIASES.get(tokens[0].lower(), tokens[0].lower())
    spec = SPECS.get(name)
    if spec is None:
        raise UserError(
            f"Unknown command {tokens[0][:40]!r}. Expected one of: {', '.join(SPECS)}."
            " Try /incident help."
        )
    # The text after the command word, quotes intact: free-text parsers strip them
    # themselves (`raw_rest`), and `declare` must see which words were quoted.
    after = raw.split(None, 1)
    return spec.parse(tokens[1:], after[1] if len(after) > 1 else "", lexicon)


def help_text(topic: str = "") -> str:
    """Help, from the command table itself."""
    topic = ALIASES.get(topic, topic)
    if topic in SPECS:
        s = SPECS[topic]
        return f"/incident {s.usage}\n  {s.summary}"
    lines = ["Usage: /incident <command> …"]
    lines += [f"  /incident {s.usage}\n      {s.summary}" for s in SPECS.values()]
    lines.append("Severity: SEV1–SEV4 (aliases like p1, s2, critical, high, low; a plain word")
    lines.append("such as high counts after a quoted title or as --sev high). INC-n is optional")
    lines.append("inside an incident's thread or when it is the only open one in the channel.")
    return "\n".join(lines)


def declare_form(text: str, lexicon: Mapping[str, Severity]) -> Modal | None:
    """The declare form for `declare` or `declare <severity>` (no title); None for any
    other line (a titled declare is parsed as usual)."""
    words = text.lower().split()
    if not words or words[0] != "declare" or len(words) > 2:
        return None
    if len(words) == 1:
        return Modal(ModalKind.DECLARE)
    severity = lexicon.get(words[1])
    return Modal(ModalKind.DECLARE, prefill={"severity": severity.value}) if severity else None
