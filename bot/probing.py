"""`ConfiguredProbeRunner`: the core's `ProbeRunner` port, backed by the `probes` package.

Chat can only choose configured probe names or services (or `all`); the probes' targets,
credentials and SQL come from configuration alone. Output is already redacted by
`probes.runner.Runner`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.core.records import ProbeOutcome, ProbeReport
from bot.errors import ConfigError, UserError
from probes.base import ProbeConfig, ProbeResult
from probes.config import ProbeConfigError, parse_probes
from probes.runner import (
    DEFAULT_CONCURRENCY,
    DEFAULT_RUN_DEADLINE,
    Runner,
    UnknownSelectionError,
)


class ConfiguredProbeRunner:
    """Runs configured probes for the core. An empty selection runs every probe."""

    def __init__(
        self,
        configs: Sequence[ProbeConfig],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        run_deadline: float = DEFAULT_RUN_DEADLINE,
    ) -> None:
        self._runner = Runner(configs, concurrency=concurrency, run_deadline=run_deadline)

    @classmethod
    def from_dicts(
        cls,
        probe_dicts: object,
        *,
        file: str = "config",
        concurrency: int = DEFAULT_CONCURRENCY,
        run_deadline: float = DEFAULT_RUN_DEADLINE,
    ) -> ConfiguredProbeRunner:
        """Parses the YAML `probes:` list; raises `ConfigError(file, key, expected)`."""
        try:
            configs = parse_probes(probe_dicts)
        except ProbeConfigError as exc:
            raise ConfigError(file, exc.key, f"expected {exc.expected}") from None
        return cls(configs, concurrency=concurrency, run_deadline=run_deadline)

    def catalogue(self) -> Mapping[str, str]:
        return self._runner.catalogue()

    async def run(self, selection: Sequence[str]) -> ProbeReport:
        try:
            configs = self._runner.select(selection)
        except UnknownSelectionError as exc:
            raise UserError(str(exc)) from None
        report = await self._runner.run_configs(configs)
        return ProbeReport(
            outcomes=tuple(_outcome(r) for r in report.results), elapsed_s=report.elapsed_s
        )


def _outcome(result: ProbeResult) -> ProbeOutcome:
    return ProbeOutcome(
        name=result.name,
        service=result.service,
        kind=result.kind,
        status=result.status.value,
        summary=result.summary,
        details=tuple(result.details),
        elapsed_s=result.elapsed_s,
    )
