"""FakeDiscord: a protocol-faithful local Discord (REST v10 + gateway) for real discord.py.

One aiohttp application on an ephemeral 127.0.0.1 port serves the REST API under
`/api/v10/...` and the gateway WebSocket under `/`. Point discord.py at it with
`discord.http.Route.BASE = fake.api_url` and
`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)` (the bot
does this itself from `DISCORD_API_URL`).

What it models (see notes/test-strategy.md §2):
* gateway: HELLO -> IDENTIFY -> READY (+ resume_gateway_url = this server) -> GUILD_CREATE,
  heartbeats answered with ACK, sequence numbers, RESUME replaying every dispatch the client
  missed, forced disconnects (close 4000 or op 7 RECONNECT) and a "pause" that holds new
  connections before HELLO so a test can inject events while the bot is offline;
* REST: login, application info, command sync (guild and global), interaction callbacks
  (`?with_response=1`, 3 s deadline -> 10062, duplicate -> 40060), followups and
  `@original` edits, messages, threads from messages, reactions, channel fetches;
* fault injection: 429 with the exact `Via` header and JSON `retry_after` body discord.py
  requires, or any other error status, on a method + path pattern, for N calls; and
  `never_answer` (the request is carried out, then the connection is dropped or left silent);
* message nonces as Discord enforces them: a create with `nonce` and `enforce_nonce: true`
  repeating one the same author made within `nonce_window` seconds returns that message
  and creates nothing;
* a call log of every REST request and a driver that injects slash commands, autocomplete,
  button clicks, modal submissions, user messages and reactions.

Everything runs on the test's event loop; `wait_for(pred)` waits on state changes rather
than sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

T = TypeVar("T")
DISCORD_EPOCH_MS = 1420070400000
MESSAGE_CONTENT_INTENT = 1 << 15
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | MESSAGE_CONTENT_INTENT  # members, presences, content
EPHEMERAL = 64
RESPONSE_WITH_MESSAGE = {4, 7}


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response with Discord's exact `Content-Type` (discord.py compares it verbatim)."""
    resp = web.Response(body=json.dumps(data).encode(), status=status, headers=headers)
    resp.headers["Content-Type"] = "application/json"
    return resp


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


@dataclass
class Call:
    """One REST request the bot made, as received."""

    method: str
    path: str  # below /api/v10, e.g. /channels/123/messages
    query: dict[str, str]
    body: Any
    status: int = 0
    at: float = 0.0  # loop time


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int


@dataclass
class InteractionRecord:
    """An interaction the fake delivered and everything the bot answered to it."""

    id: str
    token: str
    payload: dict[str, Any]
    created_at: float  # loop time the driver created it
    delivered_at: float | None = None  # loop time it was first written to the gateway
    callbacks: list[dict[str, Any]] = field(default_factory=list)  # callback bodies, in order
    responded_at: float | None = None
    original: dict[str, Any] | None = None  # the original response message
    followups: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)  # Discord error codes returned

    @property
    def response_type(self) -> int | None:
        return int(self.callbacks[0]["type"]) if self.callbacks else None

    @property
    def latency(self) -> float | None:
        """Seconds from delivery on the gateway to the initial callback."""
        if self.delivered_at is None or self.responded_at is None:
            return None
        return self.responded_at - self.delivered_at

    @property
    def ephemeral(self) -> bool:
        if not self.callbacks:
            return False
        data = self.callbacks[0].get("data") or {}
        return bool(int(data.get("flags", 0) or 0) & EPHEMERAL)

    @property
    def modal(self) -> dict[str, Any] | None:
        for cb in self.callbacks:
            if cb.get("type") == 9:
                return dict(cb["data"])
        return None

    @property
    def choices(self) -> list[dict[str, Any]]:
        for cb in self.callbacks:
            if cb.get("type") == 8:
                return list(cb["data"]["choices"])
        return []

    def texts(self) -> list[str]:
        """Every text the invoker was shown: content, embed titles/descriptions/fields."""
        out: list[str] = []
        if self.original:  # the response message (its latest edit)
            bodies = [self.original]
        else:
            bodies = [cb.get("data") or {} for cb in self.callbacks if cb.get("type") in (4, 7)]
        bodies.extend(self.followups)
        for b in bodies:
            out.extend(_message_texts(b))
        return out

    def text(self) -> str:
        return "\n".join(self.texts())


