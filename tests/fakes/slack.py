"""FakeSlack: a protocol-faithful local Slack for end-to-end tests of the real slack-bolt/slack_sdk.

One aiohttp application on an ephemeral 127.0.0.1 port serves:

* the Web API under `/api/<method>` (args merged from query string, form and JSON bodies, token
  from `Authorization: Bearer`), with realistic bodies for the methods the bot calls;
* a `response_url` sink under `/commands/<team>/<id>/<token>`;
* the Socket Mode WebSocket under `/link/` (tickets issued by `apps.connections.open`, a
  `hello` on connect, envelopes out, `{"envelope_id": …}` acks back).

The *driver* half plays Slack towards the bot: it POSTs **signed** slash commands,
interactivity payloads and Events API callbacks to the bot's HTTP endpoint (`mode="http"`), or
pushes the same payloads as Socket Mode envelopes (`mode="socket"`), and returns the ack with
its latency. Everything the bot calls is recorded in `calls`; `wait_for` waits on the world
without sleeping. Faults: `rate_limit(method, …)` answers 429 + Retry-After, `fail(method, …)`
answers `{"ok": false, "error": …}` or an HTTP 5xx. `limit_channels(interval)` (opt-in) enforces
Slack's chat.postMessage limit: one message per channel per `interval`, thread replies counted
against their channel, else 429 `ratelimited` with the whole seconds left in `Retry-After`.
`answer_late(method, s)` does the work and answers `s` seconds later, `never_answer(method, …)`
does the work and never answers (the connection hangs, or drops) — the "Slack posted it but
we never heard" cases.

Message metadata (`chat.postMessage(metadata=…)`) is stored with the message and returned by
`conversations.history` / `conversations.replies` only with `include_all_metadata=true`, as
Slack does. Both methods paginate like Slack: `limit` (history 100 by default, replies 1000),
`has_more` and `response_metadata.next_cursor`; `max_page` caps every page below `limit`
("fewer than the requested number of items may be returned") so tests can force paging.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from aiohttp import ClientSession, ClientTimeout, WSMsgType, web
from slack_sdk.signature import SignatureVerifier

Mode = Literal["http", "socket"]


@dataclass
class Call:
    """One Web API call the bot made (after fault injection: `status` is what it got)."""

    method: str
    args: dict[str, Any]
    token: str
    status: int
    at: float


@dataclass
class SlackMessage:
    """A message as the fake workspace holds it."""

    channel: str
    ts: str
    text: str
    user: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    bot: bool = False
    metadata: dict[str, Any] | None = None

    @property
    def notice(self) -> int | None:
        """The incidentbot notice id in this message's metadata, if it carries one."""
        if not self.metadata or self.metadata.get("event_type") != "incidentbot_notice":
            return None
        value = (self.metadata.get("event_payload") or {}).get("notice")
        return int(value) if value is not None else None

    def to_api(self, *, with_metadata: bool = False) -> dict[str, Any]:
        m: dict[str, Any] = {
            "type": "message",
            "text": self.text,
            "user": self.user,
            "ts": self.ts,
            "team": "T0TEAM",
            "blocks": self.blocks,
        }
        if self.bot:
            m.update(bot_id="B0BOT", app_id="A0APP")
        if self.thread_ts:
            m["thread_ts"] = self.thread_ts
        if with_metadata and self.metadata:
            m["metadata"] = self.metadata
        return m


@dataclass
class Ephemeral:
    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None


@dataclass
class UrlResponse:
    """A POST the bot made to a `response_url`."""

    url_id: str
    body: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))

    @property
    def ephemeral(self) -> bool:
        return bool(self.body.get("response_type", "ephemeral") == "ephemeral")


@dataclass
class Ack:
    """What the bot answered to one delivered request, and how fast."""

    status: int
    body: str
    latency: float
    trigger_id: str = ""
    response_url: str = ""

    def json(self) -> dict[str, Any]:
        return json.loads(self.body) if self.body.startswith("{") else {}


@dataclass
class _Fault:
    status: int
    error: str
    retry_after: int | None
    channel: str | None = None  # only calls to this channel (None: any call)


