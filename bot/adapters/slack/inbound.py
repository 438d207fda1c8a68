"""Slack inbound: bolt listeners that turn Slack requests into core calls.

Every listener acknowledges first (well inside Slack's 3 s) and hands the work to `spawn`
(tracked by the adapter). Failures go through the shared error boundary
(bot/adapters/inbound.py): `UserError`s come back from the core as `Reply(ok=False)` and
are shown to the invoker only; anything else is logged with a reference id and answered
with a generic apology carrying it.

Idempotency: Slack redelivers events (`X-Slack-Retry-Num` / `retry_attempt`). Every
request passes a platform-unique id (`trigger_id`, `event_id`, view id) to the core, which
remembers it durably; events are also de-duplicated here by `event_id` so a redelivery
never acts twice while this process lives (pins have no core-side request id).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.adapters.inbound import ErrorBoundary, SeenOnce
from bot.adapters.slack.client import slack_error
from bot.adapters.slack.render import (
    ACTION_PREFIX,
    DECLARE_CALLBACK,
    UPDATE_CALLBACK,
    ModalContext,
    button_action,
    modal_view,
    render,
    submitted_values,
)
from bot.core.commands import Declare, PostUpdate
from bot.core.messages import Reply
from bot.core.model import Actor, ChannelRef, Severity
from bot.core.service import IncidentService

log = structlog.get_logger("incidentbot.slack")

PLATFORM = "slack"
ALREADY_HANDLED = Reply.info("Already handled.")

Spawn = Callable[[Coroutine[Any, Any, None]], None]


@dataclass(frozen=True, slots=True)
class Invoker:
    """Who asked, from where, and how to answer them privately."""

    actor: Actor
    where: ChannelRef
    response_url: str | None = None  # slash commands, buttons: answers the invoker
    trigger_id: str | None = None  # opens a modal within 3 s
    silent_repeat: bool = False  # a redelivered event: say nothing when already handled


class SlackInbound:
    """Registers the listeners on `app` and runs the work they spawn."""

    def __init__(
        self,
        app: AsyncApp,
        service: IncidentService,
        client: AsyncWebClient,
        spawn: Spawn,
        *,
        command: str = "/incident",
        seen_events: int = 10_000,
    ) -> None:
        self.service = service
        self.client = client
        self.spawn = spawn
        self.bot_user_id = ""
        self._seen = SeenOnce(seen_events)
        self._boundary = ErrorBoundary(log, "slack.request_failed", _slack_detail)
        app.command(command)(self.on_command)
        app.action(re.compile("^" + re.escape(ACTION_PREFIX)))(self.on_button)
        app.view(DECLARE_CALLBACK)(self.on_declare_submit)
        app.view(UPDATE_CALLBACK)(self.on_update_submit)
        app.event("app_mention")(self.on_mention)
        app.event("reaction_added")(self.on_reaction)

    # ------------------------------------------------------------------ listeners (ack first)

    async def on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        who = Invoker(
            Actor(str(body.get("user_id", "")), str(body.get("user_name", ""))),
            ChannelRef(PLATFORM, str(body.get("channel_id", ""))),
            str(body.get("response_url", "")) or None,
            str(body.get("trigger_id", "")) or None,
        )
        self.spawn(self._guard(who, self._command(who, str(body.get("text", "")))))

    async def on_button(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id", ""))
        thread = message.get("thread_ts") or container.get("thread_ts") or message.get("ts")
        user = body.get("user") or {}
        who = Invoker(
            Actor(str(user.get("id", "")), str(user.get("username") or user.get("name") or "")),
            ChannelRef(PLATFORM, channel, thread),
            str(body.get("response_url", "")) or None,
            str(body.get("trigger_id", "")) or None,
        )
        name, value = button_action(str(action.get("action_id", ""))), str(action.get("value", ""))
        rid = f"action:{body.get('trigger_id') or action.get('action_ts')}"
        self.spawn(self._guard(who, self._press(who, name, value, rid)))

    async def on_declare_submit(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        values = submitted_values(view)
        title = values.get("title", "").strip()
        if len(title) > 200:
            await ack(response_action="errors", errors={"title": "200 characters at most."})
            return
        if values.get("severity") not in Severity.__members__:
            await ack(response_action="errors", errors={"severity": "Choose a severity."})
            return
        await ack()
        who = self._modal_invoker(body, view)
        cmd = Declare(
            title, Severity(values["severity"]), description=values.get("description", "").strip()
        )
        self.spawn(self._guard(who, self._handle(who, cmd, f"view:{view.get('id')}")))

    async def on_update_submit(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        view = body.get("view") or {}
        values = submitted_values(view)
        who = self._modal_invoker(body, view)
        ctx = ModalContext.load(str(view.get("private_metadata", "")))
        cmd = PostUpdate(ctx.incident, values.get("findings", ""), values.get("actions", ""))
        self.spawn(self._guard(who, self._handle(who, cmd, f"view:{view.get('id')}")))

    async def on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        event_id = str(body.get("event_id", ""))
        if not self._seen.first(event_id):
            return
        text = self._strip_mention(str(event.get("text", "")))
        channel = str(event.get("channel", ""))
        who = Invoker(
            Actor(str(event.get("user", ""))),
            ChannelRef(PLATFORM, channel, event.get("thread_ts") or None),
            silent_repeat=True,
        )
        self.spawn(self._guard(who, self._text(who, text, f"event:{event_id}")))

    async def on_reaction(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        item = event.get("item") or {}
        if event.get("reaction") != "pushpin" or item.get("type") != "message":
            return
        if not self._seen.first(str(body.get("event_id", ""))):
            return
        channel, ts = str(item.get("channel", "")), str(item.get("ts", ""))
        who = Invoker(Actor(str(event.get("user", ""))), ChannelRef(PLATFORM, channel, None))
        self.spawn(self._guard(who, self._pin(who, channel, ts)))

    # ------------------------------------------------------------------ work (after the ack)

    async def _command(self, who: Invoker, text: str) -> None:
        # With a trigger id the core may answer a title-less declare with its form.
        rid = f"cmd:{who.trigger_id or uuid.uuid4().hex}"
        reply = await self.service.handle_text(
            text, who.actor, who.where, rid, forms=who.trigger_id is not None
        )
        await self._reply(who, reply)

    async def _text(self, who: Invoker, text: str, request_id: str) -> None:
        reply = await self.service.handle_text(text, who.actor, who.where, request_id)
        await self._reply(who, reply)

    async def _handle(self, who: Invoker, cmd: Declare | PostUpdate, request_id: str) -> None:
        reply = await self.service.handle(cmd, who.actor, who.where, request_id)
        await self._reply(who, reply)

    async def _press(self, who: Invoker, action: str, value: str, request_id: str) -> None:
        reply = await self.service.press(action, value, who.actor, who.where, request_id)
        await self._reply(who, reply)

    async def _pin(self, who: Invoker, channel: str, ts: str) -> None:
        resp = await self.client.conversations_replies(
            channel=channel, ts=ts, oldest=ts, latest=ts, inclusive=True, limit=2
        )
        msg = next((m for m in resp.get("messages") or [] if m.get("ts") == ts), None)
        if msg is None:
            return
        where = ChannelRef(PLATFORM, channel, msg.get("thread_ts") or ts)
        at = datetime.fromtimestamp(float(ts), UTC)
        author = Actor(str(msg.get("user") or msg.get("bot_id") or ""))
        reply = await self.service.pin(
            where, str(msg.get("text", "")), at, author, who.actor, message_id=f"{channel}:{ts}"
        )
        if reply is not None:
            await self._reply(Invoker(who.actor, where), reply)

    # ------------------------------------------------------------------ answering

    async def _reply(self, who: Invoker, reply: Reply) -> None:
        """Opens the reply's modal, and shows its message: privately when ephemeral."""
        if who.silent_repeat and reply == ALREADY_HANDLED:
            return
        modal = reply.modal
        if modal is not None:
            if who.trigger_id is None:
                reply = Reply.error("That form can only be opened from a button or command.")
            else:
                ctx = ModalContext(who.where.channel, who.where.thread, modal.incident)
                await self.client.views_open(trigger_id=who.trigger_id, view=modal_view(modal, ctx))
        if reply.message is None:
            return
        text, blocks = render(reply.message)
        if who.response_url is not None:
            # One pooled session (the Web API client's) instead of bolt's per-call one.
            hook = AsyncWebhookClient(who.response_url, session=self.client.session, timeout=10)
            resp = await hook.send(
                text=text,
                blocks=blocks,
                response_type="ephemeral" if reply.ephemeral else "in_channel",
                replace_original=False,
            )
            if resp.status_code == 200:
                return
            # Expired or used-up response_url (5 uses, 30 min): answer through the Web API.
            log.warning("slack.response_url_failed", status=resp.status_code)
        if reply.ephemeral:
            await self.client.chat_postEphemeral(
                channel=who.where.channel,
                user=who.actor.id,
                text=text,
                blocks=blocks,
                thread_ts=who.where.thread,
            )
        else:
            await self.client.chat_postMessage(
                channel=who.where.channel, text=text, blocks=blocks, thread_ts=who.where.thread
            )

    async def _guard(self, who: Invoker, work: Coroutine[Any, Any, None]) -> None:
        """The error boundary: log anything unexpected, tell the invoker generically."""
        try:
            await work
        except Exception as exc:
            apology = self._boundary.failed(exc, user=who.actor.id)
            try:
                await self._reply(Invoker(who.actor, who.where, who.response_url), apology)
            except Exception:  # Slack itself is failing: the log line is all we can do
                log.warning("slack.apology_failed", error=type(exc).__name__)

    # ------------------------------------------------------------------ helpers

    def _modal_invoker(self, body: dict[str, Any], view: dict[str, Any]) -> Invoker:
        ctx = ModalContext.load(str(view.get("private_metadata", "")))
        user = body.get("user") or {}
        return Invoker(
            Actor(str(user.get("id", "")), str(user.get("username") or user.get("name") or "")),
            ChannelRef(PLATFORM, ctx.channel, ctx.thread),
        )

    def _strip_mention(self, text: str) -> str:
        """`<@UBOT> probe db` -> `probe db` (the bot's own mention, wherever it leads)."""
        if self.bot_user_id:
            text = text.replace(f"<@{self.bot_user_id}>", " ")
        else:
            text = re.sub(r"^\s*<@[UW][A-Z0-9]+>", " ", text)
        return text.strip()


def _slack_detail(exc: Exception) -> tuple[dict[str, Any], bool]:
    """Slack's own API errors are logged by code, without a traceback."""
    if isinstance(exc, SlackApiError):
        return {"slack": slack_error(exc)}, False
    return {}, True
