"""Several real `incidentbot run --platform console` processes sharing one PostgreSQL schema,
for the scale-out tests and the replicas benchmark.

Each replica is driven through its stdin pipe; every line it prints is kept with the wall
time it arrived (so it can be compared with the store's UTC timestamps). The console prints
what *that* process delivers, so the union of the replicas' outputs is what the chat saw.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# `    │ INC-7 › UPDATE DUE: INC-7 <title>`: the first line of a delivered reminder.
REMINDER = re.compile(r"│ INC-(\d+) › UPDATE DUE: INC-\1\b")
DECLARED = re.compile(r"^→ INC-(\d+) declared \(SEV\d\): (.*?)\. Announced in")


def replica_config(
    *, update_every: str = "2s", lease: str = "3s", max_idle: str = "1s", extra: str = ""
) -> str:
    """SEV1 reminders every `update_every`, no timed or missed-update escalation."""
    return (
        "channels: {incidents: incidents, incidents_low: incidents-low, ops: ops}\n"
        f"severities:\n  SEV1: {{update_every: {update_every}, escalate_after: never}}\n"
        "escalation: {missed_updates: 0}\n"
        f"scheduler: {{lease: {lease}, max_idle: {max_idle}}}\n"
        "on_declare: []\n" + extra
    )


@dataclass(frozen=True, slots=True)
class Line:
    at: float  # time.time() when the line was read from the pipe
    text: str


class Replica:
    """One bot process; `lines` grows as it prints, `changed` fires on every new line."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, changed: asyncio.Event):
        self.name = name
        self.proc = proc
        self.lines: list[Line] = []
        self.errors: list[str] = []
        self._changed = changed
        self._readers = [
            asyncio.ensure_future(self._read(proc.stdout, self.lines)),
            asyncio.ensure_future(self._read_err()),
        ]

    @classmethod
    async def start(
        cls, name: str, *, dsn: str, config: Path, data_dir: Path, changed: asyncio.Event
    ) -> Replica:
        env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "INCIDENTBOT_DATA_DIR": str(data_dir),
            "REPLICA_ID": name,
            "USER": "alice",
            "LOG_FORMAT": "json",
        }
        for var in ("SLACK_BOT_TOKEN", "DISCORD_TOKEN", "PORT", "INCIDENTBOT_CONFIG"):
            env.pop(var, None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(config), "run", "--platform", "console",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, cwd=ROOT,
        )  # fmt: skip
        return cls(name, proc, changed)

    async def _read(self, stream: asyncio.StreamReader | None, into: list[Line]) -> None:
        assert stream is not None
        async for raw in stream:
            into.append(Line(time.time(), raw.decode().rstrip("\n")))
            self._changed.set()

    async def _read_err(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.errors.append(raw.decode().rstrip("\n"))

    async def send(self, lines: Iterable[str]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(f"{x}\n" for x in lines).encode())
        await self.proc.stdin.drain()

    def matching(self, rx: re.Pattern[str]) -> list[tuple[Line, re.Match[str]]]:
        return [(ln, m) for ln in list(self.lines) if (m := rx.search(ln.text))]

    def signal(self, sig: signal.Signals) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)

    async def kill(self) -> None:
        """SIGKILL: no clean shutdown, claims stay in the store until their lease ends."""
        self.signal(signal.SIGKILL)
        await self.proc.wait()
        await asyncio.gather(*self._readers)

    async def close(self, within: float = 30) -> int:
        """EOF on stdin: the bot finishes pending work, releases its claims and exits."""
        if self.proc.returncode is None and self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            code = await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            self.signal(signal.SIGKILL)
            code = await self.proc.wait()
        await asyncio.gather(*self._readers)
        return code

    def text(self) -> str:
        return "\n".join(ln.text for ln in self.lines)


class Replicas:
    """The running replicas, and waiting on their combined output."""

    def __init__(self, members: list[Replica], changed: asyncio.Event, dsn: str) -> None:
        self.members = members
        self.dsn = dsn
        self._changed = changed

    @classmethod
    async def start(cls, n: int, *, dsn: str, config: Path, data_dir: Path) -> Replicas:
        changed = asyncio.Event()
        members = await asyncio.gather(
            *(
                Replica.start(f"r{i}", dsn=dsn, config=config, data_dir=data_dir, changed=changed)
                for i in range(n)
            )
        )
        return cls(list(members), changed, dsn)

    async def wait_until(self, done: Callable[[], bool], within: float, what: str) -> None:
        """Waits (bounded) for `done()` to hold, re-checking whenever any replica prints."""
        deadline = time.monotonic() + within
        while not done():
            remaining = deadline - time.monotonic()
            dead = [r.name for r in self.members if r.proc.returncode not in (None, -9)]
            if remaining <= 0 or dead:
                raise AssertionError(
                    f"timed out waiting for {what} (exited: {dead})\n{self.dump()}"
                )
            self._changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    async def first_line(
        self, among: list[Replica], text: str, after: float, within: float
    ) -> Line:
        """The first line containing `text` that one of `among` printed after `after`."""

        def find() -> Line | None:
            hits = [ln for r in among for ln in list(r.lines) if ln.at > after and text in ln.text]
            return min(hits, key=lambda ln: ln.at) if hits else None

        await self.wait_until(lambda: find() is not None, within, repr(text))
        found = find()
        assert found is not None
        return found

    async def quiet(self, seconds: float = 0.3, bound: float = 3.0) -> None:
        """Returns once no replica printed for `seconds` (used while they are all stopped,
        so what they wrote before stopping has been read off the pipes)."""
        end = time.monotonic() + bound
        while time.monotonic() < end:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), seconds)
            except TimeoutError:
                return

    def reminders(self) -> dict[str, dict[int, list[float]]]:
        """Replica name -> incident -> wall times of the reminders it delivered."""
        out: dict[str, dict[int, list[float]]] = {}
        for r in self.members:
            per: dict[int, list[float]] = {}
            for line, m in r.matching(REMINDER):
                per.setdefault(int(m.group(1)), []).append(line.at)
            out[r.name] = per
        return out

    def declared(self) -> dict[str, int]:
        """Title -> the incident number its declaration reply named."""
        return {m.group(2): int(m.group(1)) for r in self.members for _, m in r.matching(DECLARED)}

    async def close(self) -> list[int]:
        return list(await asyncio.gather(*(r.close() for r in self.members)))

    def dump(self, tail: int = 15) -> str:
        parts = []
        for r in self.members:
            lines = [ln.text for ln in r.lines[-tail:]] + r.errors[-tail:]
            parts.append(f"--- {r.name} (rc={r.proc.returncode})\n" + "\n".join(lines))
        return "\n".join(parts)
