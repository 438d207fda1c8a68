"""Runs selected probes concurrently, each under its own deadline, the run under another.

Guarantees:
* every probe runs inside `asyncio.timeout(probe.timeout)`; library timeouts are per
  operation (httpx: per phase of inactivity), so this deadline is what cuts a server that
  trickles a byte every half second. A probe past its deadline becomes
  ``error: timed out after Xs``; the others are unaffected.
* the whole run is bounded by `run_deadline`: whatever has not finished is cancelled and
  reported as ``error: run deadline (Ns) exceeded``; finished results are kept.
* at most `concurrency` probes run at once, and at most `per_target` against one database
  or Redis (so `all` does not open ten connections to the same server); distinct HTTP
  endpoints on one host are never serialised.
* a probe that raises is reported as ``error`` (it never takes its siblings down).
* every summary and detail line passes the `Redactor` built from all configured secrets.

Selection takes configured probe names, service names or ``all``; nothing else (no URL,
host or DSN) can reach a probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import httpx

from probes.base import Probe, ProbeConfig, ProbeResult, Status, describe
from probes.redact import Redactor
from probes.registry import KINDS

DEFAULT_CONCURRENCY = 64  # an on-demand run starts (nearly) everything at once
DEFAULT_RUN_DEADLINE = 10.0
DEFAULT_PER_TARGET = 2


class UnknownSelectionError(ValueError):
    """A selection named something that is neither a configured probe nor a service."""

    def __init__(self, unknown: Sequence[str], names: Sequence[str], services: Sequence[str]):
        self.unknown = list(unknown)
        self.names = list(names)
        self.services = list(services)
        if names:
            configured = (
                f"configured probes: {', '.join(names)}; services: {', '.join(services)}; or 'all'"
            )
        else:
            configured = "no probes are configured"
        super().__init__(f"unknown probe or service: {', '.join(unknown)} ({configured})")


@dataclass(frozen=True, slots=True)
class RunReport:
    """Results in configuration order, and the run's wall time."""

    results: list[ProbeResult]
    elapsed_s: float

    def counts(self) -> dict[str, int]:
        c = {s.value: 0 for s in Status}
        for r in self.results:
            c[r.status.value] += 1
        return c

    def summary(self) -> str:
        """`7 ok · 1 warn · 1 fail · 0 error in 1.2 s`."""
        c = self.counts()
        return (
            f"{c['ok']} ok · {c['warn']} warn · {c['fail']} fail · {c['error']} error"
            f" in {self.elapsed_s:.1f} s"
        )

    def exit_code(self) -> int:
        """0 all ok, 1 any warn, 2 any fail or error."""
        c = self.counts()
        if c["fail"] or c["error"]:
            return 2
        return 1 if c["warn"] else 0


def build_probe(config: ProbeConfig, http_client: httpx.AsyncClient | None = None) -> Probe:
    """The probe for a parsed config, built by its kind (`probes.registry.KINDS`).

    `http_client` is the run's shared client, offered to kinds that use one (HTTP probes
    with `verify: true`). Raises TypeError for a config no registered kind owns.
    """
    kind = KINDS.get(config.kind)
    if kind is None or not isinstance(config, kind.config):
        raise TypeError(f"no probe for kind {config.kind!r}")
    return kind.build(config, http_client)


