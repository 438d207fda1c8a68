"""The discord.py side of the Discord adapter: the `Client` subclass that forwards gateway
events, and the endpoint override tests use.

`configure_endpoints(api_url)` re-points discord.py's REST base and gateway — process-wide
class attributes of discord.py — at another host (DISCORD_API_URL, for tests); nothing
else in the process talks to Discord, so the override cannot surprise another client.
"""

from __future__ import annotations

from typing import Any, Protocol

import discord
import discord.gateway
import discord.http
import structlog
import yarl
from discord import app_commands

log = structlog.get_logger("incidentbot.discord")


class Events(Protocol):
    """What the client forwards gateway events to (the adapter)."""

    gateway_up: bool

    async def sync_commands(self) -> None: ...

    async def on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None: ...

    async def on_interaction(self, interaction: discord.Interaction) -> None: ...

    async def on_message(self, message: discord.Message) -> None: ...

    async def on_reaction(self, payload: discord.RawReactionActionEvent) -> None: ...


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


class DiscordClient(discord.Client):
    """The discord.py client; events are forwarded to the adapter."""

    def __init__(self, adapter: Events, **options: Any) -> None:
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
