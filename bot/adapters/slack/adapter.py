"""Slack adapter: slack-bolt `AsyncApp` over HTTP (`POST /slack/events`) and/or Socket Mode.

The adapter translates Slack to the core and back, nothing more; one module per concern
(see bot/adapters/slack/__init__.py):
* inbound (inbound.py: slash command, buttons, modals, mentions, 📌 reactions): every
  request is acknowledged first, the work runs afterwards in a task this adapter tracks
  (and drains on `aclose`);
* outbound (outbound.py), the core's `Notifier` for platform "slack": `deliver` posts
  Block Kit (render.py) and raises `DeliveryError` when Slack cannot take the message, so
  the core's outbox keeps and retries it; a retry whose earlier outcome is unknown looks for
  its message before posting again (dedup.py, SPEC §7);
* this module: lifecycle (auth, Socket Mode) and HTTP mode (the door, door.py, first).

Tokens and the Web API base URL are passed in explicitly: bolt would otherwise read
`SLACK_*` environment variables silently. The Web API client (client.py) retries 429s
(honouring `Retry-After` up to `max_retry_wait` seconds, beyond that the outbox waits
instead), 5xx and connection errors with backoff. Posts are paced per channel (pacing.py:
about one a second, as Slack allows; a 429 holds back only its channel), waiting at most
`pace_max_wait` seconds before handing the notice back to the outbox for later.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Mapping
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError

from bot.adapters.inbound import Tasks
from bot.adapters.slack.client import build_web_client, slack_error
from bot.adapters.slack.door import Refused, SlackDoor
from bot.adapters.slack.inbound import SlackInbound
from bot.adapters.slack.outbound import PLATFORM, SlackDelivery
from bot.adapters.slack.pacing import ChannelPacer
from bot.core.messages import Notice
from bot.core.model import ChannelRef, Incident
from bot.core.service import IncidentService
from bot.errors import StartupError

log = structlog.get_logger("incidentbot.slack")


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
        post_interval: float = 1.0,
        pace_max_wait: float = 2.0,
    ) -> None:
        if not signing_secret and not app_token:
            raise ValueError("Slack needs SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN")
        self.service = service
        self.channels = dict(channels)
        self._door = SlackDoor(signing_secret) if signing_secret else None
        self._app_token = app_token
        self._drain_timeout = drain_timeout
        self.client = build_web_client(bot_token, api_url, max_retry_wait=max_retry_wait)
        self.pacer = ChannelPacer(interval=post_interval, max_wait=pace_max_wait)
        self.delivery = SlackDelivery(self.client, self.channels, self.pacer)
        # signing_secret="" (never None) keeps bolt from reading SLACK_SIGNING_SECRET itself.
        # HTTP requests are verified by the door before bolt sees them (see handle_http);
        # Socket Mode needs no signature (the WebSocket is authenticated by the app token).
        self.app = AsyncApp(
            client=self.client,
            signing_secret="",
            request_verification_enabled=False,
            name="incidentbot",
            logger=logging.getLogger("incidentbot.slack.bolt"),
        )
        self._tasks = Tasks()
        self._session: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._authed = False
        self.inbound = SlackInbound(self.app, service, self.client, self.spawn, command=command)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Checks the token (auth.test) and, with an app token, connects Socket Mode.

        Never blocks on the connection's lifetime: the Socket Mode client runs in its own
        tasks on the caller's loop. Raises `StartupError` (an `InfraError` naming the
        setting to check) when Slack refuses a token or does not answer.
        """
        self._session = aiohttp.ClientSession()
        self.client.session = self._session  # one pooled session for every Web API call
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            raise StartupError(
                "SLACK_BOT_TOKEN",
                f"expected a bot token Slack accepts; auth.test answered {self._why(exc)}",
            ) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._unreachable(exc) from None
        self.inbound.bot_user_id = str(auth.get("user_id") or "")
        self._authed = True
        if self._app_token:
            # The app token is tried here first: the SDK would retry a refused one forever,
            # logging a traceback each time. Its answer (a WebSocket URL) is then used.
            try:
                opened = await self.client.apps_connections_open(app_token=self._app_token)
            except SlackApiError as exc:
                raise StartupError(
                    "SLACK_APP_TOKEN",
                    "expected an app-level token with connections:write;"
                    f" apps.connections.open answered {self._why(exc)}",
                ) from None
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise self._unreachable(exc) from None
            # Built here, not in __init__: the SDK client starts tasks on the running loop.
            self._socket = AsyncSocketModeHandler(
                self.app, self._app_token, web_client=self.client, ping_interval=10
            )
            self._socket.client.wss_uri = str(opened["url"])
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
        log.info("slack.started", socket_mode=bool(self._app_token))

    @staticmethod
    def _why(exc: SlackApiError) -> str:
        return slack_error(exc) or f"HTTP {exc.response.status_code}"

    def _unreachable(self, exc: BaseException, what: str = "Web API") -> StartupError:
        base = str(self.client.base_url)
        return StartupError(
            "SLACK_API_URL",
            f"expected the Slack {what} to answer at {base}; {type(exc).__name__}",
        )

    async def aclose(self) -> None:
        """Stops taking Socket Mode requests, finishes in-flight work (bounded), closes."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        await self._tasks.drain(self._drain_timeout)
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
        self._tasks.spawn(work)

    async def idle(self) -> None:
        """Returns once no work spawned by a request is still running (for tests, benches)."""
        await self._tasks.idle()

    # ------------------------------------------------------------------ HTTP mode

    def mount(self, app: web.Application, path: str = "/slack/events") -> None:
        """Adds `POST path` (Events API, slash commands, interactivity) to `app`."""
        if self._door is None:
            raise ValueError("HTTP mode needs a signing secret (SLACK_SIGNING_SECRET)")
        app.router.add_post(path, self.handle_http)

    async def handle_http(self, request: web.Request) -> web.Response:
        """One Slack HTTP request. The door (bot/adapters/slack/door.py) limits the size
        (413), checks the signature over the raw bytes (401) and the encoding, syntax and
        shape (400) before anything else parses it; then bolt routes the parsed body, the
        listener acks, and slow work goes to tracked tasks."""
        if self._door is None:  # not mounted without a secret; never answer unverified
            raise web.HTTPNotFound()
        try:
            body = await self._door.admit(request)
        except Refused as refused:
            log.warning("slack.request_refused", status=refused.status, reason=refused.reason)
            return refused.response()
        # bolt gets the body already parsed: its own HTTP-mode parser takes any form body
        # containing the text "payload" for an interactivity payload (a slash command
        # `/incident note payload too big` would be dropped as unhandled). It accepts a
        # parsed body only in its "socket_mode" mode, whose one other effect is to skip
        # its own signature check, which the door has just done on the raw bytes.
        bolt_req = AsyncBoltRequest(
            body=body,
            query=request.query_string,
            headers=dict(request.headers),
            mode="socket_mode",
        )
        bolt_resp = await self.app.async_dispatch(bolt_req)
        return await to_aiohttp_response(bolt_resp)

    # ------------------------------------------------------------------ Notifier

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        """`Notifier.deliver`: see `SlackDelivery.deliver` (outbound.py)."""
        return await self.delivery.deliver(notice, incident)
