"""The SQL both stores share, written once with named parameters (`:name`).

`bind(sql, dialect, params)` renders a statement for one driver: SQLite takes `?` in
order (a name used twice is passed twice), asyncpg takes `$n` (a name used twice is the
same `$n`). What truly differs per engine (number allocation, claims, batch writes) lives
in `sqlite.py` and `postgres.py`, written in the same named style.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from typing import Literal

from bot.core.model import Incident, Severity
from bot.storage import codec
from bot.storage.codec import INCIDENT_COLUMNS, TimeCodec

Dialect = Literal["sqlite", "postgres"]

# A string literal (skipped, so `'12:30'` stays text) or a `:name` that is not the second
# colon of a `::type` cast.
_TOKEN = re.compile(r"'(?:[^']|'')*'|(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=256)
def render(sql: str, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    """`sql` with each `:name` replaced by `dialect`'s placeholder, and the names in the
    order the driver takes its arguments."""
    order: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if dialect == "sqlite":
            order.append(name)
            return "?"
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    return _TOKEN.sub(placeholder, sql), tuple(order)


def bind(
    sql: str, dialect: Dialect, params: Mapping[str, object]
) -> tuple[str, tuple[object, ...]]:
    """The driver's text for `sql` and its arguments taken from `params` by name.

    Raises ValueError for a name `sql` uses that `params` lacks, or one it never uses
    (a typo would otherwise bind NULL or be dropped silently)."""
    text, names = render(sql, dialect)
    missing = sorted(set(names) - params.keys())
    unused = sorted(params.keys() - set(names))
    if missing or unused:
        raise ValueError(f"SQL parameters do not match: missing {missing}, unused {unused}")
    return text, tuple(params[n] for n in names)


# ---------------------------------------------------------------------- incidents

_COLS = ", ".join(INCIDENT_COLUMNS)
_VALUES = ", ".join(f":{c}" for c in INCIDENT_COLUMNS)

SELECT_INCIDENT = f"SELECT number, version, {_COLS} FROM incidents"
GET_INCIDENT = f"{SELECT_INCIDENT} WHERE number = :number"
FIND_BY_THREAD = (
    f"{SELECT_INCIDENT} WHERE thread_platform = :platform AND thread_id = :thread"
    " ORDER BY number DESC LIMIT 1"
)
UPDATE_INCIDENT = (
    "UPDATE incidents SET version = version + 1, "
    f"{', '.join(f'{c} = :{c}' for c in INCIDENT_COLUMNS)} "
    "WHERE number = :number AND version = :version RETURNING version"
)
SET_THREAD = (
    "UPDATE incidents SET thread_platform = :platform, thread_channel = :channel,"
    " thread_id = :thread, version = version + 1 WHERE number = :number"
)
COUNT_OPEN = (
    "SELECT severity, count(*) AS n FROM incidents WHERE status <> 'resolved' GROUP BY severity"
)
TIMELINE = "SELECT at, kind, text, actor FROM timeline WHERE incident = :incident ORDER BY at, id"


def insert_incident(number: str, *, prefix: str = "") -> str:
    """The INSERT of a new incident (version 1) whose number is the SQL `number`, after an
    optional `prefix` (a CTE); returns the number."""
    return (
        f"{prefix}INSERT INTO incidents (number, version, {_COLS})"
        f" VALUES (({number}), 1, {_VALUES}) RETURNING number"
    )


def incident_params(incident: Incident, tc: TimeCodec) -> dict[str, object]:
    """`incident`'s values by column name, for `insert_incident` and `UPDATE_INCIDENT`."""
    return dict(zip(INCIDENT_COLUMNS, codec.incident_values(incident, tc), strict=True))


