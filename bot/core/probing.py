"""The probes use case: `/incident probe` and the probes a declare starts.

A run is background work (`Tasks`): the command answers at once, and the report lands in
the incident's thread and timeline when the run ends. A run that fails is said in the
thread; it never takes the bot down.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import structlog

from bot.core import commands as c
from bot.core.actions import Mutation, Outcome, thread
from bot.core.messages import Reply
from bot.core.model import Actor, Incident, TimelineEntry
from bot.core.ports import Clock, IncidentStore, ProbeRunner
from bot.core.records import ProbeReport
from bot.core.tasks import Tasks
from bot.core.views import Views
from bot.errors import DuplicateRequest, UserError

log = structlog.get_logger("incidentbot.service")


class Probing:
    """Runs probes for incidents. `mutate(number, fn)` commits a result (the service's
    commit loop); `on_probe_run(incident, report|None, seconds)` observes each run."""

    def __init__(
        self,
        *,
        store: IncidentStore,
        clock: Clock,
        views: Views,
        probes: ProbeRunner | None,
        mutate: Callable[[int, Mutation], Awaitable[Reply]],
        on_probe_run: Callable[[int, ProbeReport | None, float], None],
    ) -> None:
        self.store, self.clock, self.views, self.probes = store, clock, views, probes
        self._mutate, self.on_probe_run = mutate, on_probe_run
        self.tasks = Tasks(on_failure=_background_failed)

    async def command(
        self, cmd: c.RunProbes, inc: Incident, actor: Actor, key: str | None, default: Sequence[str]
    ) -> Reply:
        """`/incident probe [targets]`: validates the selection (`default` when none is
        named) and starts the run."""
        # Nothing is committed before the run: the key alone guards against a repeat.
        if key is not None and not await self.store.first_time(key, self.clock.now()):
            raise DuplicateRequest(key)
        if self.probes is None:
            return Reply.info(
                "No probe kinds are installed in this build, so there is nothing to run."
            )
        if not self.probes.catalogue():
            return Reply.info(
                "No probes are configured; add some under `probes:` in the configuration."
            )
        selection = cmd.targets or default or ("all",)
        self._validate_selection(selection)
        self.start(inc.number, selection, actor)
        return Reply.info(
            f"Running probes {' '.join(selection)} for {inc.key}; results go to its thread.",
            incident=inc.number,
        )

    def start(self, number: int, selection: Sequence[str], actor: Actor) -> None:
        """Starts a run in the background; its report goes to incident `number`."""
        self.tasks.spawn(self._run(number, selection, actor))

    def _validate_selection(self, selection: Sequence[str]) -> None:
        assert self.probes is not None
        catalogue = self.probes.catalogue()
        known = set(catalogue) | set(catalogue.values()) | {"all"}
        unknown = [s for s in selection if s not in known]
        if unknown:
            raise UserError(
                f"Unknown probe or service: {', '.join(unknown)}."
                f" Configured probes: {', '.join(sorted(catalogue))};"
                f" services: {', '.join(sorted(set(catalogue.values())))}."
            )

    async def _run(self, number: int, selection: Sequence[str], actor: Actor) -> None:
        assert self.probes is not None
        started, report = time.perf_counter(), None
        try:
            report = await self.probes.run(selection)
            msg = self.views.probes(report)
            summary = report.summary()
        except Exception as exc:  # a probe run must never take the bot down
            log.warning("probe.run_failed", incident=f"INC-{number}", error=type(exc).__name__)
            summary = "probe run failed"
            msg = self.views.probe_run_failed(type(exc).__name__)
        self.on_probe_run(number, report, time.perf_counter() - started)

        def m(i: Incident, now: datetime) -> Outcome:
            entry = TimelineEntry(now, "probe", summary, actor)
            return i, [entry], [thread(i, msg)], Reply()

        await self._mutate(number, m)


def _background_failed(exc: BaseException) -> None:
    # e.g. the store failed while recording probe results: say so, never lose it
    log.error("background.failed", error=repr(exc)[:300])