class FakeSlack:
    """See the module docstring. Use as `async with FakeSlack() as slack:`."""

    def __init__(
        self,
        *,
        signing_secret: str = "fake-signing-secret",
        bot_token: str = "xoxb-fake-bot-token",
        app_token: str = "xapp-fake-app-token",
        team: str = "T0TEAM",
        bot_user: str = "U0BOT",
        trigger_ttl: float = 3.0,
        ack_deadline: float = 3.0,
    ) -> None:
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.app_token = app_token
        self.team = team
        self.bot_user = bot_user
        self.trigger_ttl = trigger_ttl
        self.ack_deadline = ack_deadline
        self.mode: Mode = "http"
        self.bot_url = ""  # the bot's POST /slack/events, for mode="http"

        self.calls: list[Call] = []
        self.messages: list[SlackMessage] = []
        self.ephemerals: list[Ephemeral] = []
        self.responses: list[UrlResponse] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.reactions: list[dict[str, Any]] = []

        self._last_ts = 0
        self._triggers: dict[str, float] = {}
        self._response_urls: dict[str, int] = {}
        self._expire_response_urls = 0
        self.response_url_delay = 0.0  # seconds the response_url sink takes to answer
        self.max_page: int | None = None  # caps history/replies pages below `limit`
        self._late: dict[str, float] = {}  # method -> seconds between the work and the answer
        self._unanswered: dict[str, deque[bool]] = {}  # method -> next calls' "drop" flags
        self._closing = asyncio.Event()
        self._tickets: set[str] = set()
        self._faults: dict[str, deque[_Fault]] = {}
        self._channel_interval: float | None = None  # limit_channels(); None: no limit
        self._channel_jitter = 0.0
        self._channel_last: dict[str, float] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self._pending: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/commands/{team}/{id}/{token}", self._response_url)
        app.router.add_get("/link/", self._link)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = ClientSession(timeout=ClientTimeout(total=30))

    async def aclose(self) -> None:
        self._closing.set()  # releases requests held by never_answer
        for ws in list(self._sockets):
            await ws.close()
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        """The Web API base URL to give `AsyncWebClient(base_url=…)` (SLACK_API_URL)."""
        return f"http://127.0.0.1:{self.port}/api/"

    # ------------------------------------------------------------------ faults

    def rate_limit(
        self, method: str, *, times: int = 1, retry_after: int = 1, channel: str | None = None
    ) -> None:
        """The next `times` calls of `method` (to `channel` only, when given) get HTTP 429
        with `Retry-After`."""
        q = self._faults.setdefault(method, deque())
        q.extend(_Fault(429, "ratelimited", retry_after, channel) for _ in range(times))

    def limit_channels(self, interval: float = 1.0, *, jitter: float = 0.02) -> None:
        """From now on, accepts one chat.postMessage per channel (thread replies included)
        per `interval` seconds and answers any other with 429 `ratelimited` and a
        `Retry-After` of the whole seconds left (at least 1), as Slack does. `jitter` is how
        much closer than `interval` two posts may arrive (the network's, not the bot's)."""
        self._channel_interval = interval
        self._channel_jitter = jitter

    def fail(
        self, method: str, *, error: str = "internal_error", status: int = 200, times: int = 1
    ) -> None:
        """The next `times` calls of `method` fail: `{"ok": false, "error"}` or HTTP `status`."""
        q = self._faults.setdefault(method, deque())
        q.extend(_Fault(status, error, None) for _ in range(times))

    def answer_late(self, method: str, seconds: float) -> None:
        """From now on every call of `method` is carried out at once (the message is stored)
        and answered `seconds` later (0 restores prompt answers)."""
        if seconds > 0:
            self._late[method] = seconds
        else:
            self._late.pop(method, None)

    def never_answer(self, method: str, *, times: int = 1, drop: bool = False) -> None:
        """The next `times` calls of `method` are carried out but never answered: the
        connection stays silent until the client gives up, or with `drop` it is closed
        (the client sees a disconnect). Recorded in `calls` with status 0."""
        self._unanswered.setdefault(method, deque()).extend([drop] * times)

    def expire_response_urls(self, times: int = 1) -> None:
        """The next `times` response_url POSTs get 404, as an expired URL does."""
        self._expire_response_urls += times

    async def disconnect_sockets(self) -> None:
        """Asks every Socket Mode client to reconnect, as Slack does on a refresh."""
        for ws in list(self._sockets):
            await ws.send_str(json.dumps({"type": "disconnect", "reason": "refresh_requested"}))

    # ------------------------------------------------------------------ queries

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def channel_messages(self, channel: str) -> list[SlackMessage]:
        """Top-level messages of `channel`, oldest first."""
        return [m for m in self.messages if m.channel == channel and m.thread_ts in (None, m.ts)]

    def thread(self, channel: str, ts: str) -> list[SlackMessage]:
        """Replies in the thread under `ts` (the parent excluded), oldest first."""
        return [
            m for m in self.messages if m.channel == channel and m.thread_ts == ts and m.ts != ts
        ]

    def find(self, ts: str) -> SlackMessage | None:
        return next((m for m in self.messages if m.ts == ts), None)

    async def wait_for(self, predicate: Callable[[], Any], within: float = 5.0) -> Any:
        """Returns `predicate()`'s first truthy value, re-checked on every change of the world."""

        async def _wait() -> Any:
            async with self._changed:
                while not (value := predicate()):
                    await self._changed.wait()
                return value

        try:
            return await asyncio.wait_for(_wait(), within)
        except TimeoutError:
            raise AssertionError(f"FakeSlack: condition not met within {within}s") from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ Web API

    def _next_ts(self) -> str:
        """Unique, increasing `"<secs>.<6 digits>"` close to wall-clock time, as Slack's are."""
        micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            if raw.lstrip().startswith(b"{"):
                args.update(json.loads(raw))
            else:
                args.update(parse_qsl(raw.decode(), keep_blank_values=True))
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth else str(args.pop("token", ""))
        args.pop("token", None)

        status, headers, body = self._answer(method, args, token)
        unanswered = self._unanswered.get(method)
        drop = unanswered.popleft() if unanswered else None
        self.calls.append(Call(method, args, token, 0 if drop is not None else status,
                               time.monotonic()))  # fmt: skip
        await self._notify()
        if drop is not None:
            return await self._no_answer(request, drop=drop)
        if method in self._late:
            await asyncio.sleep(self._late[method])
        if status >= 500:  # gateways in front of Slack answer with HTML, not JSON
            return web.Response(status=status, headers=headers, text="<html>upstream error</html>")
        return web.json_response(body, status=status, headers=headers)

    async def _no_answer(self, request: web.Request, *, drop: bool) -> web.Response:
        """Never answers: closes the connection (`drop`), or holds it until the client
        goes away or the fake closes; nothing is ever written back."""
        transport = request.transport
        if not drop:
            while transport is not None and not transport.is_closing():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), 0.05)
                if self._closing.is_set():
                    break
        if transport is not None:
            transport.abort()
        return web.Response(status=204)  # never written: the connection is gone

    def _answer(
        self, method: str, args: dict[str, Any], token: str
    ) -> tuple[int, dict[str, str], Any]:
        q = self._faults.get(method)
        f = next((f for f in q or () if f.channel in (None, args.get("channel"))), None)
        if q and f is not None:
            q.remove(f)
            if f.status == 429:
                return 429, {"Retry-After": str(f.retry_after)}, {"ok": False, "error": f.error}
            if f.status != 200:
                return f.status, {}, {"ok": False, "error": f.error}
            return 200, {}, {"ok": False, "error": f.error}
        if method == "apps.connections.open":
            if token != self.app_token:
                return 200, {}, {"ok": False, "error": "invalid_auth"}
        elif token != self.bot_token:
            err = "not_allowed_token_type" if token.startswith("xapp-") else "invalid_auth"
            return 200, {}, {"ok": False, "error": err}
        if method == "chat.postMessage" and self._channel_interval is not None:
            wait = self._channel_wait(str(args.get("channel", "")))
            if wait > 0:
                after = str(max(1, math.ceil(wait)))
                return 429, {"Retry-After": after}, {"ok": False, "error": "ratelimited"}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        body: dict[str, Any] = handler(args)
        return 200, {}, body

    def _channel_wait(self, channel: str) -> float:
        """Seconds until `channel` takes a message (limit_channels); 0: taken now."""
        assert self._channel_interval is not None
        now = time.monotonic()
        last = self._channel_last.get(channel)
        if last is not None and now - last < self._channel_interval - self._channel_jitter:
            return last + self._channel_interval - now
        self._channel_last[channel] = now
        return 0.0

    @staticmethod
    def _err(error: str) -> dict[str, Any]:
        return {"ok": False, "error": error}

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "incidentbot",
            "team_id": self.team,
            "user_id": self.bot_user,
            "bot_id": "B0BOT",
            "is_enterprise_install": False,
        }

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id=A0APP"}

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if not channel:
            return self._err("channel_not_found")
        text = str(args.get("text") or "")
        blocks = _json_arg(args.get("blocks")) or []
        if not text and not blocks:
            return self._err("no_text")
        if len(blocks) > 50:
            return self._err("invalid_blocks")
        thread_ts = args.get("thread_ts") or None
        if thread_ts and not any(m.channel == channel and m.ts == thread_ts for m in self.messages):
            return self._err("thread_not_found")
        metadata = _json_arg(args.get("metadata")) or None
        if metadata is not None and (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("event_type"), str)
            or not isinstance(metadata.get("event_payload"), dict)
        ):
            return self._err("invalid_metadata_format")
        msg = SlackMessage(
            channel, self._next_ts(), text, self.bot_user, blocks, thread_ts, bot=True,
            metadata=metadata,
        )  # fmt: skip
        self.messages.append(msg)
        return {
            "ok": True,
            "channel": channel,
            "ts": msg.ts,
            "message": msg.to_api(with_metadata=True),
        }

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("user"):
            return self._err(
                "channel_not_found" if not args.get("channel") else "user_not_in_channel"
            )
        blocks = _json_arg(args.get("blocks")) or []
        self.ephemerals.append(
            Ephemeral(
                str(args["channel"]),
                str(args["user"]),
                str(args.get("text") or ""),
                blocks,
                args.get("thread_ts"),
            )
        )
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = next(
            (
                m
                for m in self.messages
                if m.channel == args.get("channel") and m.ts == args.get("ts")
            ),
            None,
        )
        if msg is None:
            return self._err("message_not_found")
        if not msg.bot:
            return self._err("cant_update_message")
        msg.text = str(args.get("text") or msg.text)
        msg.blocks = _json_arg(args.get("blocks")) or msg.blocks
        return {
            "ok": True,
            "channel": msg.channel,
            "ts": msg.ts,
            "text": msg.text,
            "message": msg.to_api(),
        }

    def _m_chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = str(args.get("message_ts", "")).replace(".", "")
        channel = args.get("channel")
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"https://fake-workspace.slack.com/archives/{channel}/p{ts}",
        }

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = str(args.get("trigger_id", ""))
        issued = self._triggers.pop(trigger, None)
        if issued is None:
            return self._err("invalid_trigger_id")
        if time.monotonic() - issued > self.trigger_ttl:
            return self._err("expired_trigger_id")
        view = _json_arg(args.get("view"))
        if not isinstance(view, dict) or view.get("type") != "modal":
            return self._err("invalid_arguments")
        title = view.get("title", {}).get("text", "")
        if not title or len(title) > 24 or len(view.get("blocks", [])) > 100:
            return self._err("invalid_arguments")
        vid = "V" + uuid.uuid4().hex[:10].upper()
        stored = {
            **view,
            "id": vid,
            "team_id": self.team,
            "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
            "state": {"values": {}},
            "root_view_id": vid,
            "previous_view_id": None,
            "app_id": "A0APP",
            "bot_id": "B0BOT",
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
        }
        self.views[vid] = stored
        return {"ok": True, "view": stored}

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel"), str(args.get("ts", ""))
        target = next((m for m in self.messages if m.channel == channel and m.ts == ts), None)
        if target is None:
            return self._err("thread_not_found")
        root = target.thread_ts or target.ts
        parent = next(m for m in self.messages if m.channel == channel and m.ts == root)
        replies = [
            m
            for m in self.messages
            if m.channel == channel and m.thread_ts == root and m.ts != root
        ]
        # Oldest first. The first page starts with the parent (whatever the range); the
        # cursor names the next reply's ts and later pages hold replies only.
        after = _cursor_ts(args.get("cursor"))
        if after is None and args.get("cursor"):
            return self._err("invalid_cursor")
        picked = [m for m in replies if _in_range(m.ts, args)]
        if after is not None:
            picked = [m for m in picked if _micros(m.ts) >= after]
        head = [] if after is not None else [parent]
        return self._page([*head, *picked], args, default_limit=1000)

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        top = [m for m in self.messages if m.channel == channel and m.thread_ts in (None, m.ts)]
        # Newest first; the cursor names the ts the next page starts at (older ones follow).
        before = _cursor_ts(args.get("cursor"))
        if before is None and args.get("cursor"):
            return self._err("invalid_cursor")
        picked = [m for m in reversed(top) if _in_range(m.ts, args)]
        if before is not None:
            picked = [m for m in picked if _micros(m.ts) <= before]
        return self._page(picked, args, default_limit=100)

    def _page(
        self, ordered: list[SlackMessage], args: dict[str, Any], *, default_limit: int
    ) -> dict[str, Any]:
        """One page of `ordered` as Slack returns it: at most `limit` (max 1000) messages,
        metadata only when `include_all_metadata`, and a cursor when more remain."""
        limit = min(int(args.get("limit") or default_limit), 1000)
        if self.max_page is not None:
            limit = min(limit, self.max_page)
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        page, rest = ordered[:limit], ordered[limit:]
        body: dict[str, Any] = {
            "ok": True,
            "messages": [m.to_api(with_metadata=with_metadata) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
        }
        body["response_metadata"] = {"next_cursor": _cursor(rest[0].ts) if rest else ""}
        return body

    def _m_reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        self.reactions.append(dict(args))
        return {"ok": True}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        uid = str(args.get("user", ""))
        return {
            "ok": True,
            "user": {"id": uid, "name": uid.lower(), "real_name": uid, "team_id": self.team},
        }

    # ------------------------------------------------------------------ response_url

    async def _response_url(self, request: web.Request) -> web.Response:
        url_id = request.match_info["id"]
        if self.response_url_delay:
            await asyncio.sleep(self.response_url_delay)
        uses = self._response_urls.get(url_id)
        if self._expire_response_urls > 0:  # as if more than 30 minutes had passed
            self._expire_response_urls -= 1
            uses = None
        if uses is None:
            return web.Response(status=404, text="no_service")
        if uses >= 5:  # Slack: up to 5 responses per response_url
            return web.Response(status=404, text="used_url")
        self._response_urls[url_id] = uses + 1
        body = await request.json()
        self.responses.append(UrlResponse(url_id, body))
        await self._notify()
        return web.Response(text="ok")

    def _new_response_url(self) -> str:
        url_id = uuid.uuid4().hex[:12]
        self._response_urls[url_id] = 0
        return f"http://127.0.0.1:{self.port}/commands/{self.team}/{url_id}/{uuid.uuid4().hex[:16]}"

    def _new_trigger(self) -> str:
        trigger = f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:16]}"
        self._triggers[trigger] = time.monotonic()
        return trigger

    # ------------------------------------------------------------------ Socket Mode

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)  # echoes the SDK's `sdk-ping-pong:<t>` pings
        await ws.prepare(request)
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets) + 1,
                    "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A0APP"},
                }
            )
        )
        self._sockets.append(ws)
        await self._notify()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                fut = self._pending.pop(str(data.get("envelope_id")), None)
                if fut is not None and not fut.done():
                    fut.set_result(data.get("payload"))
        finally:
            with contextlib.suppress(ValueError):
                self._sockets.remove(ws)
        return ws

    @property
    def socket_connected(self) -> bool:
        return any(not ws.closed for ws in self._sockets)

    async def _send_envelope(
        self, kind: str, payload: dict[str, Any], retry_num: int | None
    ) -> tuple[dict[str, Any] | None, float]:
        await self.wait_for(lambda: self.socket_connected, within=self.ack_deadline + 2)
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "payload": payload,
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_num or 0
            envelope["retry_reason"] = "timeout" if retry_num else ""
        fut: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = fut
        ws = next(ws for ws in self._sockets if not ws.closed)
        start = time.perf_counter()
        await ws.send_str(json.dumps(envelope))
        try:
            ack = await asyncio.wait_for(fut, self.ack_deadline)
        finally:
            self._pending.pop(envelope_id, None)
        return ack, time.perf_counter() - start

    # ------------------------------------------------------------------ driver

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """`X-Slack-Signature`/`X-Slack-Request-Timestamp` over exactly `body`."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = SignatureVerifier(self.signing_secret).generate_signature(timestamp=ts, body=body)
        return {"X-Slack-Signature": str(sig), "X-Slack-Request-Timestamp": ts}

    async def post_signed(
        self,
        body: bytes,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> Ack:
        """POSTs `body` to the bot with `headers` (default: a valid signature), returns the ack."""
        assert self._session is not None, "start() first"
        assert self.bot_url, "set bot_url first"
        hdrs = {
            "Content-Type": content_type,
            **(headers if headers is not None else self.sign(body)),
        }
        start = time.perf_counter()
        async with self._session.post(self.bot_url, data=body, headers=hdrs) as resp:
            text = await resp.text()
            return Ack(resp.status, text, time.perf_counter() - start)

    async def _deliver(
        self, kind: str, payload: dict[str, Any], retry_num: int | None = None
    ) -> Ack:
        if self.mode == "socket":
            ack_payload, latency = await self._send_envelope(kind, payload, retry_num)
            return Ack(200, json.dumps(ack_payload) if ack_payload else "", latency)
        if kind == "slash_commands":
            body = urlencode({k: str(v) for k, v in payload.items()}).encode()
            ctype = "application/x-www-form-urlencoded"
        elif kind == "interactive":
            body = urlencode({"payload": json.dumps(payload)}).encode()
            ctype = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(payload).encode()
            ctype = "application/json"
        headers = self.sign(body)
        if retry_num:
            headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "timeout"})
        return await self.post_signed(body, ctype, headers=headers)

    def slash_payload(
        self,
        text: str,
        *,
        user: str = "U0ALICE",
        channel: str = "C0INCIDENTS",
        command: str = "/incident",
    ) -> dict[str, Any]:
        return {
            "token": "legacy-verification-token",
            "team_id": self.team,
            "team_domain": "fake-workspace",
            "channel_id": channel,
            "channel_name": channel.lower(),
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0APP",
            "is_enterprise_install": "false",
            "response_url": self._new_response_url(),
            "trigger_id": self._new_trigger(),
        }

    async def slash_command(
        self,
        text: str,
        *,
        user: str = "U0ALICE",
        channel: str = "C0INCIDENTS",
        command: str = "/incident",
    ) -> Ack:
        """Types `/incident <text>` as `user` in `channel`."""
        payload = self.slash_payload(text, user=user, channel=channel, command=command)
        ack = await self._deliver("slash_commands", payload)
        ack.trigger_id, ack.response_url = payload["trigger_id"], payload["response_url"]
        return ack

    async def click(self, message: SlackMessage, action_id: str, *, user: str = "U0ALICE") -> Ack:
        """Presses the button `action_id` on `message` (a block_actions payload)."""
        button, block_id = _find_button(message.blocks, action_id)
        trigger = self._new_trigger()
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {
                "id": user,
                "username": user.lower(),
                "name": user.lower(),
                "team_id": self.team,
            },
            "api_app_id": "A0APP",
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": False,
                **({"thread_ts": message.thread_ts} if message.thread_ts else {}),
            },
            "trigger_id": trigger,
            "team": {"id": self.team, "domain": "fake-workspace"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": message.channel, "name": message.channel.lower()},
            "message": message.to_api(),
            "state": {"values": {}},
            "response_url": self._new_response_url(),
            "actions": [
                {
                    "action_id": button["action_id"],
                    "block_id": block_id,
                    "text": button["text"],
                    "value": button.get("value", ""),
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        ack = await self._deliver("interactive", payload)
        ack.trigger_id = trigger
        return ack

    async def submit_view(
        self, view_id: str, values: dict[str, str], *, user: str = "U0ALICE"
    ) -> Ack:
        """Submits the open modal `view_id` with `values` keyed by block_id.

        Each input block's single element gets the value: a `plain_text_input` as `value`,
        a `static_select` as `selected_option` (the option whose value matches).
        """
        view = self.views[view_id]
        state: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            el = block["element"]
            given = values.get(block["block_id"])
            if el["type"] == "static_select":
                opt = next((o for o in el.get("options", []) if o["value"] == given), None)
                state[block["block_id"]] = {
                    el["action_id"]: {"type": "static_select", "selected_option": opt}
                }
            else:
                state[block["block_id"]] = {el["action_id"]: {"type": el["type"], "value": given}}
        submitted = {**view, "state": {"values": state}}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team, "domain": "fake-workspace"},
            "user": {
                "id": user,
                "username": user.lower(),
                "name": user.lower(),
                "team_id": self.team,
            },
            "api_app_id": "A0APP",
            "token": "legacy-verification-token",
            "trigger_id": self._new_trigger(),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return await self._deliver("interactive", payload)

    def event_payload(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        return {
            "token": "legacy-verification-token",
            "team_id": self.team,
            "api_app_id": "A0APP",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or "Ev" + uuid.uuid4().hex[:10].upper(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team,
                    "user_id": self.bot_user,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }

    async def send_event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> Ack:
        """Delivers an Events API callback (a redelivery when `retry_num` is given)."""
        return await self._deliver("events_api", self.event_payload(event, event_id), retry_num)

    def post_as_user(
        self, channel: str, text: str, *, user: str, thread_ts: str | None = None
    ) -> SlackMessage:
        """A person posts a message (the world changes; no event is sent by this alone)."""
        msg = SlackMessage(channel, self._next_ts(), text, user, [], thread_ts)
        self.messages.append(msg)
        return msg

    def mention_event(
        self, text: str, *, channel: str, user: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """`@incidentbot <text>` posted by `user` (stored as a message); the app_mention event."""
        msg = self.post_as_user(
            channel, f"<@{self.bot_user}> {text}", user=user, thread_ts=thread_ts
        )
        event: dict[str, Any] = {
            "type": "app_mention",
            "user": user,
            "text": msg.text,
            "ts": msg.ts,
            "channel": channel,
            "event_ts": msg.ts,
            "team": self.team,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event

    def reaction_event(
        self, message: SlackMessage, *, user: str, reaction: str = "pushpin"
    ) -> dict[str, Any]:
        return {
            "type": "reaction_added",
            "user": user,
            "reaction": reaction,
            "item_user": message.user,
            "item": {"type": "message", "channel": message.channel, "ts": message.ts},
            "event_ts": f"{time.time():.6f}",
        }


def _json_arg(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def _cursor(ts: str) -> str:
    """An opaque cursor like Slack's (base64 of `next_ts:<ts without the dot>`)."""
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _micros(ts: str) -> int:
    return int(ts.replace(".", ""))


