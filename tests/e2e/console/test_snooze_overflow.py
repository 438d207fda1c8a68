"""`/incident snooze INC-1 99999999999w` in a running console bot: a one-line error for the
typist, no traceback, and the bot keeps serving (it used to raise OverflowError)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path


async def test_an_overflowing_snooze_is_refused_and_the_bot_carries_on(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
    env.update(INCIDENTBOT_DATA_DIR=str(tmp_path), USER="alice")
    env.pop("DATABASE_URL", None)
    env.pop("PORT", None)
    lines = "declare Disk full sev2\nsnooze INC-1 99999999999w\nsnooze INC-1 53w\nlist\n"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(lines.encode()), 120)
    text, log = out.decode(), err.decode()
    assert proc.returncode == 0, log
    assert "expected a duration of at most 365d, got '99999999999w'" in text, text
    assert "expected a duration of at most 365d, got '53w'" in text, text
    assert "INC-1" in text.split("got '53w'")[1]  # `list` still answered afterwards
    assert "Traceback" not in log and "Traceback" not in text, log