class Runner:
    """Holds the configured probes; `run(selection)` runs a selection of them.

    `factory` turns a config into a probe (default `build_probe`); it is the seam for
    adding a kind without touching the runner.
    """

    def __init__(
        self,
        configs: Sequence[ProbeConfig],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        run_deadline: float = DEFAULT_RUN_DEADLINE,
        per_target: int = DEFAULT_PER_TARGET,
        factory: Callable[[ProbeConfig, httpx.AsyncClient | None], Probe] = build_probe,
    ) -> None:
        if concurrency < 1 or per_target < 1 or run_deadline <= 0:
            raise ValueError("concurrency and per_target must be ≥ 1, run_deadline > 0")
        self.configs = list(configs)
        self.concurrency = concurrency
        self.run_deadline = run_deadline
        self.per_target = per_target
        self.factory = factory
        self.redactor = Redactor(s for c in self.configs for s in c.secrets())

    def catalogue(self) -> dict[str, str]:
        """Probe name -> service, in configuration order."""
        return {c.name: c.service for c in self.configs}

    def select(self, selection: Sequence[str]) -> list[ProbeConfig]:
        """Configs named by `selection` (probe names, services, `all`; case-insensitive).

        An empty selection means all. Raises `UnknownSelectionError` listing what is unknown.
        """
        words = [w.strip() for w in selection if w.strip()]
        if not words or any(w.casefold() == "all" for w in words):
            return list(self.configs)
        chosen: set[str] = set()
        unknown: list[str] = []
        for word in words:
            key = word.casefold()
            hits = [
                c.name for c in self.configs if key in (c.name.casefold(), c.service.casefold())
            ]
            if hits:
                chosen.update(hits)
            else:
                unknown.append(word)
        if unknown:
            services = list(dict.fromkeys(c.service for c in self.configs))
            raise UnknownSelectionError(unknown, [c.name for c in self.configs], services)
        return [c for c in self.configs if c.name in chosen]

    async def run(self, selection: Sequence[str] = ()) -> RunReport:
        """Runs the selection (see `select`); never raises for a target problem."""
        return await self.run_configs(self.select(selection))

    async def run_configs(self, configs: Sequence[ProbeConfig]) -> RunReport:
        started = time.perf_counter()
        gate = asyncio.Semaphore(self.concurrency)
        per_target: dict[str, asyncio.Semaphore] = {}
        for c in configs:
            key = c.target_key()
            if key is not None and key not in per_target:
                per_target[key] = asyncio.Semaphore(self.per_target)
        needs_http = any(c.shares_http_client() for c in configs)
        async with contextlib.AsyncExitStack() as stack:
            client = None
            if needs_http:
                limits = httpx.Limits(
                    max_connections=max(100, self.concurrency), max_keepalive_connections=20
                )
                client = await stack.enter_async_context(httpx.AsyncClient(limits=limits))
            tasks = [
                asyncio.create_task(
                    self._one(self.factory(c, client), gate, per_target.get(c.target_key() or "")),
                    name=f"probe:{c.name}",
                )
                for c in configs
            ]
            results = await self._collect(configs, tasks)
        return RunReport(results=results, elapsed_s=time.perf_counter() - started)

    async def _collect(
        self, configs: Sequence[ProbeConfig], tasks: list[asyncio.Task[ProbeResult]]
    ) -> list[ProbeResult]:
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.run_deadline)
            for t in pending:
                t.cancel()
            if pending:
                # Give cancelled probes a moment to close sockets; never wait on a probe
                # that ignores cancellation.
                await asyncio.wait(pending, timeout=1.0)
        results = []
        for cfg, task in zip(configs, tasks, strict=True):
            if task.done() and not task.cancelled() and task.exception() is None:
                results.append(task.result())
            else:
                msg = f"run deadline ({self.run_deadline:g}s) exceeded"
                results.append(_error(cfg, msg, self.run_deadline))
        return results

    async def _one(
        self, probe: Probe, gate: asyncio.Semaphore, target: asyncio.Semaphore | None
    ) -> ProbeResult:
        cfg = probe.config
        async with gate, target if target is not None else contextlib.nullcontext():
            t0 = time.perf_counter()
            deadline = asyncio.timeout(cfg.timeout)
            try:
                async with deadline:
                    result = await probe.check()
            except TimeoutError as exc:
                if deadline.expired():
                    result = _error(cfg, f"timed out after {cfg.timeout:g}s", 0.0)
                else:
                    result = _error(cfg, f"probe crashed: {describe(exc)}", 0.0)
            except Exception as exc:  # a bug in a probe must not take the run down
                result = _error(cfg, f"probe crashed: {describe(exc)}", 0.0)
            result = replace(result, elapsed_s=time.perf_counter() - t0)
        return self.redactor.result(result)


def _error(cfg: ProbeConfig, summary: str, elapsed_s: float) -> ProbeResult:
    return ProbeResult(
        name=cfg.name,
        service=cfg.service,
        kind=cfg.kind,
        status=Status.ERROR,
        summary=summary,
        details=[f"! {summary}"],
        elapsed_s=elapsed_s,
    )
