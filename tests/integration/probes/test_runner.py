"""The runner: concurrency, per-probe deadlines, the run deadline, crash isolation,
selection, and the CLI entry point."""

from __future__ import annotations

import asyncio
import io
import json
import time

import httpx
import pytest
from aiohttp import web

from probes.base import Probe, ProbeConfig, ProbeResult, Status
from probes.config import parse_probes
from probes.report import run_cli
from probes.runner import Runner, UnknownSelectionError, build_probe
from tests.integration.probes.servers import http_app, http_server


def http(name: str, url: str, service: str = "web", **extra: object) -> dict[str, object]:
    return {"name": name, "service": service, "kind": "http", "url": url, **extra}


async def test_slow_probes_run_concurrently_and_a_hung_one_holds_nobody_up() -> None:
    async with http_server() as base:
        items = [http(f"s{i}", f"{base}/slow?s=0.3") for i in range(10)]
        items.append(http("hung", f"{base}/hang", timeout="0.8s"))
        runner = Runner(parse_probes(items))
        t0 = time.perf_counter()
        report = await runner.run(["all"])
        wall = time.perf_counter() - t0
    assert [r.status for r in report.results[:10]] == [Status.OK] * 10
    assert report.results[10].summary == "timed out after 0.8s"
    assert all(r.elapsed_s < 0.75 for r in report.results[:10])
    assert 0.8 <= wall < 1.4
    assert report.summary().startswith("10 ok · 0 warn · 0 fail · 1 error in ")


async def test_concurrency_cap_is_respected() -> None:
    async with http_server() as base:
        items = [http(f"s{i}", f"{base}/slow?s=0.2") for i in range(4)]
        t0 = time.perf_counter()
        report = await Runner(parse_probes(items), concurrency=2).run([])
        wall = time.perf_counter() - t0
    assert report.counts()["ok"] == 4
    assert 0.4 <= wall < 0.75  # two waves of two (sequential: 0.8)


async def test_run_deadline_cancels_stragglers_and_keeps_finished_results() -> None:
    async with http_server() as base:
        items = [http("fast", f"{base}/ok"), http("slow", f"{base}/hang", timeout="10s")]
        t0 = time.perf_counter()
        report = await Runner(parse_probes(items), run_deadline=0.5).run(["all"])
        wall = time.perf_counter() - t0
    assert report.results[0].status is Status.OK
    assert report.results[1].status is Status.ERROR
    assert report.results[1].summary == "run deadline (0.5s) exceeded"
    assert wall < 1.5
    assert report.exit_code() == 2


class CrashingProbe:
    """A real probe whose check has a bug."""

    def __init__(self, config: ProbeConfig) -> None:
        self.config = config

    async def check(self) -> ProbeResult:
        raise KeyError("password=Crash-Pw-1")


async def test_a_crashing_probe_is_an_error_and_siblings_complete(tmp_path: object) -> None:
    configs = parse_probes(
        [
            {"name": "ok", "service": "host", "kind": "disk", "path": "/"},
            {"name": "bug", "service": "host", "kind": "disk", "path": "/"},
        ]
    )

    def factory(cfg: ProbeConfig, client: httpx.AsyncClient | None) -> Probe:
        return CrashingProbe(cfg) if cfg.name == "bug" else build_probe(cfg, client)

    report = await Runner(configs, factory=factory).run(["host"])
    assert report.results[0].status in (Status.OK, Status.WARN, Status.FAIL)
    bug = report.results[1]
    assert bug.status is Status.ERROR
    assert bug.summary == "probe crashed: KeyError: 'password=***'"


def test_selection_by_name_service_and_all() -> None:
    runner = Runner(
        parse_probes(
            [
                http("api", "http://h/"),
                {"name": "db", "service": "backend", "kind": "postgres", "dsn": "postgresql://h/d"},
                {"name": "cache", "service": "backend", "kind": "redis", "url": "redis://h"},
            ]
        )
    )
    assert runner.catalogue() == {"api": "web", "db": "backend", "cache": "backend"}
    names = lambda sel: [c.name for c in runner.select(sel)]  # noqa: E731
    assert names(["backend"]) == ["db", "cache"]
    assert names(["cache", "API"]) == ["api", "cache"]
    assert names(["all"]) == names([]) == ["api", "db", "cache"]
    assert names(["db", "backend"]) == ["db", "cache"]
    with pytest.raises(UnknownSelectionError) as info:
        runner.select(["db", "http://evil/", "nope"])
    assert info.value.unknown == ["http://evil/", "nope"]
    assert str(info.value) == (
        "unknown probe or service: http://evil/, nope (configured probes: api, db, cache;"
        " services: web, backend; or 'all')"
    )
    with pytest.raises(UnknownSelectionError, match="no probes are configured"):
        Runner([]).select(["x"])


async def test_distinct_http_probes_on_one_host_are_not_serialised() -> None:
    hits: list[float] = []

    async def slow(_: web.Request) -> web.Response:
        hits.append(time.perf_counter())
        await asyncio.sleep(0.3)
        return web.Response(text="ok")

    app = http_app()
    app.router.add_get("/a", slow)
    app.router.add_get("/b", slow)
    async with http_server(app) as base:
        report = await Runner(parse_probes([http("a", f"{base}/a"), http("b", f"{base}/b")])).run(
            []
        )
    assert report.counts()["ok"] == 2
    assert abs(hits[0] - hits[1]) < 0.1


async def test_run_cli_table_json_and_exit_codes() -> None:
    async with http_server() as base:
        items = [http("api", f"{base}/ok"), http("down", f"{base}/503", service="edge")]
        out = io.StringIO()
        code = await run_cli(items, ["web"], False, out)
        assert code == 0
        assert out.getvalue().splitlines()[-1].startswith("1 ok · 0 warn · 0 fail · 0 error in ")
        out = io.StringIO()
        code = await run_cli(items, [], True, out)
        doc = json.loads(out.getvalue())
        assert code == 2
        assert doc["exit_code"] == 2
        assert [r["status"] for r in doc["results"]] == ["ok", "fail"]
        out = io.StringIO()
        warn_items = [http("api", f"{base}/slow?s=0.05", warn_latency="10ms")]
        assert await run_cli(warn_items, [], False, out) == 1


async def test_probes_of_one_database_or_redis_are_capped_per_target(redis_url: str) -> None:
    items = [
        {"name": f"c{i}", "service": "cache", "kind": "redis", "url": redis_url,
         "sample_interval": "200ms"}
        for i in range(3)
    ]  # fmt: skip
    t0 = time.perf_counter()
    report = await Runner(parse_probes(items), per_target=1).run(["cache"])
    wall = time.perf_counter() - t0
    assert len(report.results) == 3
    assert all(r.status in (Status.OK, Status.WARN) for r in report.results)
    assert wall >= 0.6  # one at a time against the same server
