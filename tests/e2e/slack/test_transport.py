"""Transport-level behaviour: Socket Mode reconnects, health, and the one error boundary."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.core.clock import ManualClock
from tests.e2e.slack.conftest import SlackBot
from tests.fakes.slack import FakeSlack


async def test_socket_mode_reconnects_on_disconnect(
    fake: FakeSlack, tmp_path: Path, clock: ManualClock
) -> None:
    bot = SlackBot(fake, tmp_path / "bot.db", "socket", clock)
    await bot.start()
    try:
        assert bot.adapter.connected()
        assert len(fake.calls_to("apps.connections.open")) == 1
        await fake.disconnect_sockets()  # Slack's periodic "refresh_requested"
        await fake.wait_for(lambda: len(fake.calls_to("apps.connections.open")) == 2)
        await fake.wait_for(lambda: fake.socket_connected)
        ack = await fake.slash_command("list")  # served over the new connection
        assert ack.status == 200
        assert (await fake.wait_for(lambda: fake.responses))[0].text == "No open incidents."
        assert bot.adapter.connected()
    finally:
        await bot.stop()
    assert not bot.adapter.connected()


async def test_unexpected_failure_gets_a_generic_private_answer(
    bot: SlackBot, fake: FakeSlack
) -> None:
    fake.fail("views.open", error="internal_error")  # Slack fails while opening the form
    ack = await fake.slash_command("declare", user="U0BOB")
    assert ack.status == 200  # still acknowledged in time
    resp = await fake.wait_for(lambda: fake.responses)
    assert resp[0].ephemeral
    assert resp[0].text.startswith("Something went wrong on our side")
    assert "internal_error" not in resp[0].text
    assert not fake.messages


async def test_shutdown_finishes_acknowledged_work(
    fake: FakeSlack, tmp_path: Path, clock: ManualClock
) -> None:
    bot = SlackBot(fake, tmp_path / "bot.db", "http", clock)
    await bot.start()
    fake.response_url_delay = 0.3  # the answers are still on their way at shutdown
    acks = [await fake.slash_command(f"note INC-9 n{i}") for i in range(5)]
    assert all(a.status == 200 for a in acks)
    assert not fake.responses
    await bot.stop()  # right after the acks: the work they promised still completes
    assert len(fake.responses) == 5
    assert all("INC-9" in r.text for r in fake.responses)


async def test_tokens_are_explicit_not_read_from_the_environment(
    fake: FakeSlack, tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stray SLACK_* variables (bolt's silent fallbacks) must change nothing.
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret-from-the-environment")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    bot = SlackBot(fake, tmp_path / "bot.db", "http", clock)
    await bot.start()
    try:
        assert fake.calls_to("auth.test")[0].token == fake.bot_token
        body = urlencode(fake.slash_payload("list")).encode()
        env_signed = FakeSlack(signing_secret="secret-from-the-environment").sign(body)
        refused = await fake.post_signed(
            body, "application/x-www-form-urlencoded", headers=env_signed
        )
        assert refused.status == 401
        assert (await fake.slash_command("list")).status == 200
    finally:
        await bot.stop()
