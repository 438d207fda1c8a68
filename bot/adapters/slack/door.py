"""The door of `POST /slack/events`: what a request must be before bolt sees it.

In this order, each step answering on its own so nothing later ever sees a request an
earlier step refused:

1. size: more than `MAX_BODY` bytes -> 413 (from Content-Length when given, else while
   reading);
2. signature, over the raw bytes exactly as received and before anything parses them:
   `X-Slack-Request-Timestamp` must be an integer within `MAX_SKEW` seconds of now and
   `X-Slack-Signature` the `v0=` HMAC-SHA256 of `v0:<timestamp>:<body>` with the signing
   secret -> else 401;
3. decoding: UTF-8 only (a declared charset must be utf-8) -> else 400;
4. parsing: `application/json` is an Events API callback (a JSON object);
   `application/x-www-form-urlencoded` is a slash command (the form) or, with a `payload`
   field, an interactivity payload (a JSON object); at most `MAX_DEPTH` levels deep -> else 400;
5. shape: every field the listeners read has the JSON type they expect (a timestamp looks
   like one) -> else 400 naming the field.

A refusal is one warning log line (`slack.request_refused`, status and reason), never a
traceback: these are requests anyone on the network can send. Slack itself only ever sends
requests that pass; a signed request that fails 3-5 is a Slack change or a replayed
forgery of a leaked secret, and the reason says which field.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

MAX_BODY = 1024 * 1024  # bytes; Slack's largest payloads (view submissions) are far smaller
MAX_SKEW = 300  # seconds; Slack's documented replay window
MAX_DEPTH = 32  # JSON nesting; Slack payloads nest about 8 levels (view.state.values)

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")
_SLACK_TS = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,9})?$")

Kind = Literal["object", "list", "string", "ts"]
_KINDS: Mapping[Kind, tuple[type, str]] = {
    "object": (dict, "an object"),
    "list": (list, "a list"),
    "string": (str, "a string"),
    "ts": (str, "a Slack timestamp like 1712345678.000100"),
}


@dataclass(frozen=True, slots=True)
class Refused(Exception):
    """The request is refused with `status`; `reason` is safe to show and to log."""

    status: int
    reason: str

    def response(self) -> web.Response:
        return web.json_response({"ok": False, "error": self.reason}, status=self.status)


class SlackDoor:
    """Checks one request (see the module docstring); `now` is injectable for tests."""

    def __init__(
        self, signing_secret: str, *, now: Callable[[], float] = time.time, max_body: int = MAX_BODY
    ) -> None:
        if not signing_secret:
            raise ValueError("a signing secret is required")
        self._secret = signing_secret.encode()
        self._now = now
        self.max_body = max_body

    async def admit(self, request: web.Request) -> dict[str, Any]:
        """The parsed body of a genuine, well-formed Slack request; else raises `Refused`."""
        raw = await self._read(request)
        self.verify(request.headers, raw)
        return parse(raw, request.content_type, request.charset)

    async def _read(self, request: web.Request) -> bytes:
        declared = request.content_length
        if declared is not None and declared > self.max_body:
            raise Refused(413, f"request body over {self.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > self.max_body:
                    raise Refused(413, f"request body over {self.max_body} bytes")
                chunks.append(chunk)
        except (ConnectionError, HttpProcessingError) as exc:
            # The client hung up mid-body or broke the chunked encoding.
            raise Refused(400, f"request body incomplete ({type(exc).__name__})") from None
        return b"".join(chunks)

    def verify(self, headers: Mapping[str, str], raw: bytes) -> None:
        """Slack's v0 request signature over the raw body; raises `Refused(401)`."""
        ts = headers.get("X-Slack-Request-Timestamp", "")
        sig = headers.get("X-Slack-Signature", "")
        if not ts or not sig:
            raise Refused(401, "missing Slack signature headers")
        if not _TIMESTAMP.match(ts):
            raise Refused(401, "X-Slack-Request-Timestamp is not a Unix time in seconds")
        if abs(self._now() - int(ts)) > MAX_SKEW:
            raise Refused(401, "X-Slack-Request-Timestamp is more than 5 minutes off")
        expected = hmac.new(self._secret, b"v0:" + ts.encode() + b":" + raw, hashlib.sha256)
        if not _SIGNATURE.match(sig) or not hmac.compare_digest(
            sig.encode(), b"v0=" + expected.hexdigest().encode()
        ):
            raise Refused(401, "invalid Slack signature")


