"""The interactive console on a real pseudo-terminal: `incidentbot run` under pexpect, its
output fed to a VT100 emulator (pyte) so the test reads the screen a person would see.

A reminder that fires while someone is half-way through typing a line must print above
the prompt and leave the prompt line, with what was typed so far, intact; the line then
finishes as typed. History (Up) and `/as` change what the prompt shows."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pyte
import pytest

CONFIG = """
channels: {incidents: incidents, incidents_low: incidents-low, ops: ops}
severities:
  SEV1: {update_every: 6s, escalate_after: never}
"""
ROWS, COLS = 40, 120


class Terminal:
    """A child process on a pty, and the screen it has drawn so far."""

    def __init__(self, tmp: Path) -> None:
        env = {**os.environ, "INCIDENTBOT_DATA_DIR": str(tmp / "data"), "USER": "alice"}
        env["TERM"] = "xterm"
        for var in ("SLACK_BOT_TOKEN", "DISCORD_TOKEN", "DATABASE_URL", "PORT"):
            env.pop(var, None)
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.Stream(self.screen)
        self.raw = ""
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "bot", "--config", str(tmp / "bot.yaml"), "run"],
            env=env,
            cwd=str(tmp),
            dimensions=(ROWS, COLS),
            encoding="utf-8",
            codec_errors="replace",
        )
        # Answer the terminal's queries (cursor position reports) like a real terminal.
        self.screen.write_process_input = self.child.send  # type: ignore[method-assign]

    def rows(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def cursor_row(self) -> str:
        return self.rows()[self.screen.cursor.y]

    def wait(self, what: str, cond: Callable[[], bool], within: float = 20) -> None:
        """Reads output until `cond()` holds; fails naming `what` and showing the screen."""
        deadline = time.monotonic() + within
        while not cond():
            if time.monotonic() > deadline or not self.child.isalive():
                pytest.fail(f"timed out waiting for {what}; screen:\n" + "\n".join(self.rows()))
            try:
                data = self.child.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                continue
            self.raw += data
            self.stream.feed(data)

    def wait_prompt(self, text: str) -> None:
        self.wait(f"the prompt {text!r}", lambda: self.cursor_row() == text)

    def close(self) -> int:
        self.child.expect(pexpect.EOF, timeout=30)
        self.child.close()
        assert self.child.exitstatus is not None
        return self.child.exitstatus


@pytest.mark.slow
def test_reminder_prints_above_the_prompt_and_the_typed_line_survives(tmp_path: Path) -> None:
    (tmp_path / "bot.yaml").write_text(CONFIG)
    term = Terminal(tmp_path)
    term.wait_prompt("alice>")
    assert any("incidentbot console — you are @alice" in r for r in term.rows())

    term.child.send('/incident declare "Checkout API 500s" sev1\r')
    term.wait("the announcement", lambda: any("INCIDENT DECLARED" in r for r in term.rows()))
    term.wait_prompt("alice>")

    half = "alice> /incident note half-typed"
    term.child.send("/incident note half-typed")
    term.wait_prompt(half)
    typed_at = len(term.raw)
    term.wait("a reminder while typing", lambda: "UPDATE DUE: INC-1" in term.raw[typed_at:])
    term.wait_prompt(half)  # redrawn after the reminder

    rows = term.rows()
    prompt_y = term.screen.cursor.y
    reminder_y = max(i for i, r in enumerate(rows) if "UPDATE DUE: INC-1" in r)
    assert reminder_y < prompt_y, "\n".join(rows)
    assert term.screen.cursor.x == len(half)
    assert [r for r in rows if "half-typed" in r] == [half]  # only on the prompt line
    assert all(not r.startswith("alice>") for r in rows[reminder_y:prompt_y])

    term.child.send(" still here\r")
    term.wait_prompt("alice>")
    term.child.send("/incident timeline\r")
    term.wait(
        "the timeline",
        lambda: any("note" in r and "half-typed still here (by alice)" in r for r in term.rows()),
    )
    term.wait_prompt("alice>")

    term.child.send("\x1b[A")  # Up: the previous line from the history
    term.wait_prompt("alice> /incident timeline")
    term.child.send("\x15/as bob\r")  # Ctrl-U clears the line
    term.wait_prompt("bob>")
    # printed through the prompt's stdout proxy, which may land just after the redraw
    term.wait(
        "the /as reply", lambda: any("→ you are now acting as @bob" in r for r in term.rows())
    )
    term.wait_prompt("bob>")
    term.child.send("\x04")  # Ctrl-D on an empty line: quit
    assert term.close() == 0
    history = tmp_path / "data" / "console_history"
    assert "/incident note half-typed still here" in history.read_text()
    assert history.stat().st_mode & 0o077 == 0  # notes may be sensitive: owner only
