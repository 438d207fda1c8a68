"""Diagnostic probes: read-only health checks of configured targets (SPEC §4).

`parse_probes` validates the YAML `probes:` list, `Runner` runs a selection concurrently
under per-probe and per-run deadlines with redaction, and `probes.report` renders a run for
the terminal. Kinds (`KINDS`, see `probes.registry`): http, postgres, redis, dns, tls, tcp,
disk; each is one module declaring its config model and its check. This package never
imports `bot`; `bot.probing` adapts it to the core's port.
"""

from probes.base import Probe, ProbeConfig, ProbeResult, Status
from probes.config import ProbeConfigError, parse_probes
from probes.kind import Kind, KindConfig
from probes.registry import KINDS
from probes.runner import Runner, RunReport, UnknownSelectionError, build_probe

__all__ = [
    "KINDS",
    "Kind",
    "KindConfig",
    "Probe",
    "ProbeConfig",
    "ProbeConfigError",
    "ProbeResult",
    "RunReport",
    "Runner",
    "Status",
    "UnknownSelectionError",
    "build_probe",
    "parse_probes",
]
