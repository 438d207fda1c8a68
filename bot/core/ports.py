"""The core's ports: small Protocols that storage, platforms, pagers and probes implement.

The values they carry (`Change`, `Timer`, `ProbeReport`, …) are in `bot.core.records`.

Every implementation is a real class; tests use real ones too (SQLite/PostgreSQL stores,
a `FakeClock`, a recording notifier), never mocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.messages import Notice
from bot.core.model import ChannelRef, Incident, Severity, TimelineEntry
from bot.core.records import Change, ProbeReport, Timer

# --------------------------------------------------------------------------- clock


class Clock(Protocol):
    """Where time comes from. `sleep_until` returns once `now() >= when`."""

    def now(self) -> datetime: ...

    async def sleep_until(self, when: datetime) -> None: ...


# --------------------------------------------------------------------------- store


class IncidentStore(Protocol):
    """Durable state: incidents, timelines, timers (due reminders) and the outbox.

    Contract (enforced by tests/contract/store_contract.py against every store):
    * `create` assigns the next incident number, unique and gap-free even under
      concurrent callers, and returns the incident with `version == 1`.
    * `commit` succeeds only if the stored version equals `incident.version`; it writes
      the incident with `version + 1` together with the whole `Change`, atomically, and
      raises `ConflictError` otherwise (nothing written).
    * `claim_due` hands each due timer to one owner at a time: a claimed timer is not
      handed out again until its lease expires (then another owner may take it over).
    * `claim_notices` returns, per lane, only the oldest pending notice, and only once its
      retry time has come. The lanes: an incident's chat notices (in order), and for each
      pager (`notice.channel` of a PAGE notice) that incident's pages to it (in order). A
      failing pager never holds up the thread, nor another pager, nor another incident.
    * `notice_dead` gives a notice up for good (a pager refused it): it is never claimed
      again, no longer holds up its lane, and is listed by `dead_notices` with its error.
    * times are timezone-aware UTC in and out.
    """

    async def migrate(self) -> None: ...

    async def aclose(self) -> None: ...

    async def ping(self) -> None:
        """Raises if the store cannot be reached."""
        ...

    async def create(
        self, incident: Incident, change: Change | Callable[[Incident], Change]
    ) -> Incident:
        """Assigns the number; `change` may be a function of the numbered incident (so its
        notices can name INC-n) and is written in the same transaction."""
        ...

    async def get(self, number: int) -> Incident | None: ...

    async def list_incidents(
        self,
        *,
        open_only: bool = True,
        limit: int = 100,
        offset: int = 0,
        severity: Severity | None = None,
    ) -> list[Incident]:
        """Newest first: at most `limit`, after skipping the `offset` newest (paging), of
        `severity` only when given."""
        ...

    async def count_incidents(
        self,
        *,
        open_only: bool = True,
        severity: Severity | None = None,
        private: bool | None = None,
    ) -> int:
        """How many `list_incidents` would return without a limit; `private` True/False
        counts only private/public ones."""
        ...

    async def find_by_thread(self, platform: str, thread: str) -> Incident | None: ...

    async def commit(self, incident: Incident, change: Change) -> Incident: ...

    async def set_thread(self, number: int, thread: ChannelRef) -> None:
        """Records the announcement's thread; bumps the version."""
        ...

    async def timeline(self, number: int) -> list[TimelineEntry]:
        """Oldest first."""
        ...

    async def count_open(self) -> dict[str, int]:
        """Open incidents by severity value (`{"SEV1": 2}`), for metrics."""
        ...

    # ---- timers
    async def next_due_at(self) -> datetime | None:
        """When the earliest timer becomes claimable (due, and not under a live lease)."""
        ...

    async def claim_due(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Timer]: ...

    async def release_claims(self, owner: str) -> None:
        """Drops `owner`'s leases so another replica can take the timers at once."""
        ...

    # ---- outbox
    async def next_notice_at(self) -> datetime | None: ...

    async def claim_notices(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Notice]: ...

    async def notice_delivered(self, notice_id: int) -> None: ...

    async def notice_failed(self, notice_id: int, retry_at: datetime, error: str) -> None: ...

    async def notice_dead(self, notice_id: int, at: datetime, error: str) -> None:
        """Marks the notice failed for good at `at` (a permanent refusal), keeping `error`."""
        ...

    async def dead_notices(self, incident: int) -> list[Notice]:
        """The incident's notices given up by `notice_dead`, oldest first."""
        ...

    # ---- idempotency
    async def first_time(self, key: str, now: datetime) -> bool:
        """True the first time `key` is seen (platform request ids); False on a repeat."""
        ...


# --------------------------------------------------------------------------- delivery


class Notifier(Protocol):
    """A chat platform's outbound side."""

    platform: str

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        """Posts `notice`. For ANNOUNCE, returns the thread it opened.

        Raises `DeliveryError` (optionally with `retry_after`) when it could not post;
        the dispatcher keeps the notice and retries.
        """
        ...


class Pager(Protocol):
    """An external paging or ticketing backend (PagerDuty, Opsgenie, webhook, …)."""

    name: str

    async def page(self, notice: Notice, incident: Incident) -> None:
        """Triggers/acknowledges/resolves per `notice.data["action"]`; raises DeliveryError."""
        ...


# --------------------------------------------------------------------------- probes


class ProbeRunner(Protocol):
    """Runs configured probes. Chat can only name configured probes or services."""

    def catalogue(self) -> Mapping[str, str]:
        """Configured probe name -> service name."""
        ...

    async def run(self, selection: Sequence[str]) -> ProbeReport:
        """Runs the probes named by `selection` (names, services or `all`) concurrently.

        Raises `UserError` naming what is unknown and what is configured.
        """
        ...
