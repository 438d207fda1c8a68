"""Local stand-ins for PagerDuty, Opsgenie, GitHub and a webhook receiver.

Each is a real aiohttp server on 127.0.0.1 that checks requests the way the real service
documents them (Events API v2 schema and enums; Opsgenie alert fields, limits and the
GenieKey header; GitHub's auth, User-Agent and issue fields; the webhook's HMAC) and
answers with the real status codes and bodies. Every request is recorded; `problems`
lists what a validator refused, so a test can assert the pager never sent a bad request.

`script(...)` queues canned answers (429 with Retry-After, 5xx, a hang) served before the
real handler; with `after=True` the real handler runs first and its answer is replaced
(the request took effect, the client still sees an error: the ambiguous case); `PASS`
lets one request through untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Scripted:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    after: bool = False  # run the real handler, then answer this instead
    hang: bool = False  # never answer (until the server closes)


PASS = Scripted(0)  # in a script: let this request through untouched


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


class FakeService:
    """Base: one aiohttp app on an ephemeral loopback port."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.problems: list[str] = []
        self._script: list[Scripted] = []
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def script(self, *answers: Scripted) -> None:
        self._script.extend(answers)

    def reject(self, problem: str) -> None:
        self.problems.append(problem)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.query),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        canned = self._script.pop(0) if self._script else None
        if canned is not None and canned.status == PASS.status:
            canned = None
        if canned is not None and canned.hang:
            await self._release.wait()
            return web.Response(status=503)
        if canned is not None and not canned.after:
            return _json(canned.status, canned.body, canned.headers)
        response = await handler(request)
        if canned is not None:
            return _json(canned.status, canned.body, canned.headers)
        return response

    async def start(self) -> Self:
        app = web.Application(middlewares=[self._middleware])
        self.routes(app)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def aclose(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    async def json_body(request: web.Request) -> Any:
        try:
            return json.loads(await request.read())
        except ValueError:
            return None


# --------------------------------------------------------------------------- PagerDuty

_PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
_PD_SEVERITIES = {"critical", "error", "warning", "info"}
_PD_TOP = {"routing_key", "event_action", "dedup_key", "payload", "images", "links", "client"}
_PD_TOP |= {"client_url"}
_PD_PAYLOAD = {"summary", "source", "severity", "timestamp", "component", "group", "class"}
_PD_PAYLOAD |= {"custom_details"}


class FakePagerDuty(FakeService):
    """Events API v2: `POST /v2/enqueue`. `alerts[(routing_key, dedup_key)]` is the state.

    Like any service might, its 400 for an unknown routing key quotes the key back, so
    tests can check the client redacts it.
    """

    def __init__(self, routing_keys: set[str]) -> None:
        super().__init__()
        self.routing_keys = routing_keys
        self.alerts: dict[tuple[str, str], dict[str, Any]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/enqueue", self.enqueue)

    def _errors(self, event: Any) -> list[str]:
        if not isinstance(event, dict):
            return ["Event object is not a JSON object"]
        errors = [f"'{k}' is not a known field" for k in event if k not in _PD_TOP]
        if not isinstance(event.get("routing_key"), str) or not event["routing_key"]:
            errors.append("'routing_key' is missing or blank")
        action = event.get("event_action")
        if action not in _PD_ACTIONS:
            errors.append(f"'event_action' must be one of {sorted(_PD_ACTIONS)}")
        dedup = event.get("dedup_key")
        if action != "trigger" and not dedup:
            errors.append("'dedup_key' is required for acknowledge and resolve")
        if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
            errors.append("'dedup_key' must be a string of at most 255 characters")
        payload = event.get("payload")
        if action == "trigger":
            if not isinstance(payload, dict):
                return [*errors, "'payload' is missing or not an object"]
            errors += [
                f"'payload.{k}' is not a known field" for k in payload if k not in _PD_PAYLOAD
            ]
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary or len(summary) > 1024:
                errors.append("'payload.summary' must be 1..1024 characters")
            if not isinstance(payload.get("source"), str) or not payload["source"]:
                errors.append("'payload.source' is missing or blank")
            if payload.get("severity") not in _PD_SEVERITIES:
                errors.append(f"'payload.severity' must be one of {sorted(_PD_SEVERITIES)}")
            if "timestamp" in payload:
                try:
                    datetime.fromisoformat(payload["timestamp"])
                except (TypeError, ValueError):
                    errors.append("'payload.timestamp' is not ISO 8601")
            if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
                errors.append("'payload.custom_details' must be an object")
        return errors

    async def enqueue(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            self.reject(f"content type {request.content_type}")
            return _json(400, {"status": "invalid event", "message": "Content-Type must be JSON"})
        event = await self.json_body(request)
        errors = self._errors(event)
        if errors:
            self.problems.extend(errors)
            return _json(
                400,
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
            )
        key = event["routing_key"]
        if key not in self.routing_keys:
            return _json(
                400,
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": [f"Invalid routing key: {key}"],
                },
            )
        state = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}
        alert = self.alerts.setdefault((key, event["dedup_key"]), {"events": 0})
        alert["events"] += 1
        alert["status"] = state[event["event_action"]]
        if "payload" in event:
            alert["payload"] = event["payload"]
        return _json(
            202,
            {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]},
        )


