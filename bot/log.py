"""structlog setup: readable in a terminal, JSON in production, secrets redacted everywhere.

Redaction runs as the last processor before rendering, over every value of the event, so a
secret cannot slip through a field name nobody thought of: configured secret values are
replaced verbatim and anything shaped like a credential (URL passwords, Slack tokens,
bearer tokens) is masked. Records the SDKs write through stdlib `logging` go through the
same processors and renderer (JSON in production), exception text included.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

import structlog
from pydantic import BaseModel, SecretStr

_PATTERNS = (
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s/]+)@"), r"\1***@"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}"), "xox*-***"),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"), "xapp-***"),
    (re.compile(r"(?i)\b(basic|bearer|bot|geniekey|token)\s+[A-Za-z0-9._~+/=-]{12,}"), r"\1 ***"),
    (re.compile(r"(?i)([?&](?:token|key|api_key|apikey|secret|password|sig)=)[^&\s]+"), r"\1***"),
)


class Redactor:
    """Masks known secret values and credential-shaped text in strings."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text

    def processor(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            if isinstance(value, str):
                event[key] = self(value)
            elif not isinstance(value, int | float | bool) and value is not None:
                event[key] = self(repr(value))
        return event


def secret_values(settings: BaseModel) -> list[str]:
    """Every `SecretStr` value of `settings`. For a URL with a password (a DSN) that is the
    password, as given and percent-decoded: drivers quote it alone, and the rest of the URL
    (host, database) stays readable in logs."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if not isinstance(value, SecretStr):
            continue
        raw = value.get_secret_value()
        try:
            password = urlsplit(raw).password
        except ValueError:
            password = None
        found += [password, unquote(password)] if password else [raw]
    return found


def configure(
    *,
    fmt: str = "auto",
    level: str = "info",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> Redactor:
    """Configures structlog (and stdlib logging of the SDKs) once, for the whole process."""
    stream = stream or sys.stderr
    redactor = Redactor(secrets)
    json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    lvl = logging.getLevelName(level.upper())
    if not isinstance(lvl, int):
        lvl = logging.INFO
    common: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *common, redactor.processor, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.addFilter(_StdlibRedaction(redactor))
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *common, _redacted_exception],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redactor.processor,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(lvl, logging.WARNING))
    return redactor


def _redacted_exception(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A stdlib record's exception, as the redaction filter left it, into the event."""
    record = event.get("_record")
    text = getattr(record, "exc_text", None)
    if text and "exception" not in event:
        event["exception"] = text
    return event


class _StdlibRedaction(logging.Filter):
    """Redacts a stdlib record before any formatter sees it: message, arguments, exception
    and stack text (a handler added later without our formatter still gets clean text)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redactor(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        return True
