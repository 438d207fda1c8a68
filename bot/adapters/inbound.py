"""What every chat adapter's inbound side shares, written once.

* `SeenOnce`: the local once-only guard for platform events (a replayed or redelivered
  event id is refused while this process lives; the store's request-id check covers other
  replicas and restarts).
* `Tasks` (bot/core/tasks.py, shared with the core's own background work): work started
  by a request (after the platform's ack), tracked so shutdown can drain it within a bound
  and cancel the rest.
* `ErrorBoundary`: the one place an adapter turns an unexpected failure into a log line
  with a reference id and a generic answer carrying the same id, so the on-call engineer
  can find the log line the user quotes. User errors are never logged as failures.

A new platform's package uses these three and adds only what its wire protocol needs.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from bot.core.messages import Reply
from bot.core.tasks import Tasks
from bot.errors import UserError

__all__ = ["GENERIC_ERROR", "ErrorBoundary", "SeenOnce", "Tasks", "generic"]

GENERIC_ERROR = "Something went wrong on our side; it has been logged (ref {ref}). Please retry."


class SeenOnce:
    """Remembers the newest `limit` keys; `first(key)` is True only the first time.

    An empty key is never remembered (an event without an id cannot be de-duplicated
    here and is always let through; the core's request id still applies)."""

    def __init__(self, limit: int = 10_000) -> None:
        if limit < 1:
            raise ValueError("SeenOnce needs room for at least one key")
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def first(self, key: str) -> bool:
        if not key:
            return True
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return True


class ErrorBoundary:
    """One adapter's error boundary. `event` names its log line (e.g.
    `slack.request_failed`); `detail(exc)` may add platform facts (an API error code) to
    it, and says whether a traceback helps (False for a platform's own API error)."""

    def __init__(
        self,
        logger: Any,
        event: str,
        detail: Callable[[Exception], tuple[dict[str, Any], bool]] | None = None,
    ) -> None:
        self._log = logger if logger is not None else structlog.get_logger("incidentbot")
        self._event = event
        self._detail = detail

    def failed(self, exc: Exception, **context: Any) -> Reply:
        """Logs `exc` with a new reference id and `context`; returns the generic answer
        carrying that id."""
        ref = uuid.uuid4().hex[:8]
        extra, trace = self._detail(exc) if self._detail is not None else ({}, True)
        self._log.error(
            self._event,
            exc_info=trace,
            ref=ref,
            error=f"{type(exc).__name__}: {exc}"[:300],
            **context,
            **extra,
        )
        return generic(ref)

    async def run(self, work: Awaitable[Reply], **context: Any) -> Reply:
        """Awaits `work`; a `UserError` becomes its error Reply, anything else `failed`."""
        try:
            return await work
        except UserError as exc:
            return Reply.error(str(exc))
        except Exception as exc:
            return self.failed(exc, **context)


def generic(ref: str) -> Reply:
    """The apology a user sees for a failure on our side, with the log's reference id."""
    return Reply.error(GENERIC_ERROR.format(ref=ref))
