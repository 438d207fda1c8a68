"""Pure parts of the retry machinery: backoff, Retry-After, redaction, error details."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.messages import Message, Notice, NoticeKind
from bot.core.model import Severity
from bot.errors import DeliveryRejected
from bot.log import Redactor
from bot.paging.event import OPSGENIE_PRIORITY, PAGERDUTY_SEVERITY, page_action, truncate
from bot.paging.retry import (
    RetryPolicy,
    describe_response,
    parse_retry_after,
    rate_limit_wait,
)

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


@given(retry=st.integers(1, 30), rand=st.floats(0, 1, exclude_max=True))
def test_backoff_is_jittered_within_half_and_full_ceiling(retry: int, rand: float) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
    ceiling = min(8.0, 0.5 * 2 ** (retry - 1))
    assert ceiling / 2 <= policy.backoff(retry, rand) <= ceiling


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="attempt_timeout"):
        RetryPolicy(attempt_timeout=0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("Tue, 04 Mar 2025 05:07:07 GMT", 60.0),
        ("Tue, 04 Mar 2025 05:00:00 GMT", 0.0),
        ("soon", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_rate_limit_reset_header_is_used_when_retry_after_is_absent() -> None:
    reset = str(int(NOW.timestamp()) + 42)
    limited = httpx.Response(
        403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    )
    assert rate_limit_wait(limited, NOW) == 42.0
    not_limited = httpx.Response(
        403, headers={"x-ratelimit-remaining": "9", "x-ratelimit-reset": reset}
    )
    assert rate_limit_wait(not_limited, NOW) is None


def test_redactor_masks_longest_secret_first_and_ignores_tiny_ones() -> None:
    redact = Redactor(["abcd", "abcdefgh", "ab"])
    assert redact("key abcdefgh and abcd and ab") == "key *** and *** and ab"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"status":"invalid event","message":"Event object is invalid","errors":["x"]}',
         "Event object is invalid: x"),
        (b'{"message":"Validation Failed","errors":[{"field":"title"}]}',
         'Validation Failed: {"field": "title"}'),
        (b"<html>\n  Bad   gateway </html>", "<html> Bad gateway </html>"),
        (b"", "(empty body)"),
        (b"x" * 1000, "x" * 299 + "…"),
    ],
)  # fmt: skip
def test_describe_response(body: bytes, expected: str) -> None:
    assert describe_response(httpx.Response(400, content=body)) == expected


def test_page_action_rejects_missing_action() -> None:
    notice = Notice(
        incident=1, platform="console", kind=NoticeKind.PAGE, message=Message(title="t")
    )
    with pytest.raises(DeliveryRejected, match="action ''"):
        page_action(notice)


def test_every_severity_has_a_mapping() -> None:
    assert set(PAGERDUTY_SEVERITY) == set(Severity) == set(OPSGENIE_PRIORITY)


def test_truncate() -> None:
    assert truncate("abc", 3) == "abc"
    assert truncate("abcd", 3) == "ab…"
