"""Malformed and unauthenticated requests to the bot's HTTP server (SPEC §7): `incidentbot run`
as a real process in Slack HTTP mode against FakeSlack, attacked over loopback.

Every refusal is 400, 401 or 413 and the process's log (its stderr, JSON) holds one warning
line per refusal and no traceback. The signature is checked before the body is parsed, so
an unsigned request is 401 whatever its body; a correctly signed but malformed one is 400.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from tests.fakes.slack import FakeSlack

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass
class BotProcess:
    """`python -m bot run` in Slack HTTP mode; `log` is its stderr once it has stopped."""

    url: str
    proc: asyncio.subprocess.Process
    log: str = ""
    lines: list[dict[str, object]] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def bot_process(fake: FakeSlack, tmp: Path) -> AsyncIterator[BotProcess]:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))},
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": fake.signing_secret,
        "SLACK_API_URL": fake.api_url,
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp / 'bot.sqlite3'}",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    bot = BotProcess(f"http://127.0.0.1:{port}", proc)
    try:
        await _until_healthy(bot)
        yield bot
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        bot.log = err.decode(errors="replace")
        bot.lines = [json.loads(line) for line in bot.log.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, bot.log


async def _until_healthy(bot: BotProcess) -> None:
    """Polls /healthz while the process starts (real start-up I/O, no clock to drive)."""
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while True:
            assert bot.proc.returncode is None, "the bot exited during start-up"
            try:
                async with http.get(bot.url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, "the bot did not become healthy"
            await asyncio.sleep(0.1)


def sign(secret: str, body: bytes, ts: str | None = None) -> dict[str, str]:
    """Slack's v0 signature over the raw bytes (any bytes: FakeSlack.sign needs UTF-8)."""
    ts = ts or str(int(time.time()))
    mac = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + mac.hexdigest()}


def payload(obj: object) -> bytes:
    return urlencode({"payload": json.dumps(obj)}).encode()


def event(inner: object, **outer: object) -> bytes:
    body = {"type": "event_callback", "team_id": "T0TEAM", "event_id": "Ev1", "event": inner}
    return json.dumps({**body, **outer}).encode()


DEEP_LIST = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
HUGE = b"text=" + b"x" * (1024 * 1024 + 1)

