"""No credential a pager request carried escapes through its error text (SPEC §7): a real
loopback webhook receiver that echoes the `Authorization` header (httpx builds it from the
URL's `user:pass`) and a configured API-key header back in its error bodies. Neither the
thread, nor the log events (as emitted, before any log-level redaction), nor the raw bytes
of the SQLite files may contain the password, the userinfo or the base64 credential."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import httpx
from aiohttp import web
from structlog.testing import capture_logs

from bot.config import BotConfig
from bot.core.messages import NoticeKind
from bot.paging.config import build_pagers, parse_pagers
from tests.stack import make_stack

USER = "hookuser"
PASSWORD = "Pa55-w0rd-9f3k"
API_KEY = "key-7Hq2-Zx81-secret"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
NEEDLES = (PASSWORD, f"{USER}:{PASSWORD}", BASIC, BASIC.rstrip("="), API_KEY)


class EchoingReceiver:
    """Answers 500 then 401, each quoting back the credentials it was sent (a misbehaving
    but real-world server: proxies and frameworks do echo request headers in errors)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _hook(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        auth = request.headers.get("Authorization", "")
        decoded = base64.b64decode(auth.partition(" ")[2] or "").decode()
        key = request.headers.get("X-Api-Key")
        echo = f"you sent Authorization: {auth} ({decoded}), X-Api-Key: {key}"
        if len(self.seen) == 1:
            return web.Response(status=500, text=f"upstream failed; {echo}")
        return web.json_response({"message": f"denied; {echo}"}, status=401)

    async def start(self) -> EchoingReceiver:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _assert_clean(where: str, text: str) -> None:
    for needle in NEEDLES:
        assert needle not in text, f"{needle!r} leaked into {where}: {text[:2000]}"


def _store_bytes(where: Path) -> bytes:
    """The SQLite database file and its WAL/journal, byte for byte."""
    return b"".join(f.read_bytes() for f in sorted(where.glob("bot.sqlite3*")))


async def _no_sleep(_: float) -> None:
    """Skips the in-line retry wait."""


async def test_an_echoing_webhook_cannot_leak_its_credentials(tmp_path: Path) -> None:
    server = await EchoingReceiver().start()
    config = BotConfig.model_validate(
        {
            "contacts": {"oncall": ["U_ONCALL"], "engineering_manager": ["U_EM"]},
            "severities": {"SEV1": {"pagers": ["hook"]}},
            "pagers": {
                "hook": {
                    "kind": "webhook",
                    "url": f"http://{USER}:{PASSWORD}@127.0.0.1:{server.port}/hook",
                    "secret": "signing-secret",
                    "headers": {"X-Api-Key": API_KEY},
                    "retries": 0,
                }
            },
        }
    )
    try:
        async with httpx.AsyncClient() as client:
            pagers = build_pagers(parse_pagers(config.pagers), client, sleep=_no_sleep)
            stack = await make_stack(tmp_path, config, pagers=pagers)
            try:
                with capture_logs() as logs:
                    await stack.cmd("declare Payments down sev1")  # 500: transient
                    await stack.advance(timedelta(seconds=30))  # the retry: 401, permanent
                    events = list(logs)
            finally:
                await stack.aclose()
    finally:
        await server.aclose()

    # The server did get (and echo) the credentials: the test is not vacuous.
    assert len(server.seen) == 2
    assert all(h["Authorization"] == f"Basic {BASIC}" for h in server.seen)
    assert all(h["X-Api-Key"] == API_KEY for h in server.seen)

    alarms = [t for t in stack.notifier.texts(NoticeKind.THREAD) if "PAGING FAILED" in t]
    assert len(alarms) == 2
    assert (
        "HTTP 500" in alarms[0]
        and "upstream failed; you sent Authorization: Basic ***" in alarms[0]
    )
    assert "HTTP 401" in alarms[1] and "will not retry" in alarms[1]
    for text in stack.notifier.texts(NoticeKind.THREAD):
        _assert_clean("the thread", text)

    failures = [e for e in events if e["event"].startswith("notice.delivery_")]
    assert [e["event"] for e in failures] == ["notice.delivery_failed", "notice.delivery_refused"]
    for event in events:
        _assert_clean("the logs", repr(event))

    raw = _store_bytes(tmp_path)
    assert b"denied; you sent" in raw  # the dead notice keeps its (redacted) error
    for needle in NEEDLES:
        assert needle.encode() not in raw, f"{needle!r} is in the SQLite files"
