"""What the console needs from a terminal: text that is safe to print, and streams that
survive their reader going away.

`safe_text` is applied to every line the console prints, because titles, notes and names
are typed by anyone: an escape sequence in a title must not recolour, clear or retitle the
operator's terminal, and a carriage return or a bidi override must not make one line look
like another. `GuardedStream` turns a closed pipe (`incidentbot run | head -3`) into a flag
instead of an exception in the middle of a shutdown.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Callable
from typing import TextIO

REPLACEMENT = "\ufffd"

# ECMA-48 sequences, removed whole: CSI (ESC [ or the 8-bit CSI), OSC/DCS/SOS/PM/APC strings
# up to their terminator (or the end of the text), and the two-byte escapes.
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"
)
# What is left that a terminal would act on: C0 (but tab), DEL, C1, and the bidi controls
# that reorder what is shown (U+202A-U+202E, U+2066-U+2069).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe_text(text: str) -> str:
    """`text` as one printable line: escape sequences removed, tabs and line breaks as a
    space, any other control character as U+FFFD. Idempotent; plain text is unchanged."""
    text = _ANSI.sub("", text)
    text = text.replace("\t", " ").replace("\r\n", " ").replace("\n", " ")
    return _CONTROL.sub(REPLACEMENT, text)


def _is_closed_pipe(exc: BaseException) -> bool:
    if isinstance(exc, BrokenPipeError | ConnectionResetError):
        return True
    if isinstance(exc, ValueError):  # "I/O operation on closed file"
        return True
    return isinstance(exc, OSError) and exc.errno in (errno.EPIPE, errno.EBADF)


class OutputClosed(Exception):
    """The reader of a stream went away; nothing written to it can be seen any more."""


class GuardedStream:
    """A text stream that stops writing, instead of raising, once its reader is gone.

    `target` is called for each write, so a stream swapped at run time (prompt_toolkit's
    `patch_stdout` replaces `sys.stdout`/`sys.stderr`) is followed. After the first broken
    pipe `closed` is True, the file descriptor is pointed at /dev/null (so the
    interpreter's final flush cannot fail either) and later writes are dropped.
    `strict=True` raises `OutputClosed` instead of dropping, for callers that must know.
    """

    def __init__(
        self,
        target: Callable[[], TextIO],
        *,
        strict: bool = False,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._target = target
        self._strict = strict
        self._on_close = on_close
        self.closed = False

    def write(self, text: str) -> int:
        if not self.closed:
            stream = self._target()
            try:
                stream.write(text)
                stream.flush()
                return len(text)
            except (OSError, ValueError) as exc:
                if not _is_closed_pipe(exc):
                    raise
                self._close(stream)
        if self._strict:
            raise OutputClosed
        return len(text)

    def flush(self) -> None:
        if self.closed:
            return
        stream = self._target()
        try:
            stream.flush()
        except (OSError, ValueError) as exc:
            if not _is_closed_pipe(exc):
                raise
            self._close(stream)

    def isatty(self) -> bool:
        if self.closed:
            return False
        try:
            return self._target().isatty()
        except (OSError, ValueError):
            return False

    def _close(self, stream: TextIO) -> None:
        self.closed = True
        silence(stream)
        if self._on_close is not None:
            self._on_close()


def silence(stream: TextIO) -> None:
    """Points `stream`'s file descriptor at /dev/null (when it has one), so buffered text
    that can no longer be delivered is discarded instead of failing the next flush."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)
