"""Prometheus metrics of one running bot, in a registry the App owns (no global registry).

`Metrics` is also the observer the composition root hands to the core: each observation
(a command handled, a timer fired, a probe run finished) updates its metrics and writes
one structured log event carrying the incident id, so a dashboard and a log search agree.

The open-incident gauge is not kept in memory: it is read from the store at scrape time,
so every replica reports the same, true number. A scrape while the store is unreachable
still answers, with `incidentbot_store_up 0` and no open-incident samples.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime

import httpx
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from bot.core.commands import Command
from bot.core.messages import Reply
from bot.core.ports import Clock
from bot.core.records import ProbeReport, Timer

log = structlog.get_logger("incidentbot.metrics")

# The classic text format (0.0.4): every Prometheus 2.x and 3.x server parses it, and
# `generate_latest` with underscore escaping writes exactly that.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Seconds: commands answer in milliseconds; a slow store shows up in the upper buckets.
_COMMAND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds late: the scheduler wakes at the due time, so anything past a few seconds means
# a stalled loop, an unreachable store or a lease taken over after a replica died.
_LATENESS_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
_PROBE_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_STATUS_RANK = {"ok": 0, "warn": 1, "fail": 2, "error": 3}

CountOpen = Callable[[], Awaitable[dict[str, int]]]
Counts = Callable[[], Mapping[tuple[str, str], int]]


class _ScrapeTime(Collector):
    """Values read when scraped: open incidents (a snapshot taken just before rendering),
    store reachability and the dispatcher's delivery counters."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def describe(self) -> Iterator[Metric]:
        """Names only, for the registry's duplicate check (nothing is read here)."""
        yield GaugeMetricFamily("incidentbot_store_up", "")
        yield GaugeMetricFamily("incidentbot_incidents_open", "", labels=["severity"])
        yield CounterMetricFamily("incidentbot_notices_delivered", "", labels=["target", "kind"])
        yield CounterMetricFamily(
            "incidentbot_notice_delivery_failures", "", labels=["target", "kind"]
        )

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "incidentbot_store_up", "1 if the store answered the last scrape's query, else 0"
        )
        up.add_metric([], 1.0 if self.m.open_snapshot is not None else 0.0)
        yield up
        if self.m.open_snapshot is not None:
            gauge = GaugeMetricFamily(
                "incidentbot_incidents_open",
                "Incidents not yet resolved, by severity (read from the store at scrape time)",
                labels=["severity"],
            )
            counts = {s: 0 for s in self.m.severities} | self.m.open_snapshot
            for severity, n in sorted(counts.items()):
                gauge.add_metric([severity], float(n))
            yield gauge
        delivered = CounterMetricFamily(
            "incidentbot_notices_delivered",
            "Outbox notices the platform or pager accepted, by target (platform or pager)"
            " and notice kind",
            labels=["target", "kind"],
        )
        for (target, kind), n in sorted(self.m.delivered().items()):
            delivered.add_metric([target, kind], float(n))
        yield delivered
        failed = CounterMetricFamily(
            "incidentbot_notice_delivery_failures",
            "Failed delivery attempts of outbox notices (each is retried later with backoff),"
            " by target (platform or pager) and notice kind",
            labels=["target", "kind"],
        )
        for (target, kind), n in sorted(self.m.failures().items()):
            failed.add_metric([target, kind], float(n))
        yield failed


