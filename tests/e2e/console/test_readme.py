"""README's "Try it in the console", word for word: its lines piped into `incidentbot run`
(a real process with the shipped configuration), as a new user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def readme_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Try it in the console", 1)[1]
    block = re.search(r"```text\n(.*?)```", section, re.S)
    assert block is not None, "README lost its console example"
    return [line for line in block.group(1).splitlines() if line.strip()]


def run_console(tmp: Path, lines: list[str], config: Path | None = None) -> str:
    env = {**os.environ, "INCIDENTBOT_DATA_DIR": str(tmp / "data"), "USER": "alice",
           "PYTHONPATH": str(ROOT)}  # this checkout's bot, whatever is installed  # fmt: skip
    for var in ("SLACK_BOT_TOKEN", "DISCORD_TOKEN", "DATABASE_URL", "PORT", "INCIDENTBOT_CONFIG"):
        env.pop(var, None)
    args = [sys.executable, "-m", "bot", *(["--config", str(config)] if config else []), "run"]
    run = subprocess.run(
        args, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60,
        env=env, check=False, cwd=tmp,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    return run.stdout


@pytest.mark.slow
def test_the_readme_console_walkthrough_works_word_for_word(tmp_path: Path) -> None:
    lines = readme_lines()
    assert lines[0] == '/incident declare "Checkout API 500s" sev1'
    out = run_console(tmp_path, lines)
    assert "✗" not in out, out  # not one line of the walk-through is refused
    assert "went wrong" not in out
    for expected in (
        "→ INC-1 declared (SEV1): Checkout API 500s. Announced in #incidents;",
        "#incidents › [INC-1] INCIDENT DECLARED: Checkout API 500s",
        "Impact: still being assessed",
        "nobody was notified: configure contacts",  # the shipped file has no contacts
        "#ops › [INCIDENT] SEV1 INC-1 - Checkout API 500s. Investigating.",
        "│ INC-1 › 5-MINUTE TRIAGE: INC-1",
        "No probes are configured",
        "[INC-1] INCIDENT UPDATE: Checkout API 500s",
        "The issue has been identified as connection leak in release 4512.",
        "Noted in the INC-1 timeline.",
        "[INC-1] INCIDENT RESOLVED: Checkout API 500s",
        "We are still determining the root cause.",
        "POST-MORTEM DRAFT: INC-1 Checkout API 500s",
    ):
        assert expected in out, f"{expected!r} not in:\n{out}"
    assert "complete outage" not in out.lower()  # internal definitions stay internal
    assert "The root cause was rolled back" not in out


@pytest.mark.slow
def test_console_names_channels_and_refuses_guesses(tmp_path: Path) -> None:
    out = run_console(
        tmp_path,
        [
            "/incident declare Checkout error rate high",
            '/incident declare "Unclosed quote sev1',
            "/incident list",
        ],
    )
    assert "→ INC-1 declared (SEV3): Checkout error rate high. Announced in #incidents-low;" in out
    assert "#incidents-low › [INC-1] INCIDENT DECLARED: Checkout error rate high" in out
    assert "✗ Unclosed quote" in out and "INC-2" not in out
