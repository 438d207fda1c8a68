"""Database URLs: which store a URL names, and how to show it without its password."""

from __future__ import annotations

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


__all__ = [
    "EXPECTED_FORMS",
    "POSTGRES_SCHEMES",
    "SQLITE_PREFIX",
    "redact",
    "scrub",
    "sqlite_path",
]