def listing(
    open_only: bool, severity: Severity | None, private: bool | None, *, count: bool
) -> tuple[str, dict[str, object]]:
    """The incident listing (newest first, `:limit`/`:offset` to bind) or, with `count`,
    its size; and the filter's parameters."""
    conds: list[str] = ["status <> 'resolved'"] if open_only else []
    params: dict[str, object] = {}
    if severity is not None:
        conds.append("severity = :severity")
        params["severity"] = severity.value
    if private is not None:
        conds.append("private = :private")
        params["private"] = private
    where = "WHERE " + " AND ".join(conds) if conds else ""
    if count:
        return f"SELECT count(*) AS n FROM incidents {where}", params
    return f"{SELECT_INCIDENT} {where} ORDER BY number DESC LIMIT :limit OFFSET :offset", params


# ---------------------------------------------------------------------- timers and outbox

NEXT_DUE_AT = "SELECT min(ready_at) AS at FROM timers"
RELEASE_TIMERS = (
    "UPDATE timers SET claim_owner = NULL, claim_until = NULL, ready_at = due_at"
    " WHERE claim_owner = :owner"
)
RELEASE_NOTICES = (
    "UPDATE notices SET claim_owner = NULL, claim_until = NULL, ready_at = next_attempt_at"
    " WHERE claim_owner = :owner"
)
NOTICE_DELIVERED = "DELETE FROM notices WHERE id = :id"
NOTICE_FAILED = (
    "UPDATE notices SET attempts = attempts + 1, next_attempt_at = :retry_at,"
    " ready_at = :retry_at, claim_owner = NULL, claim_until = NULL, last_error = :error"
    " WHERE id = :id"
)
# A dead notice is also never ready again (`ready_at` = NEVER), so a claim need not test
# `failed_at` on the notice it claims (PostgreSQL plans that test badly on a table whose
# statistics lag a sudden backlog: a hash anti-join over the whole outbox).
NOTICE_DEAD = (
    "UPDATE notices SET attempts = attempts + 1, failed_at = :at, ready_at = :never,"
    " claim_owner = NULL, claim_until = NULL, last_error = :error WHERE id = :id"
)
DEAD_NOTICES = (
    f"SELECT {codec.NOTICE_CLAIM_COLUMNS} FROM notices"
    " WHERE incident = :incident AND failed_at IS NOT NULL ORDER BY id"
)
# A notice's last error is kept for people to read; a pager's whole error page is not.
ERROR_LIMIT = 2000

# The head of each pending lane: an incident's chat notices in order, and its pages in one
# lane per pager (`channel` names the pager), so a pager outage never holds up the thread
# (nor the "paging failed" alarm posted there) nor any other pager. Dead notices are out.
# Each engine writes the test its planner does best; both select the same rows.

# ---------------------------------------------------------------------- idempotency

# Returns a row only when the key is new.
RECORD_KEY = (
    "INSERT INTO seen_keys (key, seen_at) VALUES (:key, :at)"
    " ON CONFLICT (key) DO NOTHING RETURNING key"
)
PRUNE_KEYS = "DELETE FROM seen_keys WHERE seen_at < :before"
# Redeliveries come within minutes; a day of keys is plenty, pruned at most hourly.
PRUNE_EVERY = timedelta(hours=1)
KEEP_KEYS = timedelta(days=1)


__all__ = [
    "COUNT_OPEN",
    "DEAD_NOTICES",
    "ERROR_LIMIT",
    "FIND_BY_THREAD",
    "GET_INCIDENT",
    "KEEP_KEYS",
    "NEXT_DUE_AT",
    "NOTICE_DEAD",
    "NOTICE_DELIVERED",
    "NOTICE_FAILED",
    "PRUNE_EVERY",
    "PRUNE_KEYS",
    "RECORD_KEY",
    "RELEASE_NOTICES",
    "RELEASE_TIMERS",
    "SELECT_INCIDENT",
    "SET_THREAD",
    "TIMELINE",
    "UPDATE_INCIDENT",
    "Dialect",
    "bind",
    "incident_params",
    "insert_incident",
    "listing",
    "render",
]
