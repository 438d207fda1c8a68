"""Rendering and exit codes of a probe run."""

from __future__ import annotations

import json

from probes.base import Findings, ProbeResult, Status, worst
from probes.report import render_json, render_table
from probes.runner import RunReport


def _r(
    name: str, status: Status, summary: str = "s", details: list[str] | None = None
) -> ProbeResult:
    return ProbeResult(name, "svc", "http", status, summary, details or [], 0.0123)


def test_exit_codes_and_summary_line() -> None:
    assert RunReport([_r("a", Status.OK)], 0.01).exit_code() == 0
    assert RunReport([_r("a", Status.OK), _r("b", Status.WARN)], 0).exit_code() == 1
    assert RunReport([_r("a", Status.WARN), _r("b", Status.FAIL)], 0).exit_code() == 2
    assert RunReport([_r("a", Status.ERROR)], 0).exit_code() == 2
    assert RunReport([], 0).exit_code() == 0
    report = RunReport(
        [_r(str(i), Status.OK) for i in range(7)] + [_r("w", Status.WARN), _r("f", Status.FAIL)],
        1.234,
    )
    assert report.summary() == "7 ok · 1 warn · 1 fail · 0 error in 1.2 s"


def test_table_shows_rows_details_and_summary() -> None:
    report = RunReport(
        [
            _r("api", Status.OK, "200 OK in 12 ms", ["✓ status 200 OK", "✓ latency 12 ms"]),
            _r("db", Status.FAIL, "no response", ["✗ no response"]),
        ],
        0.5,
    )
    text = render_table(report)
    lines = text.splitlines()
    assert lines[0].split() == ["STATUS", "NAME", "SERVICE", "KIND", "TIME", "SUMMARY"]
    assert lines[1].split()[:4] == ["✓", "ok", "api", "svc"]
    assert "      ✓ latency 12 ms" in lines
    # a single detail equal to the summary is not repeated
    assert "      ✗ no response" not in lines
    assert lines[-1] == "1 ok · 0 warn · 1 fail · 0 error in 0.5 s"


def test_json_document() -> None:
    report = RunReport([_r("api", Status.WARN, "slow", ["⚠ slow"])], 0.25)
    doc = json.loads(render_json(report))
    assert doc["exit_code"] == 1
    assert doc["counts"] == {"ok": 0, "warn": 1, "fail": 0, "error": 0}
    assert doc["results"][0] == {
        "name": "api",
        "service": "svc",
        "kind": "http",
        "status": "warn",
        "summary": "slow",
        "details": ["⚠ slow"],
        "elapsed_s": 0.0123,
    }


def test_findings_status_and_headline() -> None:
    f = Findings()
    f.ok("a")
    f.info("i")
    f.na("n")
    assert f.status is Status.OK
    assert f.summary("all good") == "all good"
    f.warn("slow")
    f.fail("down")
    f.fail("also down")
    assert f.status is Status.FAIL
    assert f.summary("x") == "down (+2 more)"
    assert f.details == ["✓ a", "· i", "– n/a: n", "⚠ slow", "✗ down", "✗ also down"]
    assert worst(Status.ERROR, Status.WARN) is Status.ERROR
    assert worst(Status.ERROR, Status.FAIL) is Status.FAIL
