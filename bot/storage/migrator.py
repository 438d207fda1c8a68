"""The schema migrations shipped as package data: `migrations/<dialect>_<NNNN>_<name>.sql`.

Each store applies, in one transaction, the files whose number is above the highest
version recorded in its `schema_version` table, and records each one there.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib.resources import files

_NAME = re.compile(r"^(?P<dialect>[a-z]+)_(?P<version>\d{4})_(?P<name>\w+)\.sql$")

SCHEMA_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(dialect: str) -> list[Migration]:
    """The migrations for `dialect` (`sqlite` or `postgres`), oldest first."""
    found: list[Migration] = []
    for entry in files("bot.storage").joinpath("migrations").iterdir():
        m = _NAME.match(entry.name)
        if m and m["dialect"] == dialect:
            found.append(Migration(int(m["version"]), m["name"], entry.read_text("utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate {dialect} migration numbers: {versions}")
    return found


def sqlite_statements(script: str) -> list[str]:
    """`script` split into complete statements (so they can run inside our own transaction;
    `executescript` would commit first). Uses SQLite's own notion of a complete statement."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            if _has_code(statement):
                statements.append(statement)
            buffer = ""
    if _has_code(buffer):
        raise ValueError(f"incomplete SQL statement at end of migration: {buffer.strip()[:80]!r}")
    return statements


def _has_code(sql: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in sql.splitlines())


__all__ = [
    "SCHEMA_VERSION_TABLE",
    "Migration",
    "migrations",
    "sqlite_statements",
]
