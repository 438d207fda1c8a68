"""Logs never carry a secret: structlog events, stdlib records from SDKs and exception text.

`configure` is given what `incidentbot` gives it (`secret_values(Settings)`), the output
is captured, and the Slack token and the DSN password must appear nowhere in it.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from bot.log import configure, secret_values
from bot.settings import Settings

TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
APP_TOKEN = "xapp-1-A0123456789-0123456789012-abcdef0123456789"
PASSWORD = "hunter2-Very-Secret"
DSN = f"postgresql://incidentbot:{PASSWORD}@db.internal:5432/incidentbot"
DISCORD = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE.abcdefghijklmnopqrstuvwxyz0123"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


def _settings() -> Settings:
    return Settings(
        slack_bot_token=TOKEN,
        slack_app_token=APP_TOKEN,
        discord_token=DISCORD,
        database_url=DSN,
    )


def _emit_everything() -> None:
    log = structlog.get_logger("incidentbot.test")
    log.info("slack.call", token=TOKEN, dsn=DSN, incident="INC-3")
    log.warning(f"event text with {TOKEN} inside")
    log.warning("driver.said", detail=f"password {PASSWORD} was rejected")  # password alone
    log.warning("nested", data={"headers": {"Authorization": f"Bearer {TOKEN}"}, "url": DSN})
    try:
        raise ConnectionError(f"cannot connect to {DSN} with {TOKEN}")
    except ConnectionError:
        log.exception("store.failed", incident="INC-3")
    # What an SDK does: stdlib logging, %-args, and an exception with the secret in it.
    logging.getLogger("slack_sdk.web").warning("auth failed for token %s", TOKEN)
    logging.getLogger("discord.http").error("login failed: %s", DISCORD)
    try:
        raise RuntimeError(f"connect({DSN!r}) failed: password {PASSWORD}")
    except RuntimeError:
        logging.getLogger("asyncpg.pool").error("pool error", exc_info=True)


@pytest.mark.usefixtures("restore_logging")
def test_json_logs_never_contain_a_token_or_a_dsn_password() -> None:
    out = io.StringIO()
    configure(fmt="json", level="info", secrets=secret_values(_settings()), stream=out)
    _emit_everything()
    text = out.getvalue()

    for secret in (TOKEN, APP_TOKEN, PASSWORD, DISCORD):
        assert secret not in text
    records = [json.loads(line) for line in text.splitlines()]  # every line is one JSON event
    events = {r["event"] for r in records}
    assert {"slack.call", "driver.said", "store.failed", "pool error"} <= events
    by_event = {r["event"]: r for r in records}
    assert by_event["slack.call"]["incident"] == "INC-3"
    assert "***" in by_event["slack.call"]["token"]
    assert by_event["slack.call"]["dsn"].startswith("postgresql://incidentbot:***@db.internal")
    # Exceptions are kept (so they can be debugged), with the secrets masked.
    assert "ConnectionError: cannot connect to" in by_event["store.failed"]["exception"]
    assert "RuntimeError: connect(" in by_event["pool error"]["exception"]
    assert by_event["pool error"]["logger"] == "asyncpg.pool"
    assert by_event["pool error"]["level"] == "error"


@pytest.mark.usefixtures("restore_logging")
def test_terminal_logs_are_readable_and_redacted_too() -> None:
    out = io.StringIO()
    configure(fmt="console", level="info", secrets=secret_values(_settings()), stream=out)
    _emit_everything()
    text = out.getvalue()
    for secret in (TOKEN, APP_TOKEN, PASSWORD, DISCORD):
        assert secret not in text
    assert "slack.call" in text
    assert not text.lstrip().startswith("{")  # key=value lines, not JSON


def test_secret_values_collect_every_secret_field_and_the_dsn_password() -> None:
    values = secret_values(_settings())
    assert {TOKEN, APP_TOKEN, DISCORD, PASSWORD} <= set(values)
    assert DSN not in values  # host and database stay readable; the password goes
    assert secret_values(Settings(database_url="sqlite:///x.db")) == ["sqlite:///x.db"]
