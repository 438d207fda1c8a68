"""`open_store` URL handling: which store, which path, and no password in any message."""

from __future__ import annotations

import pytest

from bot.storage import open_store
from bot.storage.dsn import redact, scrub, sqlite_path
from bot.storage.postgres import PostgresStore
from bot.storage.sqlite import SqliteStore


def test_sqlite_urls_follow_the_sqlalchemy_convention() -> None:
    assert sqlite_path("sqlite:///data/bot.db") == "data/bot.db"
    assert sqlite_path("sqlite:////var/lib/bot.db") == "/var/lib/bot.db"
    assert sqlite_path("sqlite:///:memory:") == ":memory:"
    store = open_store("sqlite:///data/bot.db")
    assert isinstance(store, SqliteStore)
    assert store.path == "data/bot.db"


@pytest.mark.parametrize("url", ["postgresql://u@h/db", "postgres://u:pw@h:5433/db"])
def test_postgres_urls(url: str) -> None:
    assert isinstance(open_store(url), PostgresStore)


@pytest.mark.parametrize(
    "url", ["mysql://root:hunter2@db/x", "hunter2", "sqlite://hunter2/x.db", "sqlite:///"]
)
def test_unknown_urls_name_the_expected_forms_without_the_password(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///.*postgresql://") as info:
        open_store(url)
    assert "hunter2" not in str(info.value)


def test_redact_and_scrub() -> None:
    url = "postgresql://bot:p%40ss@db.internal:5432/incidents?sslmode=require"
    assert redact(url) == "postgresql://bot:***@db.internal:5432/incidents?sslmode=require"
    assert redact("postgresql://bot@db/x") == "postgresql://bot@db/x"
    assert scrub("auth failed for p%40ss", url) == "auth failed for ***"


def test_scrub_removes_the_decoded_password_too() -> None:
    url = "postgresql://bot:p%40ss@db/x"
    assert scrub("password p@ss rejected", url) == "password *** rejected"
