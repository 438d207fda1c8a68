"""The composition root runs the Discord adapter: declare through discord.py to the thread."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from bot.adapters.discord.adapter import DiscordAdapter
from bot.app import App
from bot.config import BotConfig, PlatformConfig
from bot.core.clock import ManualClock
from bot.settings import Settings
from tests.e2e.discord.conftest import channel_map
from tests.fakes.discord import FakeDiscord, message_text


async def test_app_runs_discord_end_to_end(fake: FakeDiscord, tmp_path: Path) -> None:
    settings = Settings(
        discord_token=SecretStr(fake.token),
        discord_api_url=fake.api_url,
        database_url=SecretStr(f"sqlite:///{tmp_path / 'app.db'}"),
    )
    config = BotConfig(
        platforms={"discord": PlatformConfig(channels=channel_map(fake), guild_id=fake.guild_id)}
    )
    app = App(settings, config, platforms=["discord"], clock=ManualClock(datetime.now(UTC)))
    await app.start()
    try:
        await fake.wait_ready()
        rec = await fake.slash("declare", {"title": "Composed", "severity": "SEV2"})
        await fake.wait_for(lambda: rec.callbacks)
        assert "INC-1 declared (SEV2)" in rec.text()
        thread = await fake.wait_for(lambda: next(iter(fake.threads()), None))
        await fake.wait_for(
            lambda: any("TRIAGE" in message_text(m) for m in fake.messages_in(thread["id"]))
        )
        discord_adapter = app.adapters["discord"]
        assert isinstance(discord_adapter, DiscordAdapter)
        await discord_adapter.wait_ready()
        health = await app.health()
        assert health.checks["discord"] == "ok", health.checks
    finally:
        await app.aclose()
