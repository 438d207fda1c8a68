"""The values the core's ports carry: a commit's change, a claimed timer, probe results.

Plain frozen data, no behaviour beyond summaries; the Protocols that take and return them
live in `bot.core.ports`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.messages import Notice
from bot.core.model import TimelineEntry, TimerKind

# --------------------------------------------------------------------------- store


@dataclass(frozen=True, slots=True)
class Change:
    """Everything one use case writes, committed atomically with the incident.

    `timers` sets a timer's due time (a datetime) or deletes it (None); kinds that are
    absent are left as they are. Setting a timer clears any claim on it.
    `request` is an idempotency key (a platform's request id) recorded in the same
    transaction: if it was recorded before, nothing is written and `DuplicateRequest` is
    raised — so a command is marked done exactly when its effects are.
    `request_at` is when the request was handled (the injected clock's `now`), required
    with `request`: the key is stamped with it and ages like `first_time`'s keys.
    """

    timeline: Sequence[TimelineEntry] = ()
    notices: Sequence[Notice] = ()
    timers: Mapping[TimerKind, datetime | None] = field(default_factory=dict)
    request: str | None = None
    request_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.request is not None and self.request_at is None:
            raise ValueError(f"request key {self.request!r} given without request_at")


@dataclass(frozen=True, slots=True)
class Timer:
    """A claimed, due timer."""

    incident: int
    kind: TimerKind
    due_at: datetime


# --------------------------------------------------------------------------- probes


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """One probe's result as the core shows it. `status`: ok, warn, fail or error."""

    name: str
    service: str
    kind: str
    status: str
    summary: str
    details: tuple[str, ...] = ()
    elapsed_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ProbeReport:
    outcomes: tuple[ProbeOutcome, ...]
    elapsed_s: float

    def counts(self) -> dict[str, int]:
        c = {"ok": 0, "warn": 0, "fail": 0, "error": 0}
        for o in self.outcomes:
            c[o.status] = c.get(o.status, 0) + 1
        return c

    def summary(self) -> str:
        """`7 ok · 1 warn · 1 fail · 0 error in 1.2 s`."""
        c = self.counts()
        return (
            f"{c['ok']} ok · {c['warn']} warn · {c['fail']} fail · {c['error']} error"
            f" in {self.elapsed_s:.1f} s"
        )
