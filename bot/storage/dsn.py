"""Database URLs: which store a URL names, where the default one lives, and how to show a
URL without its password."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")
EXPECTED_FORMS = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db or postgresql://user@host/db"
)


def redact(url: str) -> str:
    """`url` with any password replaced by `***`; safe for logs and error messages.

    Unparseable input is reduced to its scheme, since it may hold a secret we cannot find.
    """
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        scheme = url.split(":", 1)[0] if ":" in url else "?"
        return f"{scheme}://***"


def scrub(text: str, url: str) -> str:
    """`text` (e.g. a driver's error message) with the password of `url` removed."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        # Drivers may quote the password as given or percent-decoded.
        for form in {password, unquote(password)}:
            text = text.replace(form, "***")
    return text


def sqlite_path(url: str) -> str:
    """The file named by a `sqlite:///…` URL (SQLAlchemy's convention).

    `sqlite:///data/bot.db` is relative to the working directory, `sqlite:////var/lib/bot.db`
    is absolute, and `sqlite:///:memory:` is a private in-memory database.
    Raises ValueError for anything else.
    """
    if not url.startswith(SQLITE_PREFIX) or len(url) == len(SQLITE_PREFIX):
        raise ValueError(f"malformed sqlite URL: expected {EXPECTED_FORMS}")
    path = url[len(SQLITE_PREFIX) :]
    if path != ":memory:":
        path = str(Path(path))
    return path


DEFAULT_DB_NAME = "incidentbot.sqlite3"
_CHECKOUT = Path(__file__).resolve().parents[2]


def default_data_dir() -> Path:
    """Where the default SQLite store lives when neither DATABASE_URL nor
    INCIDENTBOT_DATA_DIR says: `data/` of the source checkout the bot runs from (what
    `./scripts/run` installs), whatever the current directory; for an installed package,
    `$XDG_DATA_HOME/incidentbot` (default `~/.local/share/incidentbot`). Always absolute,
    so `cd /tmp && incidentbot report INC-1` reads the same database the bot wrote."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "bot" / "__init__.py").is_file():
        return _CHECKOUT / "data"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "incidentbot"


def describe(url: str) -> str:
    """The store `url` names, for people: `SQLite /abs/path.sqlite3` or
    `PostgreSQL postgresql://user:***@host/db` (never a password)."""
    if url.startswith(SQLITE_PREFIX):
        try:
            path = sqlite_path(url)
        except ValueError:
            return redact(url)
        return f"SQLite {path if path == ':memory:' else Path(path).resolve()}"
    return f"PostgreSQL {redact(url)}"


__all__ = [
    "DEFAULT_DB_NAME",
    "EXPECTED_FORMS",
    "POSTGRES_SCHEMES",
    "SQLITE_PREFIX",
    "default_data_dir",
    "describe",
    "redact",
    "scrub",
    "sqlite_path",
]