def _message_texts(body: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if body.get("content"):
        out.append(str(body["content"]))
    for e in body.get("embeds") or []:
        for key in ("title", "description"):
            if e.get(key):
                out.append(str(e[key]))
        for f in e.get("fields") or []:
            out.append(f"{f.get('name')}: {f.get('value')}")
    return out


def pinged(content: str, allowed: Any) -> tuple[set[str], list[str], bool]:
    """Who Discord notifies for `content`: (user ids, role ids, @everyone/@here), as
    `allowed_mentions` permits (absent: every kind; `parse` names kinds, `users`/`roles`
    list ids). Only content mentions count: embeds never notify."""
    users = set(re.findall(r"<@!?(\d+)>", content))
    roles = re.findall(r"<@&(\d+)>", content)
    mass = bool(re.search(r"@(?:everyone|here)", content))
    if not isinstance(allowed, dict):
        return users, roles, mass
    parse = set(allowed.get("parse") or ())
    if "users" not in parse:
        users &= {str(u) for u in allowed.get("users") or ()}
    if "roles" not in parse:
        roles = [r for r in roles if r in {str(x) for x in allowed.get("roles") or ()}]
    return users, roles, mass and "everyone" in parse


def allowed_mentions_error(body: Any) -> tuple[int, dict[str, Any]] | None:
    """Discord's 400 for `parse` naming a kind that is also listed by id."""
    allowed = body.get("allowed_mentions") if isinstance(body, dict) else None
    if not isinstance(allowed, dict):
        return None
    parse = set(allowed.get("parse") or ())
    for kind in ("users", "roles"):
        if kind in parse and allowed.get(kind):
            return 400, {
                "code": 50035,
                "message": f"Invalid Form Body (allowed_mentions: parse:[{kind}] and {kind}: "
                "[ids] are mutually exclusive.)",
            }
    return None


def message_text(msg: dict[str, Any]) -> str:
    """All visible text of a stored message (content and embeds)."""
    return "\n".join(_message_texts(msg))


class FakeDiscord:
    """A local Discord guild with one bot application. See the module docstring."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        channels: tuple[str, ...] = ("incidents", "incidents-low", "ops", "security", "general"),
        users: tuple[str, ...] = ("alice", "bob", "carol", "dave"),
        interaction_deadline: float = 3.0,
        heartbeat_interval_ms: int = 41250,
        allowed_intents: int = PRIVILEGED_INTENTS,
        nonce_window: float = 180.0,
    ) -> None:
        self.token = token
        self.nonce_window = nonce_window
        self._nonces: dict[tuple[str, str], tuple[float, str]] = {}  # (author, nonce) -> (t, id)
        self._unanswered: list[tuple[str, re.Pattern[str], list[bool]]] = []
        self._late: list[tuple[str, re.Pattern[str], float]] = []
        self.nonce_replays = 0  # creates answered with the original message of their nonce
        self._closing = asyncio.Event()
        self.interaction_deadline = interaction_deadline
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.allowed_intents = allowed_intents
        self._ids = itertools.count()
        self.guild_id = self.snowflake()
        self.app_id = self.snowflake()
        self.bot = self._user("incidentbot", bot=True)
        self.users: dict[str, dict[str, Any]] = {name: self._user(name) for name in users}
        self.channels: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str] = {}
        for pos, name in enumerate(channels):
            cid = self.snowflake()
            self.names[name] = cid
            self.channels[cid] = {
                "id": cid,
                "type": 0,
                "guild_id": self.guild_id,
                "name": name,
                "position": pos,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
                "topic": None,
                "last_message_id": None,
                "rate_limit_per_user": 0,
            }
        self.messages: dict[str, dict[str, Any]] = {}  # id -> message
        self.reactions: list[tuple[str, str, str]] = []  # (message id, user id, emoji)
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" | guild id -> commands
        self.interactions: dict[str, InteractionRecord] = {}
        self.calls: list[Call] = []
        self.unknown_routes: list[str] = []
        self.faults: list[Fault] = []
        # gateway
        self.session_id: str | None = None
        self.seq = 0
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.identifies = 0
        self.resumes = 0
        self.heartbeats = 0
        self.intents: int | None = None
        self._ws: web.WebSocketResponse | None = None
        self._open = asyncio.Event()
        self._open.set()
        self._send_lock = asyncio.Lock()
        self._cond = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Awaitable[Any]]]] = []
        self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        self._closing.set()
        self._open.set()
        if self._ws is not None and not self._ws.closed:
            await self._ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ ids and objects

    def snowflake(self) -> str:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (next(self._ids) & 0x3FFFFF))

    def _user(self, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": self.snowflake(),
            "username": name,
            "discriminator": "0",
            "global_name": name.capitalize(),
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }

    def user_id(self, name: str) -> str:
        return str(self.users[name]["id"])

    def channel_id(self, name: str) -> str:
        return self.names[name]

    def _member(self, user: dict[str, Any], *, with_user: bool = True) -> dict[str, Any]:
        m: dict[str, Any] = {
            "roles": [],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "permissions": "2147483647",
        }
        if with_user:
            m["user"] = user
        return m

    def _guild(self) -> dict[str, Any]:
        return {
            "id": self.guild_id,
            "name": "Fake Guild",
            "owner_id": self.users[next(iter(self.users))]["id"],
            "unavailable": False,
            "channels": [c for c in self.channels.values() if c["type"] == 0],
            "threads": [c for c in self.channels.values() if c["type"] in (11, 12)],
            "roles": [
                {
                    "id": self.guild_id,
                    "name": "@everyone",
                    "permissions": "2147483647",
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "members": [self._member(self.bot)],
            "member_count": len(self.users) + 1,
            "large": False,
            "features": [],
            "emojis": [],
            "stickers": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "premium_tier": 0,
            "preferred_locale": "en-US",
        }

    def _message(
        self,
        channel_id: str,
        author: dict[str, Any],
        body: dict[str, Any],
        *,
        flags: int = 0,
        webhook_id: str | None = None,
        interaction_id: str | None = None,
    ) -> dict[str, Any]:
        mid = self.snowflake()
        content = str(body.get("content") or "")
        mentioned, roles, mass = pinged(content, body.get("allowed_mentions"))
        everyone = [*self.users.values(), self.bot]
        msg: dict[str, Any] = {
            "id": mid,
            "type": 0 if interaction_id is None else 20,
            "content": content,
            "channel_id": channel_id,
            "guild_id": self.guild_id,
            "author": author,
            "timestamp": _iso((int(mid) >> 22) / 1000 + DISCORD_EPOCH_MS / 1000),
            "edited_timestamp": None,
            "embeds": list(body.get("embeds") or []),
            "attachments": [],
            "mentions": [u for u in everyone if u["id"] in mentioned],
            "mention_roles": roles,
            "pinned": False,
            "tts": False,
            "mention_everyone": mass,
            "flags": flags | int(body.get("flags") or 0),
            "components": list(body.get("components") or []),
        }
        if webhook_id:
            msg["webhook_id"] = webhook_id
        self.messages[mid] = msg
        ch = self.channels.get(channel_id)
        if ch is not None:
            ch["last_message_id"] = mid
            if ch["type"] in (11, 12):
                ch["message_count"] = int(ch.get("message_count", 0)) + 1
        return msg

    # ------------------------------------------------------------------ queries

    def messages_in(self, channel: str, *, ephemeral: bool = False) -> list[dict[str, Any]]:
        """Messages everyone sees in a channel (name or id) or thread id, oldest first;
        `ephemeral=True` adds the ones only their invoker saw."""
        cid = self.names.get(channel, channel)
        return [
            m
            for m in self.messages.values()
            if m["channel_id"] == cid and (ephemeral or not int(m["flags"]) & EPHEMERAL)
        ]

    def threads(self) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c["type"] in (11, 12)]

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        rx = re.compile(pattern)
        return [c for c in self.calls if c.method == method and rx.fullmatch(c.path)]

    async def wait_for(self, pred: Callable[[], T | None], within: float = 5.0) -> T:
        """Waits until `pred()` is truthy (re-checked on every state change); returns it."""
        result: list[T] = []

        def check() -> bool:
            v = pred()
            if v:
                result.append(v)
                return True
            return False

        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(check), within)
        return result[0]

    async def _changed(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    # ------------------------------------------------------------------ fault injection

    def rate_limit(
        self,
        method: str,
        pattern: str,
        *,
        retry_after: float = 0.3,
        times: int = 1,
        is_global: bool = False,
    ) -> None:
        """The next `times` matching calls get a 429 exactly as Discord sends it."""
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": is_global,
        }
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Scope": "global" if is_global else "user",
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": str(retry_after),
            "X-RateLimit-Bucket": "fakebucket",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        self.faults.append(Fault(method, re.compile(pattern), 429, body, headers, times))

    def fail(
        self,
        method: str,
        pattern: str,
        *,
        status: int = 403,
        code: int = 50013,
        message: str = "Missing Permissions",
        times: int = 1,
    ) -> None:
        """The next `times` matching calls fail with `status` and Discord's error body."""
        self.faults.append(
            Fault(
                method, re.compile(pattern), status, {"message": message, "code": code}, {}, times
            )
        )

    def never_answer(self, method: str, pattern: str, *, times: int = 1, drop: bool = True) -> None:
        """The next `times` matching requests are carried out but not answered: the
        connection is closed (`drop`), or stays silent until the client gives up."""
        self._unanswered.append((method, re.compile(pattern), [drop] * times))

    def answer_late(self, method: str, pattern: str, seconds: float) -> None:
        """From now on matching requests are carried out at once and answered `seconds`
        later (the window in which a crash loses the answer of a create that happened)."""
        self._late = [(m, rx, t) for m, rx, t in self._late if (m, rx.pattern) != (method, pattern)]
        if seconds > 0:
            self._late.append((method, re.compile(pattern), seconds))

    def pause_gateway(self) -> None:
        """New gateway connections wait (before HELLO) until `resume_gateway()`."""
        self._open.clear()

    def resume_gateway(self) -> None:
        self._open.set()

    async def disconnect(self, *, op7: bool = False) -> None:
        """Drops the bot's gateway connection (close 4000, or an op 7 RECONNECT request).

        discord.py reconnects and RESUMEs; events dispatched meanwhile are replayed."""
        ws = self._ws
        self._ws = None
        if ws is None or ws.closed:
            return
        if op7:
            await ws.send_json({"op": 7, "d": None, "s": None, "t": None})
        await ws.close(code=4000, message=b"fake: forced disconnect")

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        await self._open.wait()
        await ws.send_json(
            {
                "op": 10,
                "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                "s": None,
                "t": None,
            }
        )
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            op, d = data.get("op"), data.get("d")
            if op == 1:
                self.heartbeats += 1
                await ws.send_json({"op": 11})
            elif op == 2:
                await self._identify(ws, d)
            elif op == 6:
                await self._resume(ws, d)
        if self._ws is ws:
            self._ws = None
        await self._changed()
        return ws

    async def _identify(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> None:
        if d.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(d.get("intents") or 0)
        if intents & PRIVILEGED_INTENTS & ~self.allowed_intents:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        self.intents = intents
        self.identifies += 1
        self.session_id = f"session-{self.snowflake()}"
        self.seq = 0
        self.events = []
        self._ws = ws
        await self.dispatch(
            "READY",
            {
                "v": 10,
                "user": self.bot,
                "guilds": [{"id": self.guild_id, "unavailable": True}],
                "session_id": self.session_id,
                "resume_gateway_url": self.gateway_url,
                "shard": [0, 1],
                "application": {"id": self.app_id, "flags": 0},
                "private_channels": [],
                "relationships": [],
            },
        )
        await self.dispatch("GUILD_CREATE", self._guild())

    async def _resume(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> None:
        if d.get("token") != self.token or d.get("session_id") != self.session_id:
            await ws.send_json({"op": 9, "d": False, "s": None, "t": None})
            return
        self.resumes += 1
        after = int(d.get("seq") or 0)
        async with self._send_lock:  # no live dispatch may overtake the replay
            self._ws = ws
            for seq, t, payload in list(self.events):
                if seq > after:
                    await self._write(ws, seq, t, payload)
        await self.dispatch("RESUMED", {})

    async def dispatch(self, t: str, d: dict[str, Any]) -> None:
        """Sends a dispatch event now, or keeps it for the RESUME replay when offline."""
        async with self._send_lock:
            self.seq += 1
            self.events.append((self.seq, t, d))
            ws = self._ws
            if ws is not None and not ws.closed:
                await self._write(ws, self.seq, t, d)

    async def _write(self, ws: web.WebSocketResponse, seq: int, t: str, d: dict[str, Any]) -> None:
        try:
            await ws.send_json({"op": 0, "s": seq, "t": t, "d": d})
        except (ConnectionError, RuntimeError):
            return  # the client is gone; it gets the event on RESUME
        if t == "INTERACTION_CREATE":
            rec = self.interactions.get(str(d["id"]))
            if rec is not None and rec.delivered_at is None:
                rec.delivered_at = asyncio.get_running_loop().time()
        await self._changed()

    async def wait_ready(self, within: float = 10.0) -> None:
        """Waits until the bot identified and its application commands are synced."""
        await self.wait_for(
            lambda: self.connected and self.identifies > 0 and self.commands, within
        )

    # ------------------------------------------------------------------ driver

    def _channel_payload(self, channel_id: str) -> dict[str, Any]:
        return dict(self.channels[channel_id])

    def _interaction(
        self,
        itype: int,
        data: dict[str, Any],
        user: str,
        channel: str,
        message: dict[str, Any] | None = None,
    ) -> InteractionRecord:
        cid = self.names.get(channel, channel)
        u = self.users[user]
        iid = self.snowflake()
        payload: dict[str, Any] = {
            "id": iid,
            "application_id": self.app_id,
            "type": itype,
            "token": f"itok-{iid}",
            "version": 1,
            "guild_id": self.guild_id,
            "channel_id": cid,
            "channel": self._channel_payload(cid),
            "member": self._member(u),
            "data": data,
            "app_permissions": "2147483647",
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": self.guild_id},
            "context": 0,
            "attachment_size_limit": 26214400,
        }
        if message is not None:
            payload["message"] = message
        rec = InteractionRecord(iid, payload["token"], payload, asyncio.get_running_loop().time())
        self.interactions[iid] = rec
        return rec

    def _command(self, name: str) -> dict[str, Any]:
        for scope in (self.guild_id, "global"):
            for cmd in self.commands.get(scope, []):
                if cmd["name"] == name:
                    return cmd
        raise KeyError(f"command {name!r} was not synced; synced: {self.commands}")

    def _options(
        self,
        schema: list[dict[str, Any]],
        options: dict[str, Any],
        resolved: dict[str, Any],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        by_name = {o["name"]: o for o in schema}
        out: list[dict[str, Any]] = []
        for name, value in options.items():
            if name not in by_name:
                raise KeyError(f"option {name!r} not in {sorted(by_name)}")
            otype = int(by_name[name]["type"])
            opt: dict[str, Any] = {"name": name, "type": otype, "value": value}
            if otype == 6:  # USER: the driver names a fake user; Discord sends id + resolved
                u = self.users[value]
                opt["value"] = u["id"]
                resolved.setdefault("users", {})[u["id"]] = u
                resolved.setdefault("members", {})[u["id"]] = self._member(u, with_user=False)
            if name == focused:
                opt["focused"] = True
            out.append(opt)
        return out

    async def slash(
        self,
        sub: str,
        options: dict[str, Any] | None = None,
        *,
        user: str = "alice",
        channel: str = "ops",
        command: str = "incident",
        focused: str | None = None,
    ) -> InteractionRecord:
        """Delivers `/command sub option:value…` (or its autocomplete when `focused`)."""
        cmd = self._command(command)
        subs = {o["name"]: o for o in cmd.get("options", []) if o["type"] == 1}
        if sub not in subs:
            raise KeyError(f"subcommand {sub!r} not in {sorted(subs)}")
        resolved: dict[str, Any] = {}
        opts = self._options(subs[sub].get("options", []), options or {}, resolved, focused)
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": command,
            "type": 1,
            "options": [{"name": sub, "type": 1, "options": opts}],
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        rec = self._interaction(4 if focused else 2, data, user, channel)
        await self.dispatch("INTERACTION_CREATE", rec.payload)
        return rec

    async def click(
        self, message_id: str, custom_id: str, *, user: str = "alice"
    ) -> InteractionRecord:
        """Presses the button `custom_id` on a stored message."""
        msg = self.messages[message_id]
        ids = [c.get("custom_id") for row in msg["components"] for c in row.get("components", [])]
        if custom_id not in ids:
            raise KeyError(f"no button {custom_id!r} on message {message_id}: {ids}")
        rec = self._interaction(
            3, {"custom_id": custom_id, "component_type": 2}, user, msg["channel_id"], message=msg
        )
        await self.dispatch("INTERACTION_CREATE", rec.payload)
        return rec

    async def submit_modal(
        self,
        modal: dict[str, Any],
        values: dict[str, str],
        *,
        user: str = "alice",
        channel: str = "ops",
    ) -> InteractionRecord:
        """Submits a modal the bot opened, filling text inputs by custom_id."""
        rows: list[dict[str, Any]] = []
        for comp in modal.get("components", []):
            inner = comp.get("components") or ([comp["component"]] if "component" in comp else [])
            for c in inner:
                if c.get("type") == 4:
                    rows.append(
                        {
                            "type": 1,
                            "components": [
                                {
                                    "type": 4,
                                    "custom_id": c["custom_id"],
                                    "value": values.get(c["custom_id"], c.get("value") or ""),
                                }
                            ],
                        }
                    )
        rec = self._interaction(
            5, {"custom_id": modal["custom_id"], "components": rows}, user, channel
        )
        await self.dispatch("INTERACTION_CREATE", rec.payload)
        return rec

    async def redeliver(self, rec: InteractionRecord) -> None:
        """Delivers the same interaction (same id and token) once more."""
        await self.dispatch("INTERACTION_CREATE", rec.payload)

    async def user_message(
        self, channel: str, content: str, *, user: str = "alice"
    ) -> dict[str, Any]:
        """A person posts `content` (write `<@bot>` for a bot mention via `mention_bot`)."""
        cid = self.names.get(channel, channel)
        msg = self._message(cid, self.users[user], {"content": content})
        event = dict(msg, member=self._member(self.users[user], with_user=False))
        await self.dispatch("MESSAGE_CREATE", event)
        return msg

    def mention_bot(self) -> str:
        return f"<@{self.bot['id']}>"

    async def react(self, message_id: str, emoji: str = "📌", *, user: str = "alice") -> None:
        msg = self.messages[message_id]
        u = self.users[user]
        self.reactions.append((message_id, u["id"], emoji))
        await self.dispatch(
            "MESSAGE_REACTION_ADD",
            {
                "user_id": u["id"],
                "channel_id": msg["channel_id"],
                "message_id": message_id,
                "guild_id": self.guild_id,
                "member": self._member(u),
                "emoji": {"id": None, "name": emoji},
                "message_author_id": msg["author"]["id"],
                "burst": False,
                "type": 0,
            },
        )

    # ------------------------------------------------------------------ REST

    def _build_routes(self) -> None:
        r = self._routes

        def add(method: str, path: str, fn: Callable[..., Awaitable[Any]]) -> None:
            rx = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
            r.append((method, re.compile(rx), fn))

        add("GET", "/users/@me", self._get_me)
        add("GET", "/oauth2/applications/@me", self._get_app)
        add("GET", "/gateway", self._get_gateway)
        add("GET", "/gateway/bot", self._get_gateway)
        add("PUT", "/applications/{app}/commands", self._put_commands)
        add("PUT", "/applications/{app}/guilds/{guild}/commands", self._put_commands)
        add("GET", "/applications/{app}/commands", self._get_commands)
        add("GET", "/applications/{app}/guilds/{guild}/commands", self._get_commands)
        add("POST", "/interactions/{iid}/{token}/callback", self._callback)
        add("POST", "/webhooks/{app}/{token}", self._followup)
        add("GET", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_message)
        add("PATCH", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_message)
        add("DELETE", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_message)
        add("GET", "/channels/{ch}", self._get_channel)
        add("POST", "/channels/{ch}/messages", self._post_message)
        add("GET", "/channels/{ch}/messages/{mid}", self._get_message)
        add("PATCH", "/channels/{ch}/messages/{mid}", self._edit_message)
        add("POST", "/channels/{ch}/messages/{mid}/threads", self._thread_from_message)
        add("POST", "/channels/{ch}/threads", self._thread_without_message)
        add("PUT", "/channels/{ch}/thread-members/@me", self._no_content)
        add("PUT", "/channels/{ch}/messages/{mid}/reactions/{emoji}/@me", self._no_content)

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Bucket": "fakebucket",
        }

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body: Any = None
        if request.can_read_body:
            if request.content_type.startswith("multipart/"):
                form = await request.post()
                raw = form.get("payload_json")
                body = json.loads(str(raw)) if raw is not None else {}
            else:
                text = await request.text()
                body = json.loads(text) if text else None
        call = Call(
            request.method, path, dict(request.query), body, at=asyncio.get_running_loop().time()
        )
        self.calls.append(call)
        resp = await self._route(request, path, body)
        call.status = resp.status
        drop = self._take_unanswered(request.method, path)
        if drop is not None:
            call.status = 0
        await self._changed()
        if drop is not None:
            transport = request.transport
            while not drop and transport is not None and not transport.is_closing():
                if self._closing.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), 0.05)
            if transport is not None:
                transport.abort()
            return web.Response(status=204)  # never written: the connection is gone
        late = next(
            (t for m, rx, t in self._late if m == request.method and rx.fullmatch(path)), 0.0
        )
        if late:
            await asyncio.sleep(late)
        return resp

    def _take_unanswered(self, method: str, path: str) -> bool | None:
        for m, rx, flags in self._unanswered:
            if flags and m == method and rx.fullmatch(path):
                return flags.pop(0)
        return None

    async def _route(self, request: web.Request, path: str, body: Any) -> web.Response:
        for fault in self.faults:
            if fault.times > 0 and fault.method == request.method and fault.pattern.fullmatch(path):
                fault.times -= 1
                return _json(fault.body, status=fault.status, headers=fault.headers)
        for method, rx, fn in self._routes:
            m = rx.fullmatch(path)
            if m and method == request.method:
                open_route = path.startswith(("/webhooks/", "/interactions/"))
                if not open_route and request.headers.get("Authorization") != f"Bot {self.token}":
                    return _json({"message": "401: Unauthorized", "code": 0}, status=401)
                status, data = await fn(body, request.query, **m.groupdict())
                if status == 204:
                    return web.Response(status=204, headers=self._rate_headers())
                return _json(data, status=status, headers=self._rate_headers())
        self.unknown_routes.append(f"{request.method} {path}")
        return _json({"message": "404: Not Found", "code": 0}, status=404)

    @staticmethod
    def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
        return status, {"message": message, "code": code}

    async def _no_content(self, body: Any, query: Any, **_: str) -> tuple[int, Any]:
        return 204, None

    async def _get_me(self, body: Any, query: Any) -> tuple[int, Any]:
        return 200, self.bot

    async def _get_app(self, body: Any, query: Any) -> tuple[int, Any]:
        return 200, {
            "id": self.app_id,
            "name": "incidentbot",
            "description": "",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": self.users[next(iter(self.users))],
            "verify_key": "00" * 32,
            "flags": 0,
            "interactions_endpoint_url": None,
            "team": None,
            "summary": "",
            "rpc_origins": [],
        }

    async def _get_gateway(self, body: Any, query: Any) -> tuple[int, Any]:
        return 200, {
            "url": self.gateway_url.rstrip("/"),
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000,
                "reset_after": 0,
                "max_concurrency": 1,
            },
        }

    async def _put_commands(
        self, body: Any, query: Any, app: str, guild: str = ""
    ) -> tuple[int, Any]:
        if app != self.app_id:
            return self._error(404, 10002, "Unknown Application")
        out = []
        for cmd in body or []:
            c = dict(cmd, id=self.snowflake(), application_id=self.app_id, version=self.snowflake())
            c.setdefault("description", "")
            if guild:
                c["guild_id"] = guild
            out.append(c)
        self.commands[guild or "global"] = out
        return 200, out

    async def _get_commands(
        self, body: Any, query: Any, app: str, guild: str = ""
    ) -> tuple[int, Any]:
        return 200, self.commands.get(guild or "global", [])

    async def _callback(self, body: Any, query: Any, iid: str, token: str) -> tuple[int, Any]:
        rec = self.interactions.get(iid)
        if rec is None or rec.token != token:
            return self._error(404, 10062, "Unknown interaction")
        now = asyncio.get_running_loop().time()
        if rec.callbacks:
            rec.rejected.append(40060)
            return self._error(400, 40060, "Interaction has already been acknowledged.")
        if rec.delivered_at is None or now - rec.delivered_at > self.interaction_deadline:
            rec.rejected.append(10062)
            return self._error(404, 10062, "Unknown interaction")
        rec.callbacks.append(body)
        rec.responded_at = now
        ctype = int(body["type"])
        data = body.get("data") or {}
        message = None
        if ctype == 4:
            message = self._message(rec.payload["channel_id"], self.bot, data, interaction_id=iid)
            rec.original = message
        elif ctype == 5:
            message = self._message(
                rec.payload["channel_id"],
                self.bot,
                {"content": "", "flags": int(data.get("flags") or 0) | 128},
                interaction_id=iid,
            )
            rec.original = message
        elif ctype == 7 and "message" in rec.payload:
            target = self.messages[rec.payload["message"]["id"]]
            target.update(
                {k: v for k, v in data.items() if k in ("content", "embeds", "components")}
            )
            message = target
        if query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        resp: dict[str, Any] = {
            "interaction": {
                "id": iid,
                "type": rec.payload["type"],
                "activity_instance_id": None,
                "response_message_id": message["id"] if message else None,
                "response_message_loading": ctype == 5,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL),
            },
            "resource": {"type": ctype},
        }
        if message is not None:
            resp["resource"]["message"] = message
        return 200, resp

    def _by_token(self, token: str) -> InteractionRecord | None:
        return next((r for r in self.interactions.values() if r.token == token), None)

    async def _followup(self, body: Any, query: Any, app: str, token: str) -> tuple[int, Any]:
        rec = self._by_token(token)
        if rec is None or not rec.callbacks:
            return self._error(404, 10015, "Unknown Webhook")
        msg = self._message(
            rec.payload["channel_id"], self.bot, body or {}, webhook_id=app, interaction_id=rec.id
        )
        rec.followups.append(msg)
        return 200, msg

    async def _webhook_message(
        self, body: Any, query: Any, app: str, token: str, mid: str
    ) -> tuple[int, Any]:
        rec = self._by_token(token)
        if rec is None or rec.original is None:
            return self._error(404, 10008, "Unknown Message")
        target = rec.original if mid == "@original" else self.messages.get(mid)
        if target is None:
            return self._error(404, 10008, "Unknown Message")
        if body is not None and isinstance(body, dict):  # PATCH
            for k in ("content", "embeds", "components"):
                if k in body:
                    target[k] = body[k]
            target["flags"] = int(target.get("flags", 0)) & ~128  # no longer "thinking"
            target["edited_timestamp"] = _iso(time.time())
        return 200, target

    async def _get_channel(self, body: Any, query: Any, ch: str) -> tuple[int, Any]:
        if ch not in self.channels:
            return self._error(404, 10003, "Unknown Channel")
        return 200, self.channels[ch]

    async def _post_message(self, body: Any, query: Any, ch: str) -> tuple[int, Any]:
        if ch not in self.channels:
            return self._error(404, 10003, "Unknown Channel")
        body = body or {}
        if not body.get("content") and not body.get("embeds"):
            return self._error(400, 50006, "Cannot send an empty message")
        if err := allowed_mentions_error(body):
            return err
        if len(str(body.get("content") or "")) > 2000:
            return self._error(
                400, 50035, "Invalid Form Body (content: Must be 2000 or fewer in length.)"
            )
        nonce = body.get("nonce")
        key = (str(self.bot["id"]), str(nonce))
        now = time.monotonic()
        if nonce is not None and body.get("enforce_nonce"):
            if len(str(nonce)) > 25:
                return self._error(
                    400, 50035, "Invalid Form Body (nonce: Must be 25 or fewer in length.)"
                )
            seen = self._nonces.get(key)
            if seen is not None and now - seen[0] <= self.nonce_window:
                self.nonce_replays += 1
                return 200, self.messages[seen[1]]  # Discord: the original, nothing new
        msg = self._message(ch, self.bot, body)
        if nonce is not None:
            msg["nonce"] = str(nonce)
            if body.get("enforce_nonce"):
                self._nonces[key] = (now, msg["id"])
        await self.dispatch("MESSAGE_CREATE", msg)
        return 200, msg

    async def _get_message(self, body: Any, query: Any, ch: str, mid: str) -> tuple[int, Any]:
        msg = self.messages.get(mid)
        if msg is None or msg["channel_id"] != ch:
            return self._error(404, 10008, "Unknown Message")
        return 200, msg

    async def _edit_message(self, body: Any, query: Any, ch: str, mid: str) -> tuple[int, Any]:
        msg = self.messages.get(mid)
        if msg is None or msg["channel_id"] != ch:
            return self._error(404, 10008, "Unknown Message")
        for k in ("content", "embeds", "components"):
            if k in (body or {}):
                msg[k] = body[k]
        msg["edited_timestamp"] = _iso(time.time())
        await self.dispatch("MESSAGE_UPDATE", msg)
        return 200, msg

    def _thread(self, parent: str, name: str, ttype: int, archive: int, tid: str) -> dict[str, Any]:
        return {
            "id": tid,
            "guild_id": self.guild_id,
            "parent_id": parent,
            "owner_id": self.bot["id"],
            "name": name,
            "type": ttype,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "last_message_id": None,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": archive,
                "archive_timestamp": _iso(time.time()),
                "locked": False,
            },
            "member": {
                "id": tid,
                "user_id": self.bot["id"],
                "join_timestamp": _iso(time.time()),
                "flags": 0,
            },
        }

    async def _thread_from_message(
        self, body: Any, query: Any, ch: str, mid: str
    ) -> tuple[int, Any]:
        msg = self.messages.get(mid)
        if msg is None or msg["channel_id"] != ch:
            return self._error(404, 10008, "Unknown Message")
        if any(c.get("id") == mid for c in self.threads()):
            return self._error(400, 160004, "A thread has already been created for this message")
        name = str((body or {}).get("name") or "")
        if not 1 <= len(name) <= 100:
            return self._error(400, 50035, "Invalid Form Body (name)")
        thread = self._thread(
            ch, name, 11, int((body or {}).get("auto_archive_duration") or 1440), mid
        )  # Discord: a message's thread has the message's id
        self.channels[mid] = thread
        msg["thread"] = thread
        await self.dispatch("THREAD_CREATE", dict(thread, newly_created=True))
        return 201, thread

    async def _thread_without_message(self, body: Any, query: Any, ch: str) -> tuple[int, Any]:
        if ch not in self.channels:
            return self._error(404, 10003, "Unknown Channel")
        tid = self.snowflake()
        body = body or {}
        thread = self._thread(
            ch,
            str(body.get("name") or "thread"),
            int(body.get("type") or 11),
            int(body.get("auto_archive_duration") or 1440),
            tid,
        )
        self.channels[tid] = thread
        await self.dispatch("THREAD_CREATE", dict(thread, newly_created=True))
        return 201, thread
