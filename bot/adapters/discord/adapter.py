"""Discord adapter: a discord.py `Client` with the native `/incident` command group, and the
core's `Notifier` for Discord. One module per concern (see bot/adapters/discord/__init__.py):

* inbound (inbound.py): slash commands (commands.py), reminder buttons and the update
  modal, bot mentions inside threads and 📌 reactions, each handled once and answered
  within Discord's 3-second deadline;
* outbound (outbound.py): `deliver` posts ANNOUNCE (embed + thread opened from it), POST
  and THREAD notices through REST; any failure raises `DeliveryError`. 429s up to
  `max_ratelimit_timeout` are waited out by discord.py itself;
* this module: lifecycle (login, gateway, command sync, drain on close).

`api_url` (DISCORD_API_URL) re-points discord.py at another host, for tests
(client.py `configure_endpoints`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
import discord
import structlog
from discord import app_commands

from bot.adapters.discord.client import DiscordClient, configure_endpoints
from bot.adapters.discord.commands import build_group
from bot.adapters.discord.inbound import DiscordInbound
from bot.adapters.discord.outbound import PLATFORM, DiscordDelivery
from bot.adapters.inbound import Tasks
from bot.core.messages import Notice
from bot.core.model import ChannelRef, Incident
from bot.core.service import IncidentService
from bot.errors import StartupError

__all__ = ["DiscordAdapter", "configure_endpoints"]

log = structlog.get_logger("incidentbot.discord")


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
        self.drain_timeout = drain_timeout
        self.gateway_up = False
        self._tasks = Tasks(on_failure=_event_failed)
        self._runner: asyncio.Task[None] | None = None
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.guild_reactions = True
        intents.message_content = True  # privileged: needed to read "@bot probe db"
        self.client = DiscordClient(
            self,
            intents=intents,
            guild_ready_timeout=guild_ready_timeout,
            max_ratelimit_timeout=max(30.0, max_ratelimit_timeout),
            # Nobody by default: each message lists whom it notifies (render.py).
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.inbound = DiscordInbound(service, self.client, self._tasks, defer_after=defer_after)
        self.client.tree.add_command(build_group(self.inbound))
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
        await self._tasks.drain(self.drain_timeout)
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

    # ------------------------------------------------------------------ events (client.py)

    async def on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await self.inbound.on_tree_error(interaction, error)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.inbound.on_interaction(interaction)

    # Mentions and pins run as tracked work, so `aclose` drains them like interactions.
    async def on_message(self, message: discord.Message) -> None:
        self._tasks.spawn(self.inbound.on_message(message))

    async def on_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        self._tasks.spawn(self.inbound.on_reaction(payload))

    async def idle(self) -> None:
        """Returns once no work started by an event is still running (for tests, benches;
        the same as the Slack adapter's)."""
        await self._tasks.idle()

    # ------------------------------------------------------------------ outbound (Notifier)

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        """`Notifier.deliver`: see `DiscordDelivery.deliver`."""
        return await self.delivery.deliver(notice, incident)


def _event_failed(exc: BaseException) -> None:
    # Work that escaped its own boundary (a bug): logged, never silently dropped.
    log.error("discord.event_failed", error=f"{type(exc).__name__}: {exc}"[:300])
