"""`Change.request` comes with the time it was handled, so stores never guess it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.records import Change


def test_a_request_key_without_its_time_is_refused() -> None:
    with pytest.raises(ValueError, match="'slack:e9' given without request_at"):
        Change(request="slack:e9")


def test_a_request_key_with_its_time_and_a_change_without_a_key_are_accepted() -> None:
    at = datetime(2024, 5, 1, tzinfo=UTC)
    assert Change(request="slack:e9", request_at=at).request_at == at
    assert Change().request is None
