"""`bot.probing.ConfiguredProbeRunner` satisfies the core's ProbeRunner port."""

from __future__ import annotations

import pytest

from bot.core.ports import ProbeRunner
from bot.core.records import ProbeOutcome, ProbeReport
from bot.errors import ConfigError, UserError
from bot.probing import ConfiguredProbeRunner
from tests.integration.probes.servers import http_server


async def test_runs_configured_probes_and_maps_outcomes() -> None:
    async with http_server() as base:
        runner: ProbeRunner = ConfiguredProbeRunner.from_dicts(
            [
                {"name": "api", "service": "backend", "kind": "http", "url": f"{base}/ok"},
                {"name": "down", "service": "edge", "kind": "http", "url": f"{base}/503"},
            ]
        )
        assert dict(runner.catalogue()) == {"api": "backend", "down": "edge"}
        report = await runner.run(["backend"])
        everything = await runner.run([])
    assert isinstance(report, ProbeReport)
    (outcome,) = report.outcomes
    assert isinstance(outcome, ProbeOutcome)
    assert (outcome.name, outcome.service, outcome.kind, outcome.status) == (
        "api",
        "backend",
        "http",
        "ok",
    )
    assert isinstance(outcome.details, tuple)
    assert everything.counts() == {"ok": 1, "warn": 0, "fail": 1, "error": 0}
    assert everything.summary().startswith("1 ok · 0 warn · 1 fail · 0 error in ")


async def test_unknown_selection_is_a_user_error_listing_the_catalogue() -> None:
    runner = ConfiguredProbeRunner.from_dicts(
        [{"name": "data", "service": "host", "kind": "disk", "path": "/"}]
    )
    with pytest.raises(UserError) as info:
        await runner.run(["127.0.0.1:5432"])
    assert str(info.value) == (
        "unknown probe or service: 127.0.0.1:5432 (configured probes: data; services: host;"
        " or 'all')"
    )


def test_bad_configuration_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        ConfiguredProbeRunner.from_dicts(
            [{"name": "db", "service": "s", "kind": "postgres", "dsn": "mysql://x"}],
            file="incidentbot.yaml",
        )
    assert info.value.file == "incidentbot.yaml"
    assert info.value.key == "probes[0] (db).dsn"
    assert str(info.value) == "incidentbot.yaml: probes[0] (db).dsn: expected a postgresql:// URL"
