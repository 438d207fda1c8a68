"""Discord adapter: a discord.py `Client` with the native `/incident` command group, and the
core's `Notifier` for Discord.

Inbound: slash commands (commands.py), reminder buttons and the update modal,
bot mentions inside threads (text after the mention -> `service.handle_text`) and 📌
reactions (-> `service.pin` at the message's own time). Every interaction is handled once:
the interaction id is remembered locally and passed to the core as `request_id` (so a
redelivery, even to another replica, is refused by the store). Replies are ephemeral as
the core says; anything slower than `defer_after` seconds is deferred first so Discord's
3-second deadline is always met. The shared error boundary (bot/adapters/inbound.py)
answers infrastructure failures generically, with a reference id, and logs them.

Outbound: `deliver` (outbound.py) posts ANNOUNCE (embed + thread opened from it),
POST and THREAD notices through REST; any failure raises `DeliveryError`. 429s up to
`max_ratelimit_timeout` are waited out by discord.py itself.

`api_url` (DISCORD_API_URL) re-points discord.py's REST base and gateway — process-wide
class attributes of discord.py — at another host, for tests.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import structlog
import yarl
from discord import app_commands

from bot.adapters.discord import render as dr
from bot.adapters.discord.commands import Build, build_group
from bot.adapters.discord.outbound import PLATFORM, DiscordDelivery
from bot.adapters.inbound import ErrorBoundary, SeenOnce, Tasks
from bot.core import commands as c
from bot.core.messages import Message, ModalKind, Notice, Reply
from bot.core.model import Actor, ChannelRef, Incident
from bot.core.service import IncidentService
from bot.errors import StartupError, UserError

log = structlog.get_logger("incidentbot.discord")

PIN = "📌"
SEEN_MAX = 10_000


def configure_endpoints(api_url: str) -> None:
    """Points discord.py at `api_url` (`http://host:port/api/v10`) and its gateway at
    `ws://host:port/`. Process-wide: discord.py reads these class attributes."""
    url = yarl.URL(api_url.rstrip("/"))
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(
            "DISCORD_API_URL must be an http(s) URL like http://127.0.0.1:8080/api/v10"
        )
    discord.http.Route.BASE = str(url)
    ws_scheme = "wss" if url.scheme == "https" else "ws"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL.build(
        scheme=ws_scheme, host=url.host, port=url.explicit_port, path="/"
    )


def actor_of(user: discord.abc.User) -> Actor:
    return Actor(str(user.id), user.display_name)


def where_of(channel: Any, channel_id: int | None) -> ChannelRef:
    """A thread is (parent channel, thread id); anything else (channel, no thread)."""
    if isinstance(channel, discord.Thread):
        return ChannelRef(PLATFORM, str(channel.parent_id), str(channel.id))
    if channel_id is None:
        channel_id = getattr(channel, "id", None)
    return ChannelRef(PLATFORM, str(channel_id or ""), None)


class _Client(discord.Client):
    """The discord.py client; events are forwarded to the adapter."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = adapter.on_tree_error  # type: ignore[method-assign]

    async def setup_hook(self) -> None:
        await self.adapter.sync_commands()

    async def on_ready(self) -> None:
        self.adapter.gateway_up = True
        log.info("discord.ready", user=str(self.user), guilds=len(self.guilds))

    async def on_resumed(self) -> None:
        self.adapter.gateway_up = True
        log.info("discord.resumed")

    async def on_disconnect(self) -> None:
        self.adapter.gateway_up = False

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_interaction(interaction)

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self.adapter.on_reaction(payload)


