"""The console platform: type `/incident …` lines in a terminal (or pipe them in).

Announcements print at the left margin under their channel; everything in an incident's
thread prints indented beneath it, so a terminal reads like the chat would. Reminders
appear while the terminal sits idle. On EOF, `run()` returns once pending work is done.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
from typing import TextIO

import structlog

from bot.core.messages import Message, Notice, NoticeKind, Reply
from bot.core.model import Actor, ChannelRef, Incident
from bot.core.service import IncidentService
from bot.errors import InfraError

log = structlog.get_logger("incidentbot.console")

PLATFORM = "console"
CHANNEL = "console"  # one terminal = one channel holding every incident
_MENTION = re.compile(r"<@!?([^>|]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([^>|\s]+)(?:\|[^>]*)?>")


def plain(text: str) -> str:
    """`<@U1>` -> `@U1`, `<#ops>` -> `#ops`: mentions and channels as a terminal shows them."""
    text = _CHANNEL.sub(lambda m: "#" + m.group(1), text)
    return _MENTION.sub(lambda m: "@" + m.group(1), text)


def render(message: Message) -> list[str]:
    """A message as terminal lines (buttons shown as the command they stand for)."""
    title = message.title
    if message.mentions:
        title += "  (" + " ".join(f"@{m}" for m in message.mentions) + ")"
    lines = [title, *(f"{f.label}: {f.value}" for f in message.fields)]
    if message.body:
        lines += message.body.split("\n")
    lines = [plain(x) for x in lines]
    for b in message.buttons:
        if b.action == "snooze":
            lines.append(f"[{b.label}: /incident snooze {b.value}]")
        elif b.action == "post_update":
            lines.append(f"[{b.label}: /incident update {b.value} <findings> ; <actions>]")
    return lines


class ConsoleAdapter:
    """Reads command lines from `stdin`, prints replies and notices to `out`."""

    platform = PLATFORM

    def __init__(
        self,
        service: IncidentService,
        *,
        channels: dict[str, str],
        stdin: TextIO | None = None,
        out: TextIO | None = None,
        user: str | None = None,
    ) -> None:
        self.service = service
        self.channels = channels
        self.stdin = stdin or sys.stdin
        self.out = out or sys.stdout
        name = user or os.environ.get("USER") or "you"
        self.actor = Actor(name, name)
        self.where = ChannelRef(PLATFORM, CHANNEL)
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._reader: threading.Thread | None = None
        self._write_lock = threading.Lock()

    def connected(self) -> bool:
        return True

    # ------------------------------------------------------------------ outbound

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        """Prints the notice; an announcement's thread is the incident key."""
        lines = render(notice.message)
        if notice.kind is NoticeKind.THREAD:
            self._write(
                [f"    │ {incident.key} › {lines[0]}", *(f"    │   {x}" for x in lines[1:])]
            )
            return None
        channel = self.channels.get(notice.channel, notice.channel)
        self._write(["", f"#{channel} › {lines[0]}", *(f"  {x}" for x in lines[1:])])
        if notice.kind is NoticeKind.ANNOUNCE:
            return ChannelRef(PLATFORM, CHANNEL, incident.key)
        return None

    def _write(self, lines: list[str]) -> None:
        with self._write_lock:
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()

    def show(self, reply: Reply) -> None:
        if reply.message is not None:
            marker = "✗" if not reply.ok else "→"
            lines = render(reply.message)
            self._write([f"{marker} {lines[0]}", *(f"  {x}" for x in lines[1:])])
        elif reply.modal is not None:
            self._write(
                ["→ (a form would open here; use /incident update INC-n <findings> ; <actions>)"]
            )

    # ------------------------------------------------------------------ inbound

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def pump() -> None:  # a daemon thread: a blocked readline never holds up exit
            for line in self.stdin:
                loop.call_soon_threadsafe(self._lines.put_nowait, line)
            loop.call_soon_threadsafe(self._lines.put_nowait, None)

        self._reader = threading.Thread(target=pump, name="console-stdin", daemon=True)
        self._reader.start()
        if self.stdin.isatty():
            self._write(["incidentbot console — type /incident help (Ctrl-D to quit)"])

    async def run(self) -> None:
        """Handles lines until EOF or `quit`."""
        while True:
            line = await self._lines.get()
            if line is None:
                return
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if text in ("quit", "exit", "/quit", "/exit"):
                return
            await self.handle_line(text)

    async def handle_line(self, text: str) -> None:
        """One line through the core; the one error boundary of the console."""
        try:
            reply = await self.service.handle_text(text, self.actor, self.where)
        except InfraError as exc:
            log.error("command.failed", error=str(exc)[:300])
            reply = Reply.error("Something went wrong on our side; the error is logged. Try again.")
        except Exception as exc:
            log.exception("command.crashed", error=type(exc).__name__)
            reply = Reply.error("Something went wrong on our side; the error is logged. Try again.")
        self.show(reply)

    async def aclose(self) -> None:
        """Nothing to close: the reader thread is a daemon."""
