"""What several benchmarks share: percentiles, and incidents whose reminder falls due when
the benchmark wants it to."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from datetime import datetime

from bot.core.model import Actor, ChannelRef, Incident, Severity, Status
from bot.core.policy import Policy
from bot.core.records import Change


def pct(xs: Sequence[float], p: float) -> float:
    """The `p`th percentile (nearest rank); NaN for no samples."""
    if not xs:
        return float("nan")
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def due_incident(
    title: str,
    due: datetime,
    severity: Severity,
    policy: Policy,
    *,
    actor: Actor,
    thread: ChannelRef,
    origin: ChannelRef | None = None,
) -> tuple[Incident, Change]:
    """An open incident and its timers, declared one cadence before `due`: the service
    re-checks each claimed timer against the policy, so the policy must agree it is due."""
    inc = Incident(
        0,
        title,
        severity,
        Status.INVESTIGATING,
        thread.platform,
        due - policy.of(severity).update_every,
        actor,
        commander=actor,
        origin=origin,
        thread=thread,
    )
    return inc, Change(timers={k: v for k, v in policy.timers(inc).items() if v is not None})


def run_and_report(runs: int, one_run: Callable[[], dict[str, float]]) -> None:
    """Runs `one_run` `runs` times, printing each run's figures and then their medians
    (one JSON line each; the medians line starts with `median`)."""
    results = []
    for _ in range(runs):
        r = one_run()
        print(json.dumps({k: round(v, 4) for k, v in r.items()}), flush=True)
        results.append(r)
    medians = {k: round(statistics.median(r[k] for r in results), 4) for k in results[0]}
    print("median", json.dumps(medians))