def parse(raw: bytes, content_type: str, charset: str | None) -> dict[str, Any]:
    """The body of a (verified) request as bolt's listeners receive it; raises `Refused(400)`."""
    if charset is not None and charset.lower().replace("-", "") != "utf8":
        raise Refused(400, f"unsupported charset {charset[:40]!r} (Slack sends UTF-8)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "request body is not valid UTF-8") from None
    if content_type == "application/json":
        body = _json_object(text, "request body")
        check_shape(body, EVENT_FIELDS)
        _require(body, EVENT_REQUIRED)
        if body["type"] == "event_callback" and body["event"]["type"] in HANDLED_EVENTS:
            check_shape(body, HANDLED_EVENT_FIELDS)
        return body
    if content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" not in form:
            # A slash command: every field is a string by construction.
            if not form.get("command", "").startswith("/"):
                raise Refused(400, "form body is neither a slash command nor a payload")
            return form
        body = _json_object(form["payload"], "payload")
        check_shape(body, INTERACTIVE_FIELDS)
        _require(body, INTERACTIVE_REQUIRED)
        if body.get("type") in ("view_submission", "view_closed"):
            _check_metadata(body)
        return body
    raise Refused(400, f"unsupported content type {content_type[:60]!r}")


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except RecursionError:
        raise Refused(400, f"{what} is nested too deeply") from None
    except ValueError:
        raise Refused(400, f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise Refused(400, f"{what} is not a JSON object")
    if _depth(value) > MAX_DEPTH:
        raise Refused(400, f"{what} is nested too deeply")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node if isinstance(v, dict | list))
    return deepest


# --------------------------------------------------------------------------- shapes

# Field path -> JSON kind (`ts`: a string shaped like a Slack message timestamp), for every
# field bolt's routing or our listeners read. `[]` is each element of a list, `*` each value
# of an object. Absent or null fields pass (Slack omits
# what does not apply); a present field of another type is refused. A parent is listed
# before its children, so a child is only looked at once its parent has the right type.
EVENT_FIELDS: tuple[tuple[str, Kind], ...] = (
    ("type", "string"),
    ("event_id", "string"),
    ("team_id", "string"),
    ("api_app_id", "string"),
    ("challenge", "string"),
    ("authorizations", "list"),
    ("authorizations[]", "object"),
    ("event", "object"),
    ("event.type", "string"),
)

# The inner fields of the events the listeners handle (other event types, which the app
# does not subscribe to, carry other shapes: `channel_created` has an object `channel`).
HANDLED_EVENTS = frozenset({"app_mention", "reaction_added"})
HANDLED_EVENT_FIELDS: tuple[tuple[str, Kind], ...] = (
    ("event.user", "string"),
    ("event.channel", "string"),
    ("event.text", "string"),
    ("event.ts", "ts"),
    ("event.thread_ts", "ts"),
    ("event.reaction", "string"),
    ("event.item", "object"),
    ("event.item.type", "string"),
    ("event.item.channel", "string"),
    ("event.item.ts", "ts"),
)

INTERACTIVE_FIELDS: tuple[tuple[str, Kind], ...] = (
    ("type", "string"),
    ("trigger_id", "string"),
    ("response_url", "string"),
    ("team", "object"),
    ("user", "object"),
    ("user.id", "string"),
    ("user.username", "string"),
    ("user.name", "string"),
    ("channel", "object"),
    ("channel.id", "string"),
    ("container", "object"),
    ("container.channel_id", "string"),
    ("container.thread_ts", "ts"),
    ("message", "object"),
    ("message.ts", "ts"),
    ("message.thread_ts", "ts"),
    ("actions", "list"),
    ("actions[]", "object"),
    ("actions[].action_id", "string"),
    ("actions[].block_id", "string"),
    ("actions[].value", "string"),
    ("actions[].action_ts", "string"),
    ("view", "object"),
    ("view.id", "string"),
    ("view.callback_id", "string"),
    ("view.private_metadata", "string"),
    ("view.state", "object"),
    ("view.state.values", "object"),
    ("view.state.values.*", "object"),
    ("view.state.values.*.*", "object"),
    ("view.state.values.*.*.type", "string"),
    ("view.state.values.*.*.value", "string"),
    ("view.state.values.*.*.selected_option", "object"),
    ("view.state.values.*.*.selected_option.value", "string"),
)


# Fields without which a request of a `type` means nothing (bolt would answer 404 or 500).
EVENT_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "event_callback": ("event", "event.type"),
    "url_verification": ("challenge",),
}
INTERACTIVE_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "block_actions": ("actions", "user"),
    "view_submission": ("view", "view.callback_id", "user"),
    "view_closed": ("view", "user"),
}


