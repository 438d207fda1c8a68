"""`./scripts/run` as a new user runs it: with the package index unreachable, stdin closed,
and `--config` passed through. It installs only when pyproject.toml or constraints.txt
changed (scripts/venv.sh), so a complete .venv starts offline."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def offline_env(tmp: Path) -> dict[str, str]:
    """No package index, no local wheels, no pip configuration: any install fails."""
    env = {**os.environ, "INCIDENTBOT_DATA_DIR": str(tmp / "data"), "USER": "alice"}
    for var in ("SLACK_BOT_TOKEN", "DISCORD_TOKEN", "DATABASE_URL", "PORT", "VIRTUAL_ENV"):
        env.pop(var, None)
    env.update(
        PIP_INDEX_URL=f"http://127.0.0.1:{closed_port()}/simple",
        PIP_EXTRA_INDEX_URL="",
        PIP_FIND_LINKS="",
        PIP_CONFIG_FILE=os.devnull,
        PIP_RETRIES="0",
        PIP_DEFAULT_TIMEOUT="3",
        UV_OFFLINE="1",
    )
    return env


def sh(
    command: str, cwd: Path, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
        check=False,
    )


def test_starts_offline_with_a_complete_venv_and_passes_config_through(tmp_path: Path) -> None:
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        if os.environ.get("CI"):
            pytest.fail(f"tests must run in {ROOT / '.venv'} (scripts/check), not {sys.prefix}")
        pytest.skip("runs against the repository's .venv, which these tests are not using")
    env = offline_env(tmp_path)
    closed = sh("exec ./scripts/run <&-", ROOT, env)
    assert closed.returncode == 0, closed.stderr
    assert "Installing" not in closed.stderr
    assert "Traceback" not in closed.stderr
    db = tmp_path / "data" / "incidentbot.sqlite3"
    assert f"incidentbot: store: SQLite {db}" in closed.stderr

    (tmp_path / "my.yaml").write_text(
        "channels: {incidents: war-room, incidents_low: incidents-low, ops: ops}\n"
    )
    run = sh(
        f"exec ./scripts/run --config {tmp_path / 'my.yaml'}",
        ROOT,
        env,
        stdin='/incident declare "Disk full" sev1\n',
    )
    assert run.returncode == 0, run.stderr
    assert "Installing" not in run.stderr
    assert "#war-room › [INC-1] INCIDENT DECLARED: Disk full" in run.stdout


@pytest.mark.slow
def test_installs_only_when_the_dependencies_changed(tmp_path: Path) -> None:
    """A copy of the scripts with its own small venv: a matching stamp starts without pip;
    a changed constraints.txt attempts the install, which offline fails with one clear
    message and leaves the stamp as it was."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "scripts", repo / "scripts")
    for name in ("pyproject.toml", "constraints.txt", "README.md"):
        shutil.copy(ROOT / name, repo / name)
    subprocess.run([sys.executable, "-m", "venv", str(repo / ".venv")], check=True, timeout=120)
    # Stands in for the installed console script: this test is about the install step.
    entry = repo / ".venv" / "bin" / "incidentbot"
    entry.write_text('#!/bin/sh\necho "incidentbot started: $*"\n')
    entry.chmod(0o755)
    digest = hashlib.sha256(
        (repo / "pyproject.toml").read_bytes() + (repo / "constraints.txt").read_bytes()
    ).hexdigest()
    (repo / ".venv" / ".incidentbot-run").write_text(digest + "\n")
    env = offline_env(tmp_path)

    run = sh("exec ./scripts/run --config my.yaml <&-", repo, env)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "incidentbot started: run --config my.yaml\n"
    assert "Installing" not in run.stderr

    with (repo / "constraints.txt").open("a") as f:
        f.write("# a dependency changed\n")
    run = sh("exec ./scripts/run <&-", repo, env)
    assert run.returncode == 1
    assert "Installing incidentbot into .venv" in run.stderr
    assert "installing the dependencies into .venv failed" in run.stderr
    assert "incidentbot started" not in run.stdout
    assert (repo / ".venv" / ".incidentbot-run").read_text() == digest + "\n"