class Metrics:
    """The bot's metrics and the observer hooks that feed them.

    `count_open` is the store's `count_open`; `delivered`/`failures` read the dispatcher's
    counters; `severities` are the configured levels (each reported, zero included).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        severities: Sequence[str],
        count_open: CountOpen,
        delivered: Counts = dict,
        failures: Counts = dict,
    ) -> None:
        self.clock = clock
        self.severities = tuple(severities)
        self.count_open = count_open
        self.delivered = delivered
        self.failures = failures
        self.open_snapshot: dict[str, int] | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.commands = Counter(
            "incidentbot_commands",
            "Commands handled, by command and outcome (ok, rejected, error)",
            ["command", "outcome"],
            registry=r,
        )
        self.command_seconds = Histogram(
            "incidentbot_command_duration_seconds",
            "Time to handle a command, from receipt to reply",
            ["command"],
            buckets=_COMMAND_BUCKETS,
            registry=r,
        )
        self.reminders = Counter(
            "incidentbot_reminders_sent",
            "Timers acted on (update reminders, escalations, post-mortem reminders)",
            ["kind"],
            registry=r,
        )
        self.lateness = Histogram(
            "incidentbot_reminder_lateness_seconds",
            "How long after its due time a timer was acted on",
            ["kind"],
            buckets=_LATENESS_BUCKETS,
            registry=r,
        )
        self.probe_runs = Counter(
            "incidentbot_probe_runs",
            "Probe runs by overall result (worst probe status; crashed: the run itself failed)",
            ["result"],
            registry=r,
        )
        self.probe_seconds = Histogram(
            "incidentbot_probe_run_duration_seconds",
            "Wall time of a probe run",
            buckets=_PROBE_BUCKETS,
            registry=r,
        )
        self.api_errors = Counter(
            "incidentbot_pager_api_errors",
            "Non-2xx answers from paging/ticketing APIs (retried ones included), by host",
            ["host", "status"],
            registry=r,
        )
        r.register(_ScrapeTime(self))

    # ------------------------------------------------------------------ scrape

    async def render(self) -> bytes:
        """The Prometheus text exposition, with open incidents read from the store now."""
        try:
            snapshot: dict[str, int] | None = await self.count_open()
        except Exception as exc:  # a scrape must answer even while the store is down
            log.warning("metrics.store_unreachable", error=type(exc).__name__)
            snapshot = None
        # No await between taking the snapshot and rendering it: concurrent scrapes
        # cannot interleave here.
        self.open_snapshot = snapshot
        return bytes(generate_latest(self.registry))

    # ------------------------------------------------------------------ observer hooks

    def on_command(self, cmd: Command | None, reply: Reply | None, seconds: float) -> None:
        """A command was handled (`cmd` None: the line did not parse; `reply` None: it
        raised, an infrastructure error). Outcomes: ok, rejected (a user error), error."""
        name = command_name(cmd)
        outcome = "error" if reply is None else ("ok" if reply.ok else "rejected")
        incident = reply.incident if reply is not None else None
        if incident is None:
            incident = getattr(cmd, "incident", None)
        self.commands.labels(name, outcome).inc()
        self.command_seconds.labels(name).observe(max(0.0, seconds))
        log.info(
            "command.handled",
            command=name,
            outcome=outcome,
            incident=_key(incident),
            duration_ms=round(seconds * 1000, 1),
        )

    def on_fired(self, timer: Timer, now: datetime) -> None:
        """The scheduler acted on a due timer (its reminder is in the outbox)."""
        late = max(0.0, (max(now, self.clock.now()) - timer.due_at).total_seconds())
        self.reminders.labels(timer.kind.value).inc()
        self.lateness.labels(timer.kind.value).observe(late)
        log.info(
            "timer.fired",
            incident=_key(timer.incident),
            kind=timer.kind.value,
            late_s=round(late, 3),
        )

    def on_probe_run(self, incident: int, report: ProbeReport | None, seconds: float) -> None:
        """A probe run finished (`report` None: the run itself failed)."""
        if report is None:
            result = "crashed"
        else:
            statuses = [o.status for o in report.outcomes] or ["ok"]
            result = max(statuses, key=lambda s: _STATUS_RANK.get(s, 3))
        self.probe_runs.labels(result).inc()
        self.probe_seconds.observe(max(0.0, seconds))
        log.info(
            "probe.run",
            incident=_key(incident),
            result=result,
            summary=report.summary() if report is not None else "the run failed",
        )

    async def on_http_response(self, response: httpx.Response) -> None:
        """httpx response hook for the pagers' client: counts non-2xx answers."""
        if response.status_code >= 400:
            host = response.request.url.host
            self.api_errors.labels(host, str(response.status_code)).inc()
            log.warning("pager.api_error", host=host, status=response.status_code)


def command_name(cmd: Command | None) -> str:
    """`SetSeverity(...)` -> `set_severity`; an unparsable line is `unparsed`."""
    if cmd is None:
        return "unparsed"
    name = type(cmd).__name__
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name).lstrip("_")


def _key(number: int | None) -> str | None:
    return None if number is None else f"INC-{number}"
