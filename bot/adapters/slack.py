"""Slack adapter: slack-bolt `AsyncApp` over HTTP (`POST /slack/events`) and/or Socket Mode.

The adapter translates Slack to the core and back, nothing more:
* inbound (slash command, buttons, modals, mentions, 📌 reactions) is handled by
  `SlackInbound` (bot/adapters/slack_inbound.py): every request is acknowledged first, the work
  runs afterwards in a task this adapter tracks (and drains on `aclose`);
* outbound, it is the core's `Notifier` for platform "slack": `deliver` posts Block Kit
  (bot/adapters/slack_blocks.py) with a plain-text fallback and raises `DeliveryError`
  when Slack cannot take the message, so the core's outbox keeps and retries it.

Tokens and the Web API base URL are passed in explicitly: bolt would otherwise read
`SLACK_*` environment variables silently. The Web API client retries 429s (honouring
`Retry-After` up to `max_retry_wait` seconds, beyond that the outbox waits instead), 5xx and
connection errors with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack_blocks import render
from bot.adapters.slack_inbound import SlackInbound
from bot.core.messages import Message, Notice, NoticeKind
from bot.core.model import ChannelRef, Incident
from bot.core.service import IncidentService
from bot.errors import DeliveryError, DeliveryRejected, InfraError

log = structlog.get_logger("incidentbot.slack")

PLATFORM = "slack"
DEFAULT_API_URL = "https://slack.com/api/"

# Slack errors that retrying the same message cannot fix (the outbox stops and says so).
_REJECTED = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "msg_too_long",
        "no_text",
        "restricted_action",
    }
)


class _BoundedRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """Retries a 429 after its Retry-After, but only when that wait is short; a longer one
    surfaces as `DeliveryError(retry_after=…)` so the durable outbox waits, not a request."""

    def __init__(self, max_wait: float, max_retry_count: int = 2) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        return _retry_after(response.headers) <= self.max_wait


class _ServerErrorRetry(AsyncServerErrorRetryHandler):
    """AsyncServerErrorRetryHandler also retrying 502/504 (gateways in front of Slack)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in (500, 502, 503, 504)


def _retry_after(headers: Mapping[str, Any]) -> float:
    for k, v in headers.items():
        if k.lower() == "retry-after":
            raw = v[0] if isinstance(v, list | tuple) else v
            try:
                return float(raw)
            except (TypeError, ValueError):
                return 1.0
    return 1.0


def build_web_client(
    bot_token: str, api_url: str | None = None, *, max_retry_wait: float = 10.0
) -> AsyncWebClient:
    """The Web API client with the retry policy; `api_url` defaults to Slack's."""
    handlers: list[AsyncRetryHandler] = [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        _BoundedRateLimitRetry(max_retry_wait),
        _ServerErrorRetry(max_retry_count=2),
    ]
    return AsyncWebClient(
        token=bot_token,
        base_url=api_url or DEFAULT_API_URL,
        timeout=10,
        retry_handlers=handlers,
    )


