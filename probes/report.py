"""Terminal output of a probe run: a table with per-probe details, or JSON.

`run_cli` is what `incidentbot probe [target…] [--json]` calls. Exit codes: 0 all ok,
1 any warn, 2 any fail or error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TextIO

from probes.base import MARKS, Status
from probes.config import parse_probes
from probes.runner import DEFAULT_CONCURRENCY, DEFAULT_RUN_DEADLINE, Runner, RunReport


def render_table(report: RunReport) -> str:
    """One row per probe (status, name, service, kind, time, summary), its sub-check lines
    indented beneath, then the summary line."""
    rows = [("", "STATUS", "NAME", "SERVICE", "KIND", "TIME", "SUMMARY")]
    for r in report.results:
        rows.append(
            (
                MARKS[r.status],
                r.status.value,
                r.name,
                r.service,
                r.kind,
                f"{r.elapsed_s * 1000:.0f} ms",
                r.summary,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[c].ljust(widths[c]) if c != 5 else row[c].rjust(widths[c]) for c in range(6)]
        lines.append(("  ".join(cells) + "  " + row[6]).rstrip())
        if i > 0:
            result = report.results[i - 1]
            only_headline = result.details == [f"{MARKS[result.status]} {result.summary}"]
            if (result.status is not Status.OK or len(result.details) > 1) and not only_headline:
                lines.extend(f"      {d}" for d in result.details)
    lines.append("")
    lines.append(report.summary())
    return "\n".join(lines) + "\n"


def render_json(report: RunReport) -> str:
    doc = {
        "summary": report.summary(),
        "counts": report.counts(),
        "elapsed_s": round(report.elapsed_s, 4),
        "exit_code": report.exit_code(),
        "results": [r.to_dict() for r in report.results],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


async def run_cli(
    probe_dicts: Sequence[Mapping[str, object]] | list[dict[str, object]],
    selection: list[str],
    as_json: bool,
    out: TextIO,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    run_deadline: float = DEFAULT_RUN_DEADLINE,
) -> int:
    """Parses `probe_dicts`, runs `selection` (empty = all), writes to `out`, returns the
    exit code. Raises `ProbeConfigError` for invalid configuration and
    `UnknownSelectionError` for an unknown name (both carry a ready-to-print message)."""
    runner = Runner(parse_probes(probe_dicts), concurrency=concurrency, run_deadline=run_deadline)
    report = await runner.run(selection)
    out.write(render_json(report) if as_json else render_table(report))
    return report.exit_code()
