"""The words of the `/incident` command language: lexing and the token parsers.

What `bot.core.grammar`'s per-command parsers are built from: shell-like words, the strict
quoted words `declare` reads, free-text remainders, and the tokens that name a person, an
incident or a severity. Each parser returns a value or raises `UserError`; none raises
anything else.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from bot.core.model import Actor, Severity
from bot.errors import UserError

_INCIDENT = re.compile(r"^(?:inc-?|#)(\d{1,9})$", re.IGNORECASE)
_MENTION = re.compile(r"^<@!?([A-Za-z0-9_.-]+)(?:\|([^>]*))?>$")
_AT_NAME = re.compile(r"^@([A-Za-z0-9_.-]{1,80})$")
QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})
MAX_TEXT = 3000


def shell_words(text: str) -> list[str]:
    """Shell-like words (quotes group a title); a lone apostrophe (`can't`) is just a letter."""
    try:
        return shlex.split(text, posix=True)
    except ValueError:  # unbalanced quotes: read the words literally rather than refuse
        return text.split()


def declare_words(text: str) -> list[tuple[str, bool]]:
    """Strict words for `declare`: `(word, was_quoted)`. A quote opens only at the start of a
    word (so `can't` is a letter) and must close: an unclosed one is a `UserError`, since
    guessing where a title ends is how `"Unclosed quote sev1` became a SEV1."""
    out: list[tuple[str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        word, quoted = "", False
        while i < n and not text[i].isspace():
            q = text[i]
            if q in "\"'" and (i == 0 or text[i - 1].isspace() or quoted):
                end = text.find(q, i + 1)
                if end < 0:
                    raise UserError(
                        f"Unclosed quote {q} in {text[i : i + 40]!r}: close it, or leave the"
                        " quotes out. Nothing was created."
                    )
                word, quoted, i = word + text[i + 1 : end], True, end + 1
            else:
                word, i = word + q, i + 1
        out.append((word, quoted))
    return out


def raw_rest(text: str, n: int) -> str:
    """Free text: `text` without its first `n` words, spacing kept, one pair of
    enclosing quotes removed."""
    rest = text.strip()
    for _ in range(n):
        parts = rest.split(None, 1)
        rest = parts[1] if len(parts) > 1 else ""
    rest = rest.strip()
    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "\"'":
        rest = rest[1:-1].strip()
    return rest


def parse_user(token: str) -> Actor | None:
    """`<@U123>`, `<@U123|alice>`, `<@!123>` or `@alice` -> Actor; anything else None."""
    m = _MENTION.match(token)
    if m:
        return Actor(m.group(1), m.group(2) or "")
    m = _AT_NAME.match(token)
    if m:
        return Actor(m.group(1), m.group(1))
    return None


# What can never hold a role (SPEC §7): everyone-style mentions, Slack's special and
# user-group syntax (`<!here>`, `<!subteam^S1|@sre>`) and Discord roles (`<@&1>`).
_NOT_A_PERSON = re.compile(r"^(?:@?(?:here|channel|everyone|group)|<[!#].*|<@&.*)$", re.IGNORECASE)


def person(token: str, usage: str) -> Actor:
    """The one person `token` names, or a UserError saying a person is expected."""
    if _NOT_A_PERSON.match(token):
        raise UserError(
            f"{token[:40]!r} is not a person: the IC and roles go to one person (@user),"
            f" not @here, @channel, @everyone, a user group or a role. Usage: /incident {usage}"
        )
    user = parse_user(token)
    if user is None:
        raise UserError(f"{token[:40]!r} is not a @mention. Usage: /incident {usage}")
    return user


def parse_incident(token: str) -> int | None:
    m = _INCIDENT.match(token)
    return int(m.group(1)) if m else None


def parse_severity(token: str, lexicon: Mapping[str, Severity]) -> Severity:
    sev = lexicon.get(token.lower())
    if sev is None:
        raise UserError(f"Unknown severity {token!r}. Expected one of: {levels(lexicon)}.")
    return sev


def levels(lexicon: Mapping[str, Severity]) -> str:
    return ", ".join(sorted({s.value for s in lexicon.values()}))


# --------------------------------------------------------------------------- parsers