class DiscordAdapter:
    """Discord for incidentbot. `channels` maps channel keys (`incidents`,
    `incidents_low`, `ops`, `security`) to Discord channel ids; `guild_id` syncs the commands
    to that guild (instant) instead of globally (up to an hour)."""

    platform = PLATFORM

    def __init__(
        self,
        service: IncidentService,
        *,
        token: str,
        channels: Mapping[str, str],
        guild_id: str | int | None = None,
        api_url: str | None = None,
        defer_after: float = 1.5,
        guild_ready_timeout: float = 2.0,
        max_ratelimit_timeout: float = 30.0,
        drain_timeout: float = 10.0,
    ) -> None:
        self.service = service
        self._token = token
        self.channels = dict(channels)
        self.guild_id = int(guild_id) if guild_id else None
        self.api_url = api_url
        self.defer_after = defer_after
        self.drain_timeout = drain_timeout
        self.gateway_up = False
        self.duplicates = 0  # interactions/messages seen before and ignored
        self.pins_handled = 0  # 📌 reactions fully processed (applied or not)
        self._seen = SeenOnce(SEEN_MAX)
        self._tasks = Tasks()
        self._errors = ErrorBoundary(log, "discord.handler_failed")
        self._runner: asyncio.Task[None] | None = None
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.guild_reactions = True
        intents.message_content = True  # privileged: needed to read "@bot probe db"
        self.client = _Client(
            self,
            intents=intents,
            guild_ready_timeout=guild_ready_timeout,
            max_ratelimit_timeout=max(30.0, max_ratelimit_timeout),
            # Nobody by default: each message lists whom it notifies (render.py).
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.client.tree.add_command(build_group(self))
        self.delivery = DiscordDelivery(self.client, self.channels)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Logs in (REST) and connects the gateway in a background task on the caller's
        loop; returns once logged in. Raises `StartupError` (an `InfraError` naming the
        setting to check) when Discord refuses the token or does not answer."""
        if self.api_url:
            configure_endpoints(self.api_url)
        try:
            await self.client.login(self._token)
        except discord.LoginFailure:
            await self.client.close()
            raise StartupError(
                "DISCORD_TOKEN", "expected a bot token Discord accepts; the login was refused"
            ) from None
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            await self.client.close()
            raise StartupError(
                "DISCORD_API_URL",
                f"expected Discord's API to answer at {self.api_url or 'discord.com'};"
                f" login failed ({type(exc).__name__})",
            ) from None
        self._runner = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        try:
            await self.client.connect(reconnect=True)
        except Exception as exc:  # e.g. PrivilegedIntentsRequired: say so, don't crash the app
            log.error("discord.gateway_failed", error=f"{type(exc).__name__}: {exc}"[:300])
            self.gateway_up = False

    async def wait_ready(self) -> None:
        await self.client.wait_until_ready()

    async def aclose(self) -> None:
        """Finishes in-flight interactions (bounded), then closes the gateway and HTTP."""
        await self._tasks.settle(self.drain_timeout)
        await self.client.close()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
        self.gateway_up = False

    def connected(self) -> bool:
        """For /healthz: logged in and the gateway session is live."""
        return self.gateway_up and not self.client.is_closed()

    async def sync_commands(self) -> None:
        tree = self.client.tree
        if self.guild_id:
            guild = discord.Object(self.guild_id)
            tree.copy_global_to(guild=guild)
            await tree.sync(guild=guild)
        else:
            await tree.sync()

    # ------------------------------------------------------------------ inbound

    def _first_time(self, key: str) -> bool:
        """Local once-only guard (a replayed or duplicated event); the store's
        request-id check covers other replicas and restarts."""
        if self._seen.first(key):
            return True
        self.duplicates += 1
        return False

    async def run(self, interaction: discord.Interaction, build: Build) -> None:
        """Runner for the command group: build, then handle with the interaction id as
        request id."""
        if not self._first_time(f"i:{interaction.id}"):
            log.info("discord.duplicate_interaction", interaction=interaction.id)
            return
        try:
            cmd = build()
        except UserError as exc:
            await self._respond(interaction, Reply.error(str(exc)))
            return
        actor = actor_of(interaction.user)
        where = where_of(interaction.channel, interaction.channel_id)
        await self._answer(
            interaction, self.service.handle(cmd, actor, where, request_id=str(interaction.id))
        )

    async def complete_incident(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Open incidents matching what was typed (id or title words), newest first."""
        try:
            who = actor_of(interaction.user)
            where = where_of(interaction.channel, interaction.channel_id)
            # Only what this user may see here: a private title is never suggested to others.
            incidents = await asyncio.wait_for(self.service.open_incidents(who, where), 2.0)
        except Exception as exc:  # autocomplete must answer in time; an empty list is fine
            log.warning("discord.autocomplete_failed", error=repr(exc)[:200])
            return []
        needle = current.strip().lower()
        out = []
        for inc in incidents:
            label = f"{inc.key} · {inc.severity.value} · {inc.title}"
            if needle in label.lower():
                out.append(app_commands.Choice(name=dr.clip(label, 100), value=inc.key))
        return out[:25]

    async def on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Option values Discord should have refused (or a stale command schema)."""
        if isinstance(error, app_commands.TransformerError):
            choices = getattr(error.transformer, "choices", None) or []
            expected = ", ".join(str(ch.name) for ch in choices) or "a valid value"
            text = f"{str(error.value)[:40]!r} is not valid here; expected {expected}."
        elif isinstance(
            error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch
        ):
            text = "This command is out of date; please try again in a minute."
        else:
            await self._respond(interaction, self._errors.failed(error, interaction=interaction.id))
            return
        await self._respond(interaction, Reply.error(text))

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Buttons (`ib:` ids) and modal submissions (`ibm:` ids); commands go to the tree."""
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        if interaction.type is discord.InteractionType.component:
            decoded = dr.decode_button(custom_id)
            if decoded is None or not self._first_time(f"i:{interaction.id}"):
                return
            action, value = decoded
            await self._answer(
                interaction,
                self.service.press(
                    action,
                    value,
                    actor_of(interaction.user),
                    where_of(interaction.channel, interaction.channel_id),
                    request_id=str(interaction.id),
                ),
            )
        elif interaction.type is discord.InteractionType.modal_submit:
            modal = dr.decode_modal(custom_id)
            if modal is None or not self._first_time(f"i:{interaction.id}"):
                return
            values = dr.modal_values(list(data.get("components", [])))
            kind, number = modal
            try:
                cmd = self._modal_command(kind, number, values)
            except UserError as exc:
                await self._respond(interaction, Reply.error(str(exc)))
                return
            await self._answer(
                interaction,
                self.service.handle(
                    cmd,
                    actor_of(interaction.user),
                    where_of(interaction.channel, interaction.channel_id),
                    request_id=str(interaction.id),
                ),
            )

    def _modal_command(self, kind: ModalKind, number: int | None, v: dict[str, str]) -> c.Command:
        if kind is ModalKind.UPDATE:
            if not v.get("findings", "").strip():
                raise UserError("An update needs its current findings.")
            return c.PostUpdate(number, v["findings"].strip(), v.get("actions", "").strip())
        title = v.get("title", "").strip()
        if not title:
            raise UserError("An incident needs a title.")
        sev = v.get("severity", "").strip()
        severity = c.parse_severity(sev, self.service.lexicon) if sev else None
        return c.Declare(title, severity, description=v.get("description", "").strip())

    async def on_message(self, message: discord.Message) -> None:
        """`@incidentbot probe db` (anywhere; in an incident thread it acts on that
        incident). The reply is posted in the same channel."""
        me = self.client.user
        if me is None or message.author.bot or me not in message.mentions:
            return
        if not self._first_time(f"m:{message.id}"):
            return
        text = re.sub(rf"<@!?{me.id}>", " ", message.content).strip()
        where = where_of(message.channel, message.channel.id)
        if not text:
            reply = Reply.info("Try `@incidentbot help`, or the /incident command.")
        else:
            reply = await self._boundary(
                self.service.handle_text(  # the answer is posted for the whole channel
                    text, actor_of(message.author), where, f"msg:{message.id}", alone=False
                )
            )
        try:
            await message.channel.send(
                **dr.render(reply.message or Message(title="Done.")).kwargs(),
                reference=message.to_reference(fail_if_not_exists=False),
            )
        except discord.HTTPException as exc:
            log.warning("discord.reply_failed", status=exc.status, code=exc.code)

    async def on_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        """📌 on a message in an incident thread adds it to the timeline at its own time."""
        me = self.client.user
        if str(payload.emoji) != PIN or me is None or payload.user_id == me.id:
            return
        key = f"r:{payload.message_id}:{payload.user_id}"
        if not self._first_time(key):
            return
        channel = self.client.get_channel(payload.channel_id)
        parent = getattr(channel, "parent_id", None) or payload.channel_id
        where = ChannelRef(PLATFORM, str(parent), str(payload.channel_id))
        try:
            msg = await self.client.get_partial_messageable(payload.channel_id).fetch_message(
                payload.message_id
            )
        except discord.HTTPException as exc:
            log.warning("discord.pin_fetch_failed", status=exc.status, code=exc.code)
            return
        text = msg.content or "\n".join(e.title or e.description or "" for e in msg.embeds)
        by = actor_of(payload.member) if payload.member else Actor(str(payload.user_id))
        reply = await self._boundary(
            self.service.pin(
                where, text, msg.created_at, actor_of(msg.author), by, message_id=str(msg.id)
            )
        )
        self.pins_handled += 1
        if reply is None:
            return
        try:
            if reply.ok:
                await msg.add_reaction("✅")
            elif reply.message is not None:
                await msg.channel.send(
                    dr.plain(reply.message), allowed_mentions=dr.allowed_mentions(reply.message)
                )
        except discord.HTTPException as exc:
            log.warning("discord.pin_ack_failed", status=exc.status, code=exc.code)

    # ------------------------------------------------------------------ answering

    async def _boundary(self, work: Any) -> Any:
        """The adapter's one error boundary: infrastructure errors (and bugs) are logged
        and answered generically; user errors already come back as error Replies."""
        return await self._errors.run(work)

    async def _answer(self, interaction: discord.Interaction, work: Any) -> None:
        """Runs `work` (-> Reply); defers first if it is not done within `defer_after`."""
        task = self._tasks.spawn(self._boundary(work))
        done, _ = await asyncio.wait({task}, timeout=self.defer_after)
        if not done:
            try:
                await interaction.response.defer(ephemeral=True, thinking=True)
            except discord.HTTPException as exc:
                log.warning("discord.defer_failed", status=exc.status, code=exc.code)
        reply: Reply = await task
        await self._respond(interaction, reply)

    async def _respond(self, interaction: discord.Interaction, reply: Reply) -> None:
        message = reply.message or Message(title="Done.")
        parts = dr.render(message).kwargs()
        try:
            if not interaction.response.is_done():
                if reply.modal is not None:
                    await interaction.response.send_modal(dr.modal(reply.modal))
                else:
                    await interaction.response.send_message(**parts, ephemeral=reply.ephemeral)
            elif reply.modal is not None:  # too late for a form: say how to do it instead
                await interaction.edit_original_response(
                    content=f"Use /incident update INC-{reply.modal.incident} <findings>."
                )
            else:
                parts.setdefault("embed", None)
                await interaction.edit_original_response(**parts)
        except discord.HTTPException as exc:
            log.warning(
                "discord.response_failed",
                interaction=interaction.id,
                status=exc.status,
                code=exc.code,
            )

    # ------------------------------------------------------------------ outbound (Notifier)

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        """`Notifier.deliver`: see `DiscordDelivery.deliver`."""
        return await self.delivery.deliver(notice, incident)