def _require(body: Mapping[str, Any], required: Mapping[str, tuple[str, ...]]) -> None:
    kind = body.get("type")
    if not kind:
        raise Refused(400, "type is required")
    for path in required.get(kind, ()):
        if not [v for _, v in _lookup(body, path) if v not in (None, "", [], {})]:
            raise Refused(400, f"{path} is required in a {kind} request")


def check_shape(body: Mapping[str, Any], fields: tuple[tuple[str, Kind], ...]) -> None:
    """Raises `Refused(400)` naming the first field of `fields` present with another type."""
    for path, kind in fields:
        python_type, wanted = _KINDS[kind]
        for where, value in _lookup(body, path):
            if value is None:
                continue
            ok = isinstance(value, python_type)
            if ok and kind == "ts":
                ok = bool(_SLACK_TS.match(value))
            if not ok:
                raise Refused(400, f"{where} must be {wanted}")


def _lookup(body: Mapping[str, Any], path: str) -> list[tuple[str, Any]]:
    """(concrete path, value) of every node `path` names; nodes of the wrong type are skipped
    (their own entry in the field table reports them)."""
    nodes: list[tuple[str, Any]] = [("", body)]
    for part in path.split("."):
        each = part.endswith("[]")
        name = part.removesuffix("[]")
        found: list[tuple[str, Any]] = []
        for where, node in nodes:
            if name == "*":
                if isinstance(node, dict):
                    found += [(f"{where}.{k}", v) for k, v in node.items()]
                continue
            if not isinstance(node, dict) or name not in node:
                continue
            at = f"{where}.{name}" if where else name
            value = node[name]
            if each:
                if isinstance(value, list):
                    found += [(f"{at}[{i}]", v) for i, v in enumerate(value)]
            else:
                found.append((at, value))
        nodes = found
    return nodes


def _check_metadata(body: Mapping[str, Any]) -> None:
    """A view's `private_metadata` is the JSON `ModalContext` the bot put there."""
    view = body.get("view") or {}
    meta = view.get("private_metadata") or ""
    if not meta:
        return
    try:
        d = json.loads(meta)
    except ValueError:
        raise Refused(400, "view.private_metadata is not the bot's JSON") from None
    ok = (
        isinstance(d, dict)
        and all(d.get(k) is None or isinstance(d[k], str) for k in ("c", "t"))
        and (d.get("i") is None or (isinstance(d["i"], int) and not isinstance(d["i"], bool)))
    )
    if not ok:
        raise Refused(400, "view.private_metadata is not the bot's JSON")
