"""The console platform: type `/incident …` lines in a terminal (or pipe them in).

Announcements print at the left margin under their channel; everything in an incident's
thread prints indented beneath it, so a terminal reads like the chat would. Reminders
appear while the terminal sits idle.

On a terminal the input line is a prompt_toolkit prompt (line editing, history kept beside
the store) and everything the bot prints lands above it, never inside what is being typed.
Piped input is read line by line. On end of input, `quit`, or once nobody can read the
output any more (a closed pipe), `run()` returns and the app finishes pending work.

Everything printed passes through `safe_text`: user-supplied text cannot send escape
sequences or control characters to the operator's terminal. `/as <name>` switches who the
person at the keyboard acts as (so handing over the IC role does not lock them out).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import re
import sys
import threading
from pathlib import Path
from typing import TextIO

import structlog

from bot.adapters.terminal import GuardedStream, OutputClosed, safe_text
from bot.core.lexing import parse_user
from bot.core.messages import Message, Notice, NoticeKind, Reply
from bot.core.model import Actor, ChannelRef, Incident
from bot.core.service import IncidentService
from bot.errors import DeliveryError, InfraError

log = structlog.get_logger("incidentbot.console")

PLATFORM = "console"
CHANNEL = "console"  # one terminal = one channel holding every incident
_MENTION = re.compile(r"<@!?([^>|]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([^>|\s]+)(?:\|[^>]*)?>")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def plain(text: str) -> str:
    """`<@U1>` -> `@U1`, `<#ops>` -> `#ops`: mentions and channels as a terminal shows them."""
    text = _CHANNEL.sub(lambda m: "#" + m.group(1), text)
    return _MENTION.sub(lambda m: "@" + m.group(1), text)


def default_user() -> str:
    """Who the person at the keyboard is: `$USER`, else the login name of the process
    (never a placeholder: `/incident ic` would hand the role to a user called "you").
    Characters a mention cannot hold become `_`."""
    try:
        name = os.environ.get("USER") or getpass.getuser()
    except (OSError, KeyError):  # no USER/LOGNAME and no passwd entry (a bare container)
        name = f"uid{os.getuid()}"
    return _NOT_NAME.sub("_", name)[:80] or f"uid{os.getuid()}"


def console_actor(name: str) -> Actor:
    """The Actor for a console user name (`carol` or `@carol`); raises ValueError saying
    what a name may hold."""
    actor = parse_user("@" + name.strip().removeprefix("@"))
    if actor is None:
        raise ValueError(
            f"expected a user name like carol (letters, digits, . _ -), got {safe_text(name)!r}"
        )
    return actor


def render(message: Message) -> list[str]:
    """A message as terminal lines (buttons shown as the command they stand for), each
    line safe to print: no escape sequences or control characters survive."""
    title = message.title
    if message.mentions:
        title += "  (" + " ".join(f"@{m}" for m in message.mentions) + ")"
    lines = [title, *(f"{f.label}: {f.value}" for f in message.fields)]
    if message.body:
        lines += message.body.split("\n")
    for b in message.buttons:
        if b.action == "snooze":
            lines.append(f"[{b.label}: /incident snooze {b.value}]")
        elif b.action == "post_update":
            lines.append(f"[{b.label}: /incident update {b.value} <findings> ; <actions>]")
    return [safe_text(plain(x)) for x in lines]


QUIT = ("quit", "exit", "/quit", "/exit")
AS_USAGE = "/as <name>: act as that user from now on (/as alone says who you are)"


class ConsoleAdapter:
    """Reads command lines from `stdin`, prints replies and notices to `out`.

    `stdin`/`out` default to the process's own; with both defaulted and both a terminal,
    input is an interactive prompt (`interactive=False` forces plain lines). `user` is who
    the keyboard acts as (default: `default_user()`); `history` is the prompt's history
    file (in memory when None or not writable).
    """

    platform = PLATFORM

    def __init__(
        self,
        service: IncidentService,
        *,
        channels: dict[str, str],
        stdin: TextIO | None = None,
        out: TextIO | None = None,
        user: str | None = None,
        history: Path | None = None,
        interactive: bool | None = None,
    ) -> None:
        self.service = service
        self.channels = channels
        self.stdin = stdin if stdin is not None else sys.stdin  # None: started with stdin closed
        self.out = GuardedStream(
            (lambda: out) if out is not None else (lambda: sys.stdout),  # patch_stdout swaps it
            strict=True,
            on_close=self._output_closed,
        )
        self.actor = console_actor(user) if user else console_actor(default_user())
        self.where = ChannelRef(PLATFORM, CHANNEL)
        self.history = history
        if interactive is None:
            interactive = (
                stdin is None and out is None and _isatty(sys.stdin) and _isatty(sys.stdout)
            )
        self.interactive = interactive
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._reader: threading.Thread | None = None
        self._write_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._prompt_app: object | None = None  # the running prompt_toolkit Application

    def connected(self) -> bool:
        return not self.out.closed

    # ------------------------------------------------------------------ outbound

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        """Prints the notice; an announcement's thread is the incident key. Once nobody
        can read the output the notice stays in the outbox (DeliveryError): it was not
        shown, so it is shown on the next start instead of being counted as delivered."""
        lines = render(notice.message)
        try:
            if notice.kind is NoticeKind.THREAD:
                self._write(
                    [f"    │ {incident.key} › {lines[0]}", *(f"    │   {x}" for x in lines[1:])]
                )
                return None
            channel = safe_text(self.channels.get(notice.channel, notice.channel))
            self._write(["", f"#{channel} › {lines[0]}", *(f"  {x}" for x in lines[1:])])
        except OutputClosed:
            raise DeliveryError("the console's output is closed; kept for the next start") from None
        if notice.kind is NoticeKind.ANNOUNCE:
            return ChannelRef(PLATFORM, CHANNEL, incident.key)
        return None

    def _write(self, lines: list[str]) -> None:
        """Raises OutputClosed once the reader of the output has gone."""
        with self._write_lock:
            self.out.write("\n".join(lines) + "\n")

    def _say(self, lines: list[str]) -> None:
        """Like `_write` for text nobody must retry: dropped when the output is closed."""
        with contextlib.suppress(OutputClosed):
            self._write(lines)

    def show(self, reply: Reply) -> None:
        if reply.message is not None:
            marker = "✗" if not reply.ok else "→"
            lines = render(reply.message)
            self._say([f"{marker} {lines[0]}", *(f"  {x}" for x in lines[1:])])
        elif reply.modal is not None:
            self._say(
                ["→ (a form would open here; use /incident update INC-n <findings> ; <actions>)"]
            )

    def _output_closed(self) -> None:
        """The output's reader went away (a closed pipe): stop reading input, so the app
        finishes pending work and exits instead of typing into the void."""
        log.info("console.output_closed")
        self._stop_input()

    def _stop_input(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._lines.put_nowait, None)
        app = self._prompt_app
        if app is not None:
            loop.call_soon_threadsafe(_exit_prompt, app)

    # ------------------------------------------------------------------ inbound

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.interactive:
            self._say(
                [
                    f"incidentbot console — you are @{self.actor.id}; type /incident help,"
                    " /as <name> to act as someone else, Ctrl-D to quit"
                ]
            )
            return
        stdin, loop = self.stdin, self._loop

        def pump() -> None:  # a daemon thread: a blocked readline never holds up exit
            try:
                for line in stdin or ():
                    loop.call_soon_threadsafe(self._lines.put_nowait, line)
            except (OSError, ValueError) as exc:  # stdin closed under us: that is EOF too
                log.info("console.stdin_closed", error=type(exc).__name__)
            finally:
                # The loop may be closed by the time EOF comes (the process is exiting).
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._lines.put_nowait, None)

        self._reader = threading.Thread(target=pump, name="console-stdin", daemon=True)
        self._reader.start()

    async def run(self) -> None:
        """Handles lines until end of input, `quit`, or the output closing."""
        if self.interactive:
            await self._prompt_loop()
            return
        while not self.out.closed:
            line = await self._lines.get()
            if line is None or not await self.handle_input(line):
                return

    async def _prompt_loop(self) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, History, InMemoryHistory
        from prompt_toolkit.patch_stdout import patch_stdout

        history: History = InMemoryHistory()
        if self.history is not None:
            try:
                self.history.parent.mkdir(parents=True, exist_ok=True)
                self.history.touch(mode=0o600, exist_ok=True)  # notes may be sensitive
                history = FileHistory(str(self.history))
            except OSError as exc:
                log.warning("console.history_unavailable", path=str(self.history), error=str(exc))
        session: PromptSession[str] = PromptSession(history=history)
        self._prompt_app = session.app
        # raw=True: what we print is already made safe, and log colours must pass through.
        with patch_stdout(raw=True):
            try:
                while not self.out.closed:
                    try:
                        text = await session.prompt_async(lambda: f"{self.actor.id}> ")
                    except (EOFError, KeyboardInterrupt):
                        return
                    if not await self.handle_input(text):
                        return
            finally:
                self._prompt_app = None

    async def handle_input(self, line: str) -> bool:
        """One typed line: a comment, `quit`, `/as`, or a command for the core.
        Returns False when the console should stop."""
        text = line.strip()
        if not text or text.startswith("#"):
            return True
        if text in QUIT:
            return False
        word, _, rest = text.partition(" ")
        if word == "/as":
            self._switch_user(rest.strip())
        else:
            await self.handle_line(text)
        return not self.out.closed

    def _switch_user(self, name: str) -> None:
        if not name:
            self._say([f"→ you are acting as @{self.actor.id}  ({AS_USAGE})"])
            return
        try:
            self.actor = console_actor(name)
        except ValueError as exc:
            self._say([f"✗ /as {exc}"])
            return
        self._say([f"→ you are now acting as @{self.actor.id}"])

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
        """Nothing to close: the reader thread is a daemon, the prompt ended with run()."""


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def _exit_prompt(app: object) -> None:
    exit_ = getattr(app, "exit", None)
    if getattr(app, "is_running", False) and exit_ is not None:
        try:
            exit_(exception=EOFError())
        except Exception:  # already exiting
            log.debug("console.prompt_exit_ignored")