# (name, body, content type, signed?, extra headers, expected status, expected error text)
# Headers that carry a time are made when the request is sent (a function of now), not at
# import: a long suite would otherwise send them stale.
Headers = dict[str, str] | Callable[[int], dict[str, str]]
CASES: list[tuple[str, bytes, str, bool, Headers, int, str]] = [
    # Unsigned, forged or stale: 401 before the body is even looked at.
    ("unsigned payload=notjson", b"payload=notjson", FORM, False, {}, 401, "missing Slack"),
    ("unsigned payload=[1,2]", b"payload=%5B1%2C2%5D", FORM, False, {}, 401, "missing Slack"),
    ("unsigned null", b"null", JSON, False, {}, 401, "missing Slack"),
    ("unsigned invalid UTF-8", b"\xff\xfe{}", JSON, False, {}, 401, "missing Slack"),
    ("unsigned charset=bogus", b"{}", JSON + "; charset=bogus", False, {}, 401, "missing Slack"),
    ("unsigned 10k-deep JSON", DEEP_LIST, JSON, False, {}, 401, "missing Slack"),
    ("timestamp abc", b"{}", JSON, False,
     {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=" + "0" * 64}, 401,
     "not a Unix time"),
    ("timestamp 10 min old", b"{}", JSON, False,
     lambda now: sign("fake-signing-secret", b"{}", str(now - 600)), 401, "5 minutes"),
    ("wrong secret", b"{}", JSON, False, lambda now: sign("not-the-secret", b"{}", str(now)),
     401, "invalid Slack"),
    ("signature not hex", b"{}", JSON, False,
     lambda now: {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": "v0=zz"}, 401,
     "invalid Slack"),
    ("unsigned over 1 MiB", HUGE, FORM, False, {}, 413, "over 1048576 bytes"),
    # Correctly signed but malformed: 400 naming what is wrong.
    ("signed payload=notjson", b"payload=notjson", FORM, True, {}, 400, "is not valid JSON"),
    ("signed payload=[1,2]", b"payload=%5B1%2C2%5D", FORM, True, {}, 400, "not a JSON object"),
    ("signed null", b"null", JSON, True, {}, 400, "request body is not a JSON object"),
    ("signed list", b"[1, 2]", JSON, True, {}, 400, "request body is not a JSON object"),
    ("signed empty body", b"", JSON, True, {}, 400, "not valid JSON"),
    ("signed invalid UTF-8", b'{"type": "\xff"}', JSON, True, {}, 400, "not valid UTF-8"),
    ("signed charset=bogus", b"{}", JSON + "; charset=bogus", True, {}, 400,
     "unsupported charset"),
    ("signed 10k-deep list", DEEP_LIST, JSON, True, {}, 400, "nested too deeply"),
    ("signed 10k-deep object", DEEP_OBJECT, JSON, True, {}, 400, "nested too deeply"),
    ("signed text/plain", b"hello", "text/plain", True, {}, 400, "unsupported content type"),
    ("signed form, no command", b"a=1", FORM, True, {}, 400, "neither a slash command"),
    ("signed JSON without type", b"{}", JSON, True, {}, 400, "type is required"),
    ("event is a string", event("x"), JSON, True, {}, 400, "event must be an object"),
    ("event missing", b'{"type": "event_callback"}', JSON, True, {}, 400, "event is required"),
    ("mention channel a list", event({"type": "app_mention", "channel": [1], "text": "hi"}),
     JSON, True, {}, 400, "event.channel must be a string"),
    ("reaction ts not a timestamp",
     event({"type": "reaction_added", "reaction": "pushpin", "user": "U1",
            "item": {"type": "message", "channel": "C1", "ts": "abc"}}),
     JSON, True, {}, 400, "event.item.ts must be a Slack timestamp"),
    ("reaction ts out of range",
     event({"type": "reaction_added", "reaction": "pushpin", "user": "U1",
            "item": {"type": "message", "channel": "C1", "ts": "9" * 40}}),
     JSON, True, {}, 400, "event.item.ts must be a Slack timestamp"),
    ("url_verification without challenge", b'{"type": "url_verification"}', JSON, True, {},
     400, "challenge is required"),
    ("block_actions actions a string", payload({"type": "block_actions", "actions": "x"}),
     FORM, True, {}, 400, "actions must be a list"),
    ("block_actions user a string",
     payload({"type": "block_actions", "actions": [{"action_id": "x"}], "user": "U1"}),
     FORM, True, {}, 400, "user must be an object"),
    ("block_actions action a number", payload({"type": "block_actions", "actions": [5]}),
     FORM, True, {}, 400, "actions[0] must be an object"),
    ("view a string", payload({"type": "view_submission", "view": "x"}), FORM, True, {}, 400,
     "view must be an object"),
    ("view state a number",
     payload({"type": "view_submission", "user": {"id": "U1"},
              "view": {"callback_id": "incident_declare", "state": 5}}),
     FORM, True, {}, 400, "view.state must be an object"),
    ("view private_metadata not ours",
     payload({"type": "view_submission", "user": {"id": "U1"},
              "view": {"id": "V1", "callback_id": "incident_update", "private_metadata": "[1]",
                       "state": {"values": {}}}}),
     FORM, True, {}, 400, "private_metadata"),
    ("signed over 1 MiB", HUGE, FORM, True, {}, 413, "over 1048576 bytes"),
]  # fmt: skip


async def test_malformed_and_unsigned_requests_get_4xx_and_no_traceback(
    fake: FakeSlack, tmp_path: Path
) -> None:
    answers: dict[str, tuple[int, str]] = {}
    async with bot_process(fake, tmp_path) as bot, aiohttp.ClientSession() as http:
        for name, body, ctype, signed, given, _, _ in CASES:
            headers = {"Content-Type": ctype, **(sign(fake.signing_secret, body) if signed else {})}
            extra = given(int(time.time())) if callable(given) else given
            async with http.post(
                bot.url + "/slack/events", data=io.BytesIO(body), headers={**headers, **extra}
            ) as resp:
                answers[name] = (resp.status, await resp.text())
        # Still serving the real thing afterwards: a verified challenge and a slash command
        # whose text holds the word "payload" (bolt's own parser took that for a payload).
        challenge = b'{"type": "url_verification", "challenge": "abc123"}'
        async with http.post(
            bot.url + "/slack/events",
            data=challenge,
            headers={"Content-Type": JSON, **sign(fake.signing_secret, challenge)},
        ) as resp:
            assert (resp.status, (await resp.json())["challenge"]) == (200, "abc123")
        # An event type the listeners do not handle keeps its own shape (an object channel):
        # the door lets it through to bolt, which answers it as unhandled.
        other = event({"type": "channel_created", "channel": {"id": "C9", "name": "x"}})
        async with http.post(
            bot.url + "/slack/events",
            data=other,
            headers={"Content-Type": JSON, **sign(fake.signing_secret, other)},
        ) as resp:
            assert resp.status == 404 and "unhandled" in await resp.text()
        fake.bot_url = bot.url + "/slack/events"
        ack = await fake.slash_command("help payload")
        assert ack.status == 200
        await fake.wait_for(lambda: fake.responses, within=15)
    wrong = {
        name: (answers[name], (status, text))
        for name, _, _, _, _, status, text in CASES
        if answers[name][0] != status or text not in answers[name][1]
    }
    assert not wrong, wrong
    assert "Traceback" not in bot.log, bot.log
    refused = [r for r in bot.lines if r.get("event") == "slack.request_refused"]
    assert len(refused) == len(CASES), bot.log
    assert not [r for r in bot.lines if r.get("level") in ("error", "critical")], bot.log
    # Nothing refused reached the core: the one command handled is the final `help`.
    handled = [r for r in bot.lines if r.get("event") == "command.handled"]
    assert [r["command"] for r in handled] == ["help"], handled


async def _raw(url: str, data: bytes) -> bytes:
    """Sends `data` as-is on a fresh connection; the status line of the answer (b"" if none
    came within 5 s, as when a client announces a body it never sends)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        try:
            first = await asyncio.wait_for(reader.readline(), 5)
        except TimeoutError:
            first = b""
    finally:
        writer.close()
    return first.strip()


RAW: list[tuple[str, bytes, bytes]] = [
    ("not HTTP", b"GARBAGE\r\n\r\n", b"400"),
    ("header over 8 KiB", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20_000 + b"\r\n\r\n",
     b"400"),
    ("Content-Length abc", b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
     b"400"),
    ("Content-Length and chunked",
     b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n", b"400"),
    ("bad chunk size",
     b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400"),
    ("non-ASCII query on /metrics", b"GET /metrics?\xff HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
    ("POST /healthz", b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", b"405"),
    ("DELETE /metrics", b"DELETE /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
     b"405"),
    ("GET /slack/events", b"GET /slack/events HTTP/1.1\r\nHost: x\r\n\r\n", b"405"),
    ("unknown path", b"GET /%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n", b"404"),
    ("signature header not ASCII",
     b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Type: "
     b"application/json\r\nX-Slack-Request-Timestamp: \xff\r\nX-Slack-Signature: v0=\xff\r\n\r\n{}",
     b"401"),
    ("body cut short", b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
     b""),
]  # fmt: skip


async def test_every_endpoint_refuses_broken_http_without_a_traceback(
    fake: FakeSlack, tmp_path: Path
) -> None:
    async with bot_process(fake, tmp_path) as bot:
        answers = {name: await _raw(bot.url, data) for name, data, _ in RAW}
        async with aiohttp.ClientSession() as http, http.get(bot.url + "/metrics") as resp:
            assert resp.status == 200  # and the endpoints still answer afterwards
    wrong = {
        name: answers[name]
        for name, _, status in RAW
        if answers[name].split(b" ")[1:2] != ([status] if status else [])
    }
    assert not wrong, wrong
    assert "Traceback" not in bot.log, bot.log
    assert not [r for r in bot.lines if r.get("level") in ("error", "critical")], bot.log
    bad = [r for r in bot.lines if str(r.get("event", "")).startswith("http.bad_request")]
    assert len(bad) >= 5, bot.log  # the unparsable requests, one warning line each
