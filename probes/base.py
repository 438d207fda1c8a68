"""The shapes every probe shares: status, result, the Probe protocol and a findings builder.

A probe checks one configured target and *returns* a `ProbeResult`; it never raises for a
target problem (a TaskGroup would cancel its siblings). Status semantics (SPEC §4):

* ``ok``    – every sub-check passed.
* ``warn``  – the target works but something deserves a look (slow, nearly full, …).
* ``fail``  – the target is unhealthy or unreachable (refused, 5xx, NXDOMAIN, expired cert).
* ``error`` – the probe could not judge (credentials rejected, missing privilege, timed out,
  a bug on our side). Different humans fix "the DB is down" and "our probe is broken".

This package never imports `bot`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"


# Within one probe, "the target is unhealthy" outranks "part of the probe could not judge".
_RANK = {Status.OK: 0, Status.WARN: 1, Status.ERROR: 2, Status.FAIL: 3}

MARKS = {Status.OK: "✓", Status.WARN: "⚠", Status.FAIL: "✗", Status.ERROR: "!"}


def worst(a: Status, b: Status) -> Status:
    """The more severe of two statuses (ok < warn < error < fail)."""
    return a if _RANK[a] >= _RANK[b] else b


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe's verdict: a one-line `summary` and one detail line per sub-check."""

    name: str
    service: str
    kind: str
    status: Status
    summary: str
    details: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "service": self.service,
            "kind": self.kind,
            "status": self.status.value,
            "summary": self.summary,
            "details": list(self.details),
            "elapsed_s": round(self.elapsed_s, 4),
        }


class ProbeConfig(BaseModel):
    """Fields common to every kind. Each kind's model lives in its module (`probes.http`, …)."""

    name: str
    service: str
    kind: str
    timeout: float = 5.0

    def target_key(self) -> str | None:
        """Identifies the backend this probe loads, so a run can cap probes per target.

        None means "no cap beyond the run's" (HTTP endpoints behind one balancer must
        still run at once).
        """
        return None

    def secrets(self) -> list[str]:
        """Secret strings this config carries (passwords, tokens) that output must never show."""
        return []

    def shares_http_client(self) -> bool:
        """Whether this probe's check wants the run's shared `httpx.AsyncClient`."""
        return False


class Probe(Protocol):
    """A configured check. `check` returns a result for every target condition."""

    @property
    def config(self) -> ProbeConfig: ...

    async def check(self) -> ProbeResult: ...


class Findings:
    """Collects sub-check lines and the resulting status of one probe run.

    Each line is prefixed with a mark: ✓ ok, ⚠ warn, ✗ fail, ! error, `–` n/a, `·` info.
    n/a and info lines never change the status.
    """

    def __init__(self) -> None:
        self.status = Status.OK
        self.details: list[str] = []
        self._headline: dict[Status, str] = {}
        self._count: dict[Status, int] = {}

    def add(self, status: Status, text: str) -> None:
        self.details.append(f"{MARKS[status]} {text}")
        self.status = worst(self.status, status)
        self._headline.setdefault(status, text)
        self._count[status] = self._count.get(status, 0) + 1

    def ok(self, text: str) -> None:
        self.add(Status.OK, text)

    def warn(self, text: str) -> None:
        self.add(Status.WARN, text)

    def fail(self, text: str) -> None:
        self.add(Status.FAIL, text)

    def error(self, text: str) -> None:
        self.add(Status.ERROR, text)

    def na(self, text: str) -> None:
        self.details.append(f"– n/a: {text}")

    def info(self, text: str) -> None:
        self.details.append(f"· {text}")

    def summary(self, ok_summary: str) -> str:
        """`ok_summary` when all passed, else the first line of the worst status (+N more)."""
        if self.status is Status.OK:
            return ok_summary
        first = self._headline[self.status]
        others = sum(n for s, n in self._count.items() if s is not Status.OK) - 1
        return f"{first} (+{others} more)" if others > 0 else first

    def result(self, config: ProbeConfig, ok_summary: str, started: float) -> ProbeResult:
        return ProbeResult(
            name=config.name,
            service=config.service,
            kind=config.kind,
            status=self.status,
            summary=self.summary(ok_summary),
            details=list(self.details),
            elapsed_s=time.perf_counter() - started,
        )


def single(
    config: ProbeConfig,
    status: Status,
    summary: str,
    started: float,
    details: list[str] | None = None,
) -> ProbeResult:
    """A result with one headline and optional details (for early exits)."""
    return ProbeResult(
        name=config.name,
        service=config.service,
        kind=config.kind,
        status=status,
        summary=summary,
        details=details if details is not None else [f"{MARKS[status]} {summary}"],
        elapsed_s=time.perf_counter() - started,
    )


def describe(exc: BaseException) -> str:
    """`ExcType: message` (or the type alone), one line. Callers redact before showing it."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def fmt_seconds(seconds: float) -> str:
    """Human duration: `45 s`, `12 min`, `3.5 h`, `2.0 d`."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - loop always returns
