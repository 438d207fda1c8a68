"""The CLI beside the bot: `report`, `probe` and `check-config`, run as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.probes.servers import http_server
from tests.stack import make_stack


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    full = {**os.environ, **(extra or {})}
    for var in ("SLACK_BOT_TOKEN", "DISCORD_TOKEN", "PORT"):
        full.pop(var, None)
    return full


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(env),
        check=False,
    )


async def acli(*args: str) -> tuple[int, str, str]:
    """`cli` without blocking the event loop (the probe targets are served by this loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=_env(None),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_report_writes_the_postmortem_markdown(tmp_path: Path) -> None:
    stack = await make_stack(tmp_path)
    await stack.cmd('declare "Checkout API 500s" sev1')
    await stack.cmd("note rollback started")
    await stack.cmd("resolve rolled back 4512")
    await stack.aclose()
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}"}
    run = cli("report", "INC-1", "--output-dir", str(tmp_path / "pm"), env=env)
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "pm" / "INC-1.md").read_text()
    assert text.startswith("# Post-mortem: INC-1 Checkout API 500s")
    for heading in ("## Summary", "## Timeline", "## Root cause", "## Five whys",
                    "## Contributing factors", "## What went well",
                    "## What could be improved", "## Action items"):  # fmt: skip
        assert heading in text
    assert "| note | rollback started | alice |" in text
    assert "rolled back 4512" in text
    missing = cli("report", "INC-9", "--output-dir", str(tmp_path / "pm"), env=env)
    assert missing.returncode == 2 and "INC-9 does not exist" in missing.stderr


async def test_probe_exit_codes_and_json(tmp_path: Path) -> None:
    async with http_server() as base:
        config = tmp_path / "bot.yaml"
        config.write_text(
            "probes:\n"
            f"  - {{name: api, service: backend, kind: http, url: '{base}/ok'}}\n"
            f"  - {{name: web, service: frontend, kind: http, url: '{base}/503'}}\n"
        )
        code, out, err = await acli("--config", str(config), "probe", "backend")
        assert code == 0, out + err
        assert "api" in out and "1 ok · 0 warn · 0 fail · 0 error" in out
        code, out, _ = await acli("--config", str(config), "probe", "--json")
        assert code == 2
        doc = json.loads(out)
        assert {r["name"]: r["status"] for r in doc["results"]} == {"api": "ok", "web": "fail"}
        code, _, err = await acli("--config", str(config), "probe", "nope")
        assert code == 2 and "nope" in err


def test_check_config_accepts_the_shipped_file() -> None:
    run = cli("check-config")
    assert run.returncode == 0, run.stderr
    assert "SEV1, SEV2, SEV3, SEV4" in run.stdout
    # the shipped file has no contacts and no pagers: valid, but never a bare "OK"
    assert "valid, with 4 warning(s)" in run.stdout and ": OK" not in run.stdout
    assert "warning: SEV1: declaring it notifies nobody: contacts.oncall," in run.stdout


def test_check_config_is_quiet_when_every_severity_reaches_someone(tmp_path: Path) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text(
        "contacts: {oncall: [U1], engineering_manager: [U2]}\n"
        "severities: {SEV4: {notify: [oncall]}}\n"
    )
    run = cli("--config", str(config), "check-config")
    assert run.returncode == 0, run.stderr
    assert f"{config}: OK" in run.stdout and "warning" not in run.stdout
    config.write_text("contacts: {oncall: [U1], engineering_manager: []}\n")
    run = cli("--config", str(config), "check-config")
    lines = [x for x in run.stdout.splitlines() if "warning:" in x]
    assert [x.split(":")[1].strip() for x in lines] == ["SEV4"], run.stdout


async def test_report_collapses_reminders_and_gives_the_cause(tmp_path: Path) -> None:
    from datetime import timedelta

    stack = await make_stack(tmp_path)
    await stack.cmd('declare "Queue stuck" sev1')
    for _ in range(4):  # four 15-minute reminders without an update
        await stack.advance(timedelta(minutes=15))
    await stack.cmd("resolve consumer restarted --cause a poison message")
    await stack.aclose()
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}"}
    run = cli("report", "INC-1", "--output-dir", str(tmp_path / "pm"), env=env)
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "pm" / "INC-1.md").read_text()
    assert "| reminder | 4 update reminders, 3 missed, 03:15–04:00 UTC |" in text
    assert "update reminder #" not in text
    assert "## Root cause\n\na poison message\n" in text
