"""Durations have a ceiling (365 d): anything longer is a typo, and `timedelta` arithmetic on
it would overflow (OverflowError escaped the snooze parser and the configuration loader)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import grammar as g
from bot.core.policy import MAX_DURATION, Policy, parse_duration
from bot.errors import UserError
from probes.config import parse_duration as probe_seconds


def test_the_ceiling_is_365_days_in_every_unit() -> None:
    assert parse_duration("365d") == MAX_DURATION == timedelta(days=365)
    assert parse_duration("52w") == timedelta(weeks=52)
    assert parse_duration("31536000s") == MAX_DURATION
    for text in ("366d", "53w", "31536001s", "8761h", "99999999999w"):
        with pytest.raises(ValueError, match=r"at most 365d, got '"):
            parse_duration(text)


def test_absurdly_long_numbers_are_refused_not_computed() -> None:
    with pytest.raises(ValueError, match="expected a duration like 30s"):
        parse_duration("9" * 5000 + "s")


@given(st.integers(min_value=0, max_value=10**30), st.sampled_from("smhdwSMHDW"))
def test_any_number_and_unit_gives_a_usable_duration_or_a_value_error(n: int, unit: str) -> None:
    try:
        d = parse_duration(f"{n}{unit}")
    except ValueError:
        return
    assert timedelta(0) < d <= MAX_DURATION
    assert datetime(2100, 1, 1, tzinfo=UTC) + d > datetime(2100, 1, 1, tzinfo=UTC)


def test_snooze_with_an_overflowing_duration_is_a_clear_user_error() -> None:
    with pytest.raises(UserError, match=r"at most 365d, got '99999999999w'\. Usage"):
        g.parse("/incident snooze INC-1 99999999999w", Policy().aliases())


@pytest.mark.parametrize("value", ["99999999999d", float("inf"), float("nan"), 1e300, "400d"])
def test_probe_durations_have_the_same_ceiling(value: object) -> None:
    with pytest.raises(ValueError, match="at most 365d"):
        probe_seconds(value)
    assert probe_seconds("365d") == MAX_DURATION.total_seconds()
