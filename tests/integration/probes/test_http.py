"""HTTP probe against real aiohttp servers on 127.0.0.1, run through the real runner."""

from __future__ import annotations

import time

from probes.base import ProbeResult, Status
from probes.config import parse_probes
from probes.runner import Runner
from tests.integration.probes.servers import http_server


async def run_one(**probe: object) -> ProbeResult:
    config = {"name": "web", "service": "svc", "kind": "http", **probe}
    report = await Runner(parse_probes([config])).run(["web"])
    return report.results[0]


async def test_healthy_endpoint_with_body_and_json_checks() -> None:
    async with http_server() as base:
        r = await run_one(
            url=f"{base}/ok", body_contains='"ok"', json_path="data.items.0.id", json_equals=1
        )
    assert r.status is Status.OK, r
    assert r.summary.startswith("200 OK in ")
    assert "✓ body contains '\"ok\"'" in r.details
    assert "✓ JSON data.items.0.id = 1" in r.details


async def test_503_fails() -> None:
    async with http_server() as base:
        r = await run_one(url=f"{base}/503")
    assert r.status is Status.FAIL
    assert r.summary == "status 503 Service Unavailable (expected 200–399)"


async def test_slow_answer_warns_on_latency() -> None:
    async with http_server() as base:
        r = await run_one(url=f"{base}/slow?s=0.3", warn_latency="100ms")
    assert r.status is Status.WARN
    assert r.summary.startswith("latency ") and r.summary.endswith("≥ 100 ms")


async def test_hung_server_is_cut_at_the_probe_timeout() -> None:
    async with http_server() as base:
        t0 = time.perf_counter()
        r = await run_one(url=f"{base}/hang", timeout="500ms")
        wall = time.perf_counter() - t0
    assert r.status is Status.ERROR
    assert r.summary == "timed out after 0.5s"
    assert 0.5 <= wall < 1.1


async def test_trickling_server_is_cut_at_the_probe_timeout() -> None:
    # httpx's timeouts are per phase of inactivity: one byte every 0.5 s never trips a
    # 1.2 s read timeout. The asyncio deadline must.
    async with http_server() as base:
        t0 = time.perf_counter()
        r = await run_one(url=f"{base}/trickle", timeout="1.2s")
        wall = time.perf_counter() - t0
    assert r.status is Status.ERROR
    assert r.summary == "timed out after 1.2s"
    assert 1.2 <= wall < 1.9


async def test_redirects_follow_only_when_configured() -> None:
    async with http_server() as base:
        followed = await run_one(url=f"{base}/redirect")
        kept = await run_one(url=f"{base}/redirect", follow_redirects=False, expect_status=[200])
    assert followed.status is Status.OK
    assert "· followed 1 redirect(s)" in followed.details
    assert kept.status is Status.FAIL
    assert kept.summary == "status 302 Found (expected 200)"
    assert "· redirect to /ok not followed" in kept.details


async def test_body_and_json_mismatches_fail() -> None:
    async with http_server() as base:
        body = await run_one(url=f"{base}/ok", body_contains="healthy")
        value = await run_one(url=f"{base}/ok", json_path="status", json_equals="green")
        missing = await run_one(url=f"{base}/ok", json_path="data.nope")
        not_json = await run_one(url=f"{base}/503", expect_status=[503], json_path="x")
    assert body.status is Status.FAIL
    assert body.summary == "body does not contain 'healthy'"
    assert value.summary == 'JSON status = "ok" (expected "green")'
    assert missing.summary == "JSON path data.nope not found"
    assert not_json.summary == "body is not JSON (needed for json_path x)"


async def test_refused_connection_fails(unused_port: int) -> None:
    r = await run_one(url=f"http://127.0.0.1:{unused_port}/")
    assert r.status is Status.FAIL
    assert r.summary.startswith("request failed: ConnectError")