class SlackAdapter:
    """The Slack side of incidentbot (see the module docstring).

    `channels` maps the core's channel keys (incidents, incidents_low, ops, security) to
    Slack channel ids. HTTP mode needs `signing_secret` (then call `mount(app)` on the
    composition root's aiohttp application); Socket Mode needs `app_token`; both may be set.
    """

    platform = PLATFORM

    def __init__(
        self,
        service: IncidentService,
        *,
        bot_token: str,
        channels: Mapping[str, str],
        signing_secret: str | None = None,
        app_token: str | None = None,
        api_url: str | None = None,
        command: str = "/incident",
        max_retry_wait: float = 10.0,
        drain_timeout: float = 10.0,
    ) -> None:
        if not signing_secret and not app_token:
            raise ValueError("Slack needs SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN")
        self.service = service
        self.channels = dict(channels)
        self._signing_secret = signing_secret or ""
        self._app_token = app_token
        self._drain_timeout = drain_timeout
        self.client = build_web_client(bot_token, api_url, max_retry_wait=max_retry_wait)
        # signing_secret="" (never None) keeps bolt from reading SLACK_SIGNING_SECRET itself;
        # verification stays on for HTTP requests and is skipped by bolt for Socket Mode.
        self.app = AsyncApp(
            client=self.client,
            signing_secret=self._signing_secret,
            request_verification_enabled=bool(signing_secret),
            name="incidentbot",
            logger=logging.getLogger("incidentbot.slack.bolt"),
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._authed = False
        self.inbound = SlackInbound(self.app, service, self.client, self.spawn, command=command)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Checks the token (auth.test) and, with an app token, connects Socket Mode.

        Never blocks on the connection's lifetime: the Socket Mode client runs in its own
        tasks on the caller's loop. Raises `InfraError` when Slack refuses the token.
        """
        self._session = aiohttp.ClientSession()
        self.client.session = self._session  # one pooled session for every Web API call
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            raise InfraError(f"Slack auth.test failed: {exc.response.get('error')}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise InfraError(f"Slack Web API unreachable: {type(exc).__name__}") from None
        self.inbound.bot_user_id = str(auth.get("user_id") or "")
        self._authed = True
        if self._app_token:
            # Built here, not in __init__: the SDK client starts tasks on the running loop.
            self._socket = AsyncSocketModeHandler(
                self.app, self._app_token, web_client=self.client, ping_interval=10
            )
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
        log.info("slack.started", socket_mode=bool(self._app_token))

    async def aclose(self) -> None:
        """Stops taking Socket Mode requests, finishes in-flight work (bounded), closes."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self._drain_timeout)
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._authed = False

    def connected(self) -> bool:
        """For /healthz: the token worked and, in Socket Mode, the WebSocket is up."""
        if not self._authed:
            return False
        if self._app_token:
            sock = self._socket.client if self._socket is not None else None
            ws = sock.current_session if sock is not None else None
            return sock is not None and not sock.closed and ws is not None and not ws.closed
        return True

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs `work` after the ack, tracked so `aclose` can drain it."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Returns once no work spawned by a request is still running (for tests, benches)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # ------------------------------------------------------------------ HTTP mode

    def mount(self, app: web.Application, path: str = "/slack/events") -> None:
        """Adds `POST path` (Events API, slash commands, interactivity) to `app`."""
        if not self._signing_secret:
            raise ValueError("HTTP mode needs a signing secret (SLACK_SIGNING_SECRET)")
        app.router.add_post(path, self.handle_http)

    async def handle_http(self, request: web.Request) -> web.Response:
        """One Slack HTTP request: bolt verifies the signature (401 if forged or > 5 min
        old), acks, and answers; listeners defer slow work to tracked tasks."""
        bolt_resp = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_resp)

    # ------------------------------------------------------------------ Notifier

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        """Posts `notice`; for ANNOUNCE returns the thread (channel, message ts) it opened."""
        if notice.kind is NoticeKind.THREAD:
            if incident.thread is None or incident.thread.thread is None:
                raise DeliveryError(f"{incident.key} has no thread yet", retry_after=5)
            await self._post(notice.message, incident.thread.channel, incident.thread.thread)
            return None
        if notice.kind in (NoticeKind.ANNOUNCE, NoticeKind.POST):
            channel = self.channels.get(notice.channel)
            if not channel:
                raise DeliveryRejected(f"no Slack channel configured for {notice.channel!r}")
            posted_in, ts = await self._post(notice.message, channel, None)
            if notice.kind is NoticeKind.ANNOUNCE:
                # Slack answers with the channel id even when configured by name.
                return ChannelRef(PLATFORM, posted_in, ts)
            return None
        raise DeliveryRejected(f"Slack cannot deliver a {notice.kind.value} notice")

    async def _post(self, message: Message, channel: str, thread: str | None) -> tuple[str, str]:
        """Posts; returns (channel id, message ts)."""
        text, blocks = render(message)
        try:
            try:
                resp = await self.client.chat_postMessage(
                    channel=channel, text=text, blocks=blocks, thread_ts=thread, unfurl_links=False
                )
            except SlackApiError as exc:
                if exc.response.get("error") != "invalid_blocks":
                    raise
                # Slack rejected our layout: the fallback text still carries every word.
                log.warning("slack.invalid_blocks", channel=channel)
                resp = await self.client.chat_postMessage(
                    channel=channel, text=text, thread_ts=thread
                )
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            status = exc.response.status_code
            retry_after = _retry_after(exc.response.headers) if status == 429 else None
            msg = f"chat.postMessage to {channel} failed: {error or 'HTTP'} (HTTP {status})"
            if error in _REJECTED:
                raise DeliveryRejected(msg) from None
            raise DeliveryError(msg, retry_after=retry_after) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"Slack unreachable: {type(exc).__name__}") from None
        return str(resp.get("channel") or channel), str(resp["ts"])
