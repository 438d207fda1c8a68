"""`incidentbot run` as a real process with its input and output piped, closed or cut
short, as a new user (and an attacker) would run it: a closed stdout, stdin closed
before start, hostile titles, acting as someone else, `--config` after `run`, and where
the SQLite file lives."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.e2e.console.test_console_process import Bot

ROOT = Path(__file__).resolve().parents[3]
CONFIG = "channels: {incidents: war-room, incidents_low: incidents-low, ops: ops}\n"


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "INCIDENTBOT_DATA_DIR": str(tmp / "data"), "USER": "alice", **extra}
    for var in ("SLACK_BOT_TOKEN", "DISCORD_TOKEN", "DATABASE_URL", "PORT", "LOG_LEVEL"):
        env.pop(var, None)
    return env


def bot(
    tmp: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`incidentbot <args>` fed `stdin`; fails the test if it does not exit within 60 s."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env or _env(tmp),
        cwd=tmp,
        check=False,
    )


def db_rows(tmp: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp / "data" / "incidentbot.sqlite3") as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.parametrize("stderr_too", [True, False], ids=["2>&1", "stdout-only"])
async def test_a_closed_stdout_finishes_closes_the_store_and_exits(
    tmp_path: Path, stderr_too: bool
) -> None:
    """`echo … | incidentbot run 2>&1 | head -3` used to hang forever joining the
    aiosqlite thread; now it exits 0 with the declaration stored."""
    redirect = "2>&1" if stderr_too else "2>err.txt"
    pipeline = (
        f"echo '/incident declare x sev1' | {sys.executable} -m bot run {redirect} | head -3;"
        " echo status=${PIPESTATUS[1]}"
    )
    run = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", pipeline],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(tmp_path),
        cwd=tmp_path,
        check=False,
    )
    lines = run.stdout.splitlines()
    assert lines[-1] == "status=0", run.stdout + run.stderr
    assert len(lines) == 4  # head's three, then the status
    err = (tmp_path / "err.txt").read_text() if not stderr_too else run.stderr
    assert "Traceback" not in err and "Exception ignored" not in err
    assert db_rows(tmp_path, "SELECT number, title FROM incidents") == [(1, "x")]


async def test_output_closed_while_input_stays_open_stops_and_keeps_unshown_notices(
    tmp_path: Path,
) -> None:
    """Nobody reads the output any more but stdin is still open: the bot notices at the
    next write, stops reading, finishes and exits 0. What it could not show is not marked
    delivered; the next start shows it."""
    (tmp_path / "bot.yaml").write_text(CONFIG)

    def first_run() -> tuple[int, str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(tmp_path / "bot.yaml"), "run"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=_env(tmp_path), cwd=tmp_path,
        )  # fmt: skip
        watchdog = threading.Timer(60, proc.kill)  # a hang fails the test, never the suite
        watchdog.start()
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            proc.stdin.write("/incident declare x sev1\n")
            proc.stdin.flush()
            for line in proc.stdout:
                if "INCIDENT DECLARED: x" in line:
                    break
            proc.stdout.close()  # nobody reads its output any more
            proc.stdin.write('/incident declare "Never shown" sev1\n')
            proc.stdin.flush()
            code = proc.wait()  # stdin stays open
            return code, proc.stderr.read()
        finally:
            watchdog.cancel()
            proc.stdin.close()
            proc.stderr.close()

    code, err = await asyncio.to_thread(first_run)
    assert code == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert db_rows(tmp_path, "SELECT number, title FROM incidents") == [
        (1, "x"),
        (2, "Never shown"),
    ]
    pending = db_rows(tmp_path, "SELECT count(*) FROM notices WHERE incident = 2")[0][0]
    assert isinstance(pending, int) and pending > 0

    again = await Bot.start(tmp_path)
    await again.expect(r"^#war-room › \[INC-2\] INCIDENT DECLARED: Never shown")
    await again.expect(r"│ INC-2 › 5-MINUTE TRIAGE: INC-2")
    assert await again.close() == 0
    assert db_rows(tmp_path, "SELECT count(*) FROM notices") == [(0,)]


def test_closed_stdin_starts_and_exits_cleanly(tmp_path: Path) -> None:
    run = subprocess.run(
        ["bash", "-c", f"exec {sys.executable} -m bot run <&-"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(tmp_path),
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert f"incidentbot: store: SQLite {tmp_path / 'data' / 'incidentbot.sqlite3'}" in run.stderr


def test_escape_sequences_in_user_text_never_reach_the_terminal(tmp_path: Path) -> None:
    hostile = "\x1b]0;pwned\x07\x1b[31mCheckout\x1b[0m down\r\x1b[2J\x9b1;1H\u202eevil"
    script = (
        f'/incident declare "{hostile}" sev2\n'
        f"/incident note {hostile}\n"
        "/incident timeline\n"
        "/as \x1b[31mmallory\n"
    )
    run = bot(tmp_path, "run", stdin=script)
    assert run.returncode == 0, run.stderr
    out = run.stdout + run.stderr
    for bad in ("\x1b", "\x9b", "\r", "\x07", "\u202e"):
        assert bad not in out
    assert "INCIDENT DECLARED: Checkout down\ufffd" in run.stdout
    assert "Checkout down\ufffd\ufffdevil" in run.stdout  # the note, in the timeline
    assert "✗ /as expected a user name like carol" in run.stdout
    # Stored as typed: only what reaches the terminal is made safe.
    assert db_rows(tmp_path, "SELECT title FROM incidents") == [(hostile,)]


def test_the_keyboard_can_act_as_someone_else(tmp_path: Path) -> None:
    """Handing the IC role over must not lock the only person at the keyboard out."""
    script = "\n".join(
        [
            '/incident declare "Checkout API 500s" sev1',
            "/incident ic @bob",
            "/incident resolve fixed",  # alice is no longer a responder: refused
            "/as",
            "/as bob",
            "/incident resolve fixed",
        ]
    )
    run = bot(tmp_path, "run", stdin=script + "\n")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "✗ Only INC-1's responders may do that" in out
    assert "→ you are acting as @alice" in out
    assert "→ you are now acting as @bob" in out
    assert "INCIDENT RESOLVED: Checkout API 500s" in out
    assert db_rows(tmp_path, "SELECT status FROM incidents") == [("resolved",)]


def test_user_option_and_no_placeholder_when_user_is_unset(tmp_path: Path) -> None:
    declare = '/incident declare "Queue backlog" sev2\n'
    run = bot(tmp_path, "run", "--user", "carol", stdin=declare)
    assert run.returncode == 0, run.stderr
    assert "Commander: @carol" in run.stdout
    env = _env(tmp_path)
    for var in ("USER", "LOGNAME", "LNAME", "USERNAME"):
        env.pop(var, None)
    run = bot(tmp_path, "run", stdin=declare, env=env)
    assert run.returncode == 0, run.stderr
    assert "Commander: @you" not in run.stdout
    import pwd

    assert f"Commander: @{pwd.getpwuid(os.getuid()).pw_name}" in run.stdout
    bad = bot(tmp_path, "run", "--user", "carol smith", stdin=declare)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "incidentbot run: --user: expected a user name like carol (letters, digits, . _ -),"
        " got 'carol smith'"
    ]


def test_config_may_follow_the_command(tmp_path: Path) -> None:
    (tmp_path / "my.yaml").write_text(CONFIG)
    run = bot(tmp_path, "run", "--config", "my.yaml", stdin='/incident declare "Disk full" sev1\n')
    assert run.returncode == 0, run.stderr
    assert "#war-room › [INC-1] INCIDENT DECLARED: Disk full" in run.stdout
    check = bot(tmp_path, "check-config", "--config", "nope.yaml")
    assert check.returncode == 2 and "nope.yaml" in check.stderr


def test_report_reads_the_same_database_from_any_directory(tmp_path: Path) -> None:
    """The default store is `data/` of the checkout, not of the current directory; and
    `report` never creates a database, naming the one it looked for."""
    env = _env(tmp_path)
    env.pop("INCIDENTBOT_DATA_DIR")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    default_db = ROOT / "data" / "incidentbot.sqlite3"
    existed = default_db.exists()
    run = subprocess.run(
        [sys.executable, "-m", "bot", "report", "INC-999999999"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=elsewhere,
        check=False,
    )
    assert run.returncode == 2
    if existed:
        assert f"reading SQLite {default_db}" in run.stderr
        assert f"INC-999999999 does not exist in SQLite {default_db}" in run.stderr
    else:
        assert f"no database at {default_db}" in run.stderr
        assert not default_db.exists()
    assert not (elsewhere / "data").exists()

    # An explicit data directory that holds nothing: an error, and nothing is created.
    missing = bot(tmp_path, "report", "INC-1", env=_env(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert f"no database at {tmp_path / 'nowhere' / 'data' / 'incidentbot.sqlite3'}" in (
        missing.stderr
    )
    assert not (tmp_path / "nowhere").exists()


async def test_hangup_finishes_like_sigterm(tmp_path: Path) -> None:
    """The terminal closing (SIGHUP) stops the bot cleanly: exit 0, not killed by it."""
    (tmp_path / "bot.yaml").write_text(CONFIG)
    proc = await Bot.start(tmp_path)
    await proc.send('/incident declare "Checkout API 500s" sev1')
    await proc.expect(r"^#war-room › \[INC-1\] INCIDENT DECLARED: Checkout API 500s")
    proc.proc.send_signal(signal.SIGHUP)
    assert await asyncio.wait_for(proc.proc.wait(), 30) == 0
    assert db_rows(tmp_path, "SELECT title FROM incidents") == [("Checkout API 500s",)]
