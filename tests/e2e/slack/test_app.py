"""The composition root runs the Slack adapter: one aiohttp server on PORT serving
POST /slack/events and /healthz (HTTP mode), or Socket Mode with no server of its own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from bot.app import App
from bot.config import BotConfig, PlatformConfig
from bot.core.clock import ManualClock
from bot.settings import Settings
from tests.e2e.slack.conftest import CHANNELS
from tests.fakes.slack import FakeSlack


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_app_runs_slack_end_to_end(
    mode: str, fake: FakeSlack, tmp_path: Path, unused_port: int
) -> None:
    settings = Settings(
        slack_bot_token=SecretStr(fake.bot_token),
        slack_signing_secret=SecretStr(fake.signing_secret) if mode == "http" else None,
        slack_app_token=SecretStr(fake.app_token) if mode == "socket" else None,
        slack_api_url=fake.api_url,
        database_url=SecretStr(f"sqlite:///{tmp_path / 'app.db'}"),
        port=unused_port,
    )
    config = BotConfig(platforms={"slack": PlatformConfig(channels=CHANNELS)})
    app = App(settings, config, platforms=["slack"], clock=ManualClock(datetime.now(UTC)))
    await app.start()
    try:
        fake.mode = "http" if mode == "http" else "socket"
        fake.bot_url = f"http://127.0.0.1:{unused_port}/slack/events"
        ack = await fake.slash_command("declare Composed outage sev2")
        assert ack.status == 200
        ann = await fake.wait_for(
            lambda: next(iter(fake.channel_messages("C0INCIDENTS")), None), within=10
        )
        assert "INCIDENT DECLARED: Composed outage" in ann.text
        await fake.wait_for(
            lambda: any("TRIAGE" in m.text for m in fake.thread(ann.channel, ann.ts))
        )
        health = await app.health()
        assert health.checks["slack"] == "ok", health.checks
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{unused_port}/healthz") as resp,
        ):
            assert resp.status == 200
    finally:
        await app.aclose()
