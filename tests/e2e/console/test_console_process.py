"""The console platform end to end: `incidentbot run` as a real process, driven through a
pipe, with cadences shortened to 4 s by configuration (no clock tricks, no sleeping: the
test waits for the bot's own output)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import time
from pathlib import Path

import pytest

CONFIG = """
channels: {incidents: incidents, incidents_low: incidents-low, ops: ops}
severities:
  SEV1: {update_every: 4s, escalate_after: never}
"""


class Bot:
    """One `incidentbot run` process; collects its stdout lines with arrival times."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[tuple[float, str]] = []
        self._seen = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, tmp: Path) -> Bot:
        env = {**os.environ, "INCIDENTBOT_DATA_DIR": str(tmp / "data"), "USER": "alice"}
        for var in ("SLACK_BOT_TOKEN", "DISCORD_TOKEN", "DATABASE_URL", "PORT"):
            env.pop(var, None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(tmp / "bot.yaml"), "run",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append((time.monotonic(), raw.decode().rstrip("\n")))
            self._seen.set()

    async def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()

    async def expect(
        self, pattern: str, *, after: int = 0, within: float = 10
    ) -> tuple[int, float]:
        """Waits for a line matching `pattern` at index >= `after`; returns (index, time)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + within
        while True:
            for i in range(after, len(self.lines)):
                if rx.search(self.lines[i][1]):
                    return i, self.lines[i][0]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.returncode is not None:
                pytest.fail(f"no line matching {pattern!r}; got:\n{self.text()}")
            self._seen.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._seen.wait(), remaining)

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    async def close(self) -> int:
        """EOF on stdin: the bot finishes pending work and exits."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = await asyncio.wait_for(self.proc.wait(), 30)
        await self._reader
        return code


@pytest.mark.slow
async def test_cadence_update_resolve_and_restart(tmp_path: Path) -> None:
    (tmp_path / "bot.yaml").write_text(CONFIG)
    bot = await Bot.start(tmp_path)
    await bot.send('/incident declare "Checkout API 500s" sev1')
    i, _ = await bot.expect(r"^#incidents › \[INC-1\] INCIDENT DECLARED: Checkout API 500s")
    await bot.expect(r"^#ops › \[INCIDENT\] SEV1 INC-1 - Checkout API 500s\. Investigating\.")
    await bot.expect(r"│ INC-1 › 5-MINUTE TRIAGE", after=i)
    i, _ = await bot.expect(r"│ INC-1 › UPDATE DUE: INC-1", after=i)  # 4 s after declaring

    await bot.send("/incident update pool exhausted ; rolling back")
    i, updated_at = await bot.expect(r"INCIDENT UPDATE: Checkout API 500s", after=i)
    i, reminded_at = await bot.expect(r"│ INC-1 › UPDATE DUE: INC-1", after=i)
    assert reminded_at - updated_at > 3.0  # the update reset the clock to a full cadence

    await bot.send("/incident resolve rolled back 4512")
    i, _ = await bot.expect(r"INCIDENT RESOLVED: Checkout API 500s", after=i)
    await bot.send('/incident declare "Queue backlog" sev1')
    i, _ = await bot.expect(r"INCIDENT DECLARED: Queue backlog", after=i)
    assert await bot.close() == 0  # INC-2's first reminder is still pending

    bot2 = await Bot.start(tmp_path)
    j, _ = await bot2.expect(r"│ INC-2 › UPDATE DUE: INC-2", within=12)  # survived the restart
    await bot2.send("/incident list")
    j, _ = await bot2.expect(r"1 open incident, newest first", after=j)
    await bot2.expect(r"INC-2\s+SEV1", after=j)
    assert await bot2.close() == 0
    assert "UPDATE DUE: INC-1" not in bot2.text()  # resolved: never reminded again
    assert "INC-1" not in bot2.text().split("1 open incident, newest first")[1]
