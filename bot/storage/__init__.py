"""Durable storage: `open_store(url)` picks the `IncidentStore` a `DATABASE_URL` names."""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.core.ports import IncidentStore
from bot.storage.dsn import EXPECTED_FORMS, POSTGRES_SCHEMES, sqlite_path


def open_store(url: str) -> IncidentStore:
    """The store for `url`; nothing is connected until `migrate()` (or first use).

    `sqlite:///relative.db`, `sqlite:////absolute.db` or `sqlite:///:memory:` give a
    `SqliteStore`; `postgresql://…` / `postgres://…` give a `PostgresStore`.
    Raises ValueError naming the expected forms (never echoing a password).
    """
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    # Imported on demand: a SQLite deployment need not load the Postgres driver.
    if scheme == "sqlite":
        from bot.storage.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url))
    if scheme in POSTGRES_SCHEMES:
        from bot.storage.postgres import PostgresStore

        return PostgresStore(url)
    # Only the scheme is echoed: a malformed URL may hide a secret where we cannot see it.
    shown = f"scheme {scheme!r}" if scheme else "a URL without a scheme"
    raise ValueError(f"unsupported database URL ({shown}): expected {EXPECTED_FORMS}")


__all__ = ["open_store"]