def _cursor_ts(cursor: Any) -> int | None:
    """The ts (in µs) a cursor made by `_cursor` names; None for no or a malformed cursor."""
    if not cursor:
        return None
    try:
        raw = base64.b64decode(str(cursor), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    digits = raw.removeprefix("next_ts:")
    if not raw.startswith("next_ts:") or not digits.isdigit():
        return None
    return int(digits)


def _in_range(ts: str, args: dict[str, Any]) -> bool:
    inclusive = str(args.get("inclusive", "")).lower() in ("1", "true")
    t = float(ts)
    if args.get("oldest"):
        o = float(args["oldest"])
        if t < o or (t == o and not inclusive):
            return False
    if args.get("latest"):
        la = float(args["latest"])
        if t > la or (t == la and not inclusive):
            return False
    return True


def _find_button(blocks: list[dict[str, Any]], action_id: str) -> tuple[dict[str, Any], str]:
    def _all() -> Iterator[tuple[dict[str, Any], str]]:
        for b in blocks:
            for el in b.get("elements", []) if b.get("type") == "actions" else []:
                yield el, b.get("block_id", "")

    for el, block_id in _all():
        if el.get("action_id") == action_id:
            return el, block_id
    raise AssertionError(f"no button {action_id!r}; have {[e.get('action_id') for e, _ in _all()]}")
