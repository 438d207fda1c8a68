"""Discord inbound: interactions (slash commands, buttons, modal submissions), bot mentions
inside threads and 📌 reactions, turned into core calls and answered.

Every interaction is handled once: its id is remembered locally (bot/adapters/inbound.py
`SeenOnce`) and passed to the core as `request_id` (so a redelivery, even to another
replica, is refused by the store). Replies are ephemeral as the core says; anything slower
than `defer_after` seconds is deferred first so Discord's 3-second deadline is always met.
The shared error boundary answers infrastructure failures generically, with a reference
id, and logs them.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import discord
import structlog
from discord import app_commands

from bot.adapters.discord import render as dr
from bot.adapters.discord.commands import Build
from bot.adapters.discord.outbound import PLATFORM
from bot.adapters.inbound import ErrorBoundary, SeenOnce, Tasks
from bot.core import commands as c
from bot.core.messages import Message, ModalKind, Reply
from bot.core.model import Actor, ChannelRef
from bot.core.service import IncidentService
from bot.errors import UserError

log = structlog.get_logger("incidentbot.discord")

PIN = "📌"
SEEN_MAX = 10_000


def actor_of(user: discord.abc.User) -> Actor:
    return Actor(str(user.id), user.display_name)


def where_of(channel: Any, channel_id: int | None) -> ChannelRef:
    """A thread is (parent channel, thread id); anything else (channel, no thread)."""
    if isinstance(channel, discord.Thread):
        return ChannelRef(PLATFORM, str(channel.parent_id), str(channel.id))
    if channel_id is None:
        channel_id = getattr(channel, "id", None)
    return ChannelRef(PLATFORM, str(channel_id or ""), None)


class DiscordInbound:
    """Handles what `client` receives for `service`; work runs in `tasks` (drained by the
    adapter on shutdown)."""

    def __init__(
        self,
        service: IncidentService,
        client: discord.Client,
        tasks: Tasks,
        *,
        defer_after: float = 1.5,
    ) -> None:
        self.service = service
        self.client = client
        self.defer_after = defer_after
        self._seen = SeenOnce(SEEN_MAX)
        self._tasks = tasks
        self._errors = ErrorBoundary(log, "discord.handler_failed")

    def _first_time(self, key: str) -> bool:
        """Local once-only guard (a replayed or duplicated event); the store's
        request-id check covers other replicas and restarts."""
        if self._seen.first(key):
            return True
        log.info("discord.duplicate", key=key)  # a redelivery: ignored, said once here
        return False

    async def run(self, interaction: discord.Interaction, build: Build) -> None:
        """Runner for the command group: build, then handle with the interaction id as
        request id."""
        if not self._first_time(f"i:{interaction.id}"):
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
        who = actor_of(interaction.user)
        where = where_of(interaction.channel, interaction.channel_id)
        rid = str(interaction.id)
        if interaction.type is discord.InteractionType.component:
            decoded = dr.decode_button(custom_id)
            if decoded is None or not self._first_time(f"i:{interaction.id}"):
                return
            action, value = decoded
            await self._answer(interaction, self.service.press(action, value, who, where, rid))
        elif interaction.type is discord.InteractionType.modal_submit:
            modal = dr.decode_modal(custom_id)
            if modal is None or not self._first_time(f"i:{interaction.id}"):
                return
            values = dr.modal_values(list(data.get("components", [])))
            try:
                cmd = self._modal_command(*modal, values)
            except UserError as exc:
                await self._respond(interaction, Reply.error(str(exc)))
                return
            await self._answer(interaction, self.service.handle(cmd, who, where, rid))

    def _modal_command(self, kind: ModalKind, number: int | None, v: dict[str, str]) -> c.Command:
        """The command a submitted form stands for (Discord opens only the update form:
        `/incident declare` takes its title as a native option)."""
        if kind is not ModalKind.UPDATE:
            raise UserError("That form is no longer in use; please try again.")
        if not v.get("findings", "").strip():
            raise UserError("An update needs its current findings.")
        return c.PostUpdate(number, v["findings"].strip(), v.get("actions", "").strip())

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
