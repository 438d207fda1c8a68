"""Keeps credentials and data literals out of everything a probe run shows.

Two layers, because regexes alone leave half of a password containing ``@`` or ``:``:

1. `Redactor(secrets)` scrubs every *known* secret value (passwords and tokens taken from
   the configuration, see `ProbeConfig.secrets`) from any text, wherever it appears.
2. Pattern rules for what we cannot know in advance: URL user-info passwords
   (``scheme://user:***@host``), secret-looking query parameters (``?token=***``) and
   libpq ``password=…`` key/value pairs.

Plus data masking for diagnostic text: `mask_sql` replaces string and numeric literals in
SQL with ``?``; `redis_command` shows a slowlog entry as command, first key and arg count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from urllib.parse import quote

from probes.base import ProbeResult
from probes.kind import SECRET_PARAMS

MASK = "***"


def sent_fragments(send: str) -> list[str]:
    """`send` as a whole and line by line, trimmed: the forms an echo can show it in."""
    lines = [line.strip() for line in send.splitlines()]
    return list(dict.fromkeys(f for f in [send, send.strip(), *lines] if f))


# scheme://user:password@  – the password runs to the LAST '@' before the path, so a
# password containing '@' or ':' is masked whole.
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/?#@\s]*):(?P<pw>[^/?#\s]*)@"
)
_QUERY = re.compile(
    r"(?P<k>[?&;](?:" + "|".join(sorted(SECRET_PARAMS)) + r"))=(?P<v>[^&#\s'\"]*)",
    re.IGNORECASE,
)
_KEYVALUE = re.compile(
    r"\b(?P<k>password|passwd|pwd|sslpassword|requirepass|masterauth)\s*[=:]\s*"
    r"(?P<v>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s,;&)'\"]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(?P<k>Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
# A line-protocol command carrying a credential (Redis/SMTP AUTH, POP3 PASS, IMAP LOGIN):
# everything after the word, to the end of the line.
_AUTH_COMMAND = re.compile(
    r"\b(?P<k>AUTH|AUTHENTICATE|LOGIN|PASS|PASSWORD|PASSWD)\b[ \t]+[^\r\n]+", re.IGNORECASE
)


def redact_text(text: str) -> str:
    """Applies the pattern rules (layer 2) to `text`."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _QUERY.sub(lambda m: f"{m['k']}={MASK}", text)
    text = _KEYVALUE.sub(lambda m: f"{m['k']}={MASK}", text)
    return _BEARER.sub(lambda m: f"{m['k']} {MASK}", text)


def mask_echo(received: str, sent: str | None) -> str:
    """What a server sent back, safe to show: every line of what we `sent` it (an echo)
    replaced by `***`, and anything after an AUTH/LOGIN/PASS-like word masked too (a
    server may quote a credential it got from elsewhere)."""
    if sent:
        for fragment in sorted(sent_fragments(sent), key=len, reverse=True):
            received = received.replace(fragment, MASK)
    return _AUTH_COMMAND.sub(lambda m: f"{m['k']} {MASK}", received)


class Redactor:
    """Scrubs known secret values, then applies the pattern rules.

    Secrets shorter than 4 characters are still masked (a short password is still a
    password); empty strings are ignored.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        for s in list(self._secrets):
            # URL-encoded forms appear in URLs that libraries print back.
            for enc in (quote(s, safe=""), quote(s)):
                if enc != s and enc not in self._secrets:
                    self._secrets.append(enc)
        self._secrets.sort(key=len, reverse=True)

    def text(self, text: str) -> str:
        for s in self._secrets:
            if s in text:
                text = text.replace(s, MASK)
        return redact_text(text)

    def result(self, result: ProbeResult) -> ProbeResult:
        return replace(
            result,
            summary=self.text(result.summary),
            details=[self.text(d) for d in result.details],
        )


# ---------------------------------------------------------------------------- SQL text

_SQL_LITERAL = re.compile(
    r"""
      (?P<dollar>\$(?P<tag>[A-Za-z_]\w*)?\$.*?(?:\$(?P=tag)?\$|$))   # $$…$$ / $tag$…$tag$
    | (?P<str>[EeBbXxNn]?'(?:[^']|'')*'?)                           # '…' incl. '' escapes
    | (?P<param>\$\d+)                                              # $1 – keep
    | (?P<ident>"(?:[^"]|"")*"?|[A-Za-z_][\w$]*)                     # identifiers – keep
    | (?P<num>(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)   # numbers
    """,
    re.VERBOSE | re.DOTALL,
)


def mask_sql(query: str, limit: int = 120) -> str:
    """Masks string, dollar-quoted and numeric literals with `?`, squeezes whitespace and
    truncates to `limit` characters. An unterminated literal (server-side truncation) is
    masked to the end."""

    def sub(m: re.Match[str]) -> str:
        if m.group("param") or m.group("ident"):
            return m.group(0)
        return "?"

    masked = " ".join(_SQL_LITERAL.sub(sub, query).split())
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"


# ---------------------------------------------------------------------------- Redis argv

# Commands whose second word is a subcommand, not a key.
_CONTAINERS = frozenset(
    {"CONFIG", "CLIENT", "SLOWLOG", "ACL", "DEBUG", "MEMORY", "OBJECT", "XINFO", "FUNCTION",
     "SCRIPT", "CLUSTER", "COMMAND", "LATENCY", "MODULE", "PUBSUB", "XGROUP"}
)  # fmt: skip
# Commands whose arguments are never shown (credentials, scripts).
_OPAQUE = frozenset(
    {"AUTH", "HELLO", "MIGRATE", "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"}
)


def redis_command(args: Sequence[bytes | str]) -> str:
    """A slowlog argv as ``SET user:1 … (3 args)``: name, first key (≤ 40 chars), count.

    Values are never shown (Redis logs them verbatim); for AUTH, HELLO, EVAL and the like
    only the name and the count.
    """
    words = [a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in args]
    if not words:
        return "(empty)"
    name = words[0].upper()
    count = f"({len(words)} args)"
    if name in _OPAQUE or len(words) == 1:
        return f"{name} {count}"
    second = words[1]
    if name in _CONTAINERS:
        return f"{name} {second.upper()[:20]} {count}"
    key = second if len(second) <= 40 else second[:39] + "…"
    return f"{name} {key} … {count}" if len(words) > 2 else f"{name} {key} {count}"