# --------------------------------------------------------------------------- Opsgenie

_OG_PRIORITIES = {"P1", "P2", "P3", "P4", "P5"}
_OG_CREATE = {"message", "alias", "description", "responders", "visibleTo", "actions", "tags"}
_OG_CREATE |= {"details", "entity", "source", "priority", "user", "note"}
_OG_RESPONDER_TYPES = {"team", "user", "escalation", "schedule"}


class FakeOpsgenie(FakeService):
    """Alert API v2: create, acknowledge, close. `alerts[alias]` is the state."""

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.alerts: dict[str, dict[str, Any]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/alerts", self.create)
        app.router.add_post("/v2/alerts/{identifier}/{verb:acknowledge|close}", self.act)

    def _answer(self, status: int, message: str) -> web.Response:
        return _json(status, {"message": message, "took": 0.001, "requestId": str(uuid.uuid4())})

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"GenieKey {self.api_key}"

    def _create_errors(self, body: Any) -> list[str]:
        if not isinstance(body, dict):
            return ["Request body is not a JSON object"]
        errors = [f"Unknown field: {k}" for k in body if k not in _OG_CREATE]
        message = body.get("message")
        if not isinstance(message, str) or not message.strip() or len(message) > 130:
            errors.append("Message can not be empty and is limited to 130 characters")
        limits = {"alias": 512, "description": 15000, "entity": 512, "source": 100, "note": 25000}
        for name, limit in limits.items():
            if name in body and (not isinstance(body[name], str) or len(body[name]) > limit):
                errors.append(f"{name} must be a string of at most {limit} characters")
        if "priority" in body and body["priority"] not in _OG_PRIORITIES:
            errors.append("Priority should be one of [P1, P2, P3, P4, P5]")
        tags = body.get("tags", [])
        if (
            not isinstance(tags, list)
            or len(tags) > 20
            or not all(isinstance(t, str) for t in tags)
        ):
            errors.append("tags must be a list of at most 20 strings")
        details = body.get("details", {})
        if not isinstance(details, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in details.items()
        ):
            errors.append("details must be a map of strings to strings")
        elif sum(len(k) + len(v) for k, v in details.items()) > 8000:
            errors.append("details are limited to 8000 characters")
        for r in body.get("responders", []):
            if not isinstance(r, dict) or r.get("type") not in _OG_RESPONDER_TYPES:
                errors.append(f"responder type must be one of {sorted(_OG_RESPONDER_TYPES)}")
            elif not (r.get("id") or r.get("name") or r.get("username")):
                errors.append("responder needs id, name or username")
        return errors

    async def create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._answer(401, "Could not authenticate")
        if request.content_type != "application/json":
            self.reject(f"content type {request.content_type}")
            return self._answer(415, "Unsupported Media Type")
        body = await self.json_body(request)
        errors = self._create_errors(body)
        if errors:
            self.problems.extend(errors)
            return self._answer(422, "; ".join(errors))
        alias = body.get("alias") or body["message"]
        alert = self.alerts.get(alias)
        if alert is not None and alert["status"] == "open":
            alert["count"] += 1  # de-duplicated by alias
        else:
            self.alerts[alias] = {
                "status": "open",
                "acknowledged": False,
                "count": 1,
                "body": body,
                "notes": [],
            }
        return self._answer(202, "Request will be processed")

    async def act(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._answer(401, "Could not authenticate")
        kind = request.query.get("identifierType", "id")
        if kind not in {"id", "alias", "tiny"}:
            self.reject(f"identifierType {kind}")
            return self._answer(422, "identifierType must be id, alias or tiny")
        body = await self.json_body(request) if await request.read() else {}
        allowed = {"user": 100, "source": 100, "note": 25000}
        if not isinstance(body, dict) or any(
            k not in allowed or not isinstance(v, str) or len(v) > allowed[k]
            for k, v in body.items()
        ):
            self.reject(f"bad action body {body!r}")
            return self._answer(422, "Request body is invalid")
        alert = self.alerts.get(request.match_info["identifier"]) if kind == "alias" else None
        if alert is not None:
            if request.match_info["verb"] == "close":
                alert["status"] = "closed"
            else:
                alert["acknowledged"] = True
            if "note" in body:
                alert["notes"].append(body["note"])
        # Opsgenie accepts asynchronously even when no such alert exists.
        return self._answer(202, "Request will be processed")


# --------------------------------------------------------------------------- webhook


class FakeWebhookReceiver(FakeService):
    """Verifies the HMAC-SHA256 signature independently; 401 when it does not match."""

    def __init__(self, secret: str, tolerance_s: float = 300) -> None:
        super().__init__()
        self.secret = secret.encode()
        self.tolerance_s = tolerance_s
        self.events: list[dict[str, Any]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/hooks/{token}", self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        ts = request.headers.get("X-Incidentbot-Timestamp", "")
        given = request.headers.get("X-Incidentbot-Signature", "")
        expected = (
            "sha256=" + hmac.new(self.secret, ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        )
        if not ts.isdigit() or abs(time.time() - int(ts)) > self.tolerance_s:
            return _json(401, {"error": "stale or missing timestamp"})
        if not hmac.compare_digest(given, expected):
            return _json(401, {"error": "signature mismatch"})
        if request.content_type != "application/json":
            self.reject(f"content type {request.content_type}")
            return _json(415, {"error": "expected application/json"})
        self.events.append(json.loads(raw))
        return _json(200, {"ok": True})


# --------------------------------------------------------------------------- GitHub


class FakeGitHub(FakeService):
    """Issues REST API for one repository: list, create, update, comment."""

    def __init__(self, repo: str, token: str) -> None:
        super().__init__()
        self.repo = repo
        self.token = token
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[str]] = {}
        self._numbers = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        base = "/repos/{owner}/{name}/issues"
        app.router.add_get(base, self.list_issues)
        app.router.add_post(base, self.create)
        app.router.add_patch(base + "/{number:\\d+}", self.update)
        app.router.add_post(base + "/{number:\\d+}/comments", self.comment)

    def _check(self, request: web.Request) -> web.Response | None:
        if "User-Agent" not in request.headers:
            self.reject("no User-Agent")
            return _json(403, {"message": "Request forbidden by administrative rules."})
        if request.headers.get("Authorization") not in {
            f"Bearer {self.token}",
            f"token {self.token}",
        }:
            return _json(401, {"message": "Bad credentials", "status": "401"})
        if "application/vnd.github+json" not in request.headers.get("Accept", ""):
            self.reject("Accept header is not application/vnd.github+json")
        if f"{request.match_info['owner']}/{request.match_info['name']}" != self.repo:
            return _json(404, {"message": "Not Found", "status": "404"})
        return None

    def _issue(self, number: int) -> dict[str, Any] | None:
        return self.issues.get(number)

    async def list_issues(self, request: web.Request) -> web.Response:
        if (denied := self._check(request)) is not None:
            return denied
        state = request.query.get("state", "open")
        wanted = {s for s in request.query.get("labels", "").split(",") if s}
        found = [
            i
            for i in self.issues.values()
            if (state == "all" or i["state"] == state)
            and wanted <= {label["name"] for label in i["labels"]}
        ]
        found.sort(key=lambda i: -int(i["number"]))
        return _json(200, found[: int(request.query.get("per_page", "30"))])

    async def create(self, request: web.Request) -> web.Response:
        if (denied := self._check(request)) is not None:
            return denied
        body = await self.json_body(request)
        errors: list[dict[str, str]] = []
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("title"), str)
            or not body["title"]
        ):
            errors.append({"resource": "Issue", "code": "missing_field", "field": "title"})
        else:
            for name in ("labels", "assignees"):
                value = body.get(name, [])
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    errors.append({"resource": "Issue", "code": "invalid", "field": name})
            if not isinstance(body.get("body", ""), str) or len(body.get("body", "")) > 65536:
                errors.append({"resource": "Issue", "code": "invalid", "field": "body"})
        if errors:
            self.problems.append(f"create issue: {errors}")
            return _json(422, {"message": "Validation Failed", "errors": errors})
        number = next(self._numbers)
        issue = {
            "number": number,
            "title": body["title"],
            "body": body.get("body", ""),
            "state": "open",
            "state_reason": None,
            "labels": [{"name": n} for n in body.get("labels", [])],
            "assignees": [{"login": a} for a in body.get("assignees", [])],
            "html_url": f"https://github.com/{self.repo}/issues/{number}",
        }
        self.issues[number] = issue
        return _json(201, issue)

    async def update(self, request: web.Request) -> web.Response:
        if (denied := self._check(request)) is not None:
            return denied
        issue = self._issue(int(request.match_info["number"]))
        if issue is None:
            return _json(404, {"message": "Not Found"})
        body = await self.json_body(request)
        if (
            not isinstance(body, dict)
            or body.get("state", "open") not in {"open", "closed"}
            or body.get("state_reason") not in {None, "completed", "not_planned", "reopened"}
        ):
            self.problems.append(f"update issue: {body!r}")
            return _json(422, {"message": "Validation Failed"})
        issue.update({k: body[k] for k in ("state", "state_reason", "title", "body") if k in body})
        return _json(200, issue)

    async def comment(self, request: web.Request) -> web.Response:
        if (denied := self._check(request)) is not None:
            return denied
        number = int(request.match_info["number"])
        if self._issue(number) is None:
            return _json(404, {"message": "Not Found"})
        body = await self.json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
            self.problems.append(f"comment: {body!r}")
            return _json(422, {"message": "Validation Failed"})
        self.comments.setdefault(number, []).append(body["body"])
        return _json(201, {"id": len(self.comments[number]), "body": body["body"]})
