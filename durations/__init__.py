"""One grammar for durations (`500ms`, `30s`, `15m`, `2h`, `1d`, `1w`), for the bot and the
probes alike.

It stands alone, as a top-level package that imports only the standard library, because
`bot.core` may not import `probes` and `probes` may not import `bot`
(tests/unit/test_architecture.py), yet both must read a duration the same way. Each
context keeps its own accepted forms by options and its own messages by catching the two
errors below: `bot.core.policy.parse_duration` (commands and the YAML configuration) and
`probes.kind.parse_duration` (probe configuration).
"""

from __future__ import annotations

import re

MAX_SECONDS = 365 * 86400.0
"""The longest duration anything accepts: beyond it a typo, not a policy (and `timedelta`
arithmetic on a date would overflow)."""

_FORM = re.compile(r"^\s*(\d+)(\.\d+)?\s*([A-Za-z]+)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class NotADuration(ValueError):
    """The text is not a duration in the forms this context accepts."""


class TooLong(ValueError):
    """The duration is longer than `MAX_SECONDS` (or not finite)."""


def bounded(seconds: float) -> float:
    """`seconds` if it is at most `MAX_SECONDS`; `TooLong` otherwise (also for inf and NaN)."""
    if not seconds <= MAX_SECONDS:
        raise TooLong(seconds)
    return seconds


def parse_seconds(
    text: str,
    *,
    allow_ms: bool = False,
    allow_weeks: bool = False,
    allow_fraction: bool = False,
    allow_bare_number: bool = False,
    allow_zero: bool = False,
    ignore_case: bool = False,
    max_digits: int | None = None,
) -> float:
    """Seconds from `<number><unit>` (spaces around and between allowed), a unit being `s`,
    `m`, `h` or `d`, plus `ms` and `w` where allowed. Options widen the form: a decimal
    number, a bare number of seconds, zero, upper-case units; `max_digits` bounds the whole
    part. Raises `NotADuration` for any other text and `TooLong` beyond `MAX_SECONDS`."""
    m = _FORM.match(text)
    if m is None:
        raise NotADuration(text)
    whole, fraction, unit = m.groups()
    if unit is not None and ignore_case:
        unit = unit.lower()
    if (
        (fraction is not None and not allow_fraction)
        or (max_digits is not None and len(whole) > max_digits)
        or (unit is None and not allow_bare_number)
        or (unit is not None and unit not in _UNITS)
        or (unit == "ms" and not allow_ms)
        or (unit == "w" and not allow_weeks)
    ):
        raise NotADuration(text)
    seconds = float(whole + (fraction or "")) * (_UNITS[unit] if unit else 1.0)
    if seconds == 0 and not allow_zero:
        raise NotADuration(text)
    return bounded(seconds)
