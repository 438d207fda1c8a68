"""Discord rendering and endpoint configuration (pure parts of the Discord adapter)."""

from __future__ import annotations

from collections.abc import Iterator

import discord.gateway
import discord.http
import pytest

from bot.adapters.discord import render as dr
from bot.adapters.discord.adapter import configure_endpoints
from bot.adapters.discord.commands import incident_number
from bot.core.messages import Button, Field, Message, Modal, ModalKind
from bot.core.model import Severity
from bot.errors import UserError


@pytest.fixture
def _restore() -> Iterator[None]:
    base, gw = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base, gw


@pytest.mark.usefixtures("_restore")
def test_api_url_points_rest_and_gateway_at_that_host() -> None:
    configure_endpoints("http://127.0.0.1:8081/api/v10/")
    assert discord.http.Route.BASE == "http://127.0.0.1:8081/api/v10"
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:8081/"
    assert discord.http.Route("GET", "/users/@me").url == "http://127.0.0.1:8081/api/v10/users/@me"
    with pytest.raises(ValueError, match="DISCORD_API_URL"):
        configure_endpoints("127.0.0.1:8081")


def test_mentions_go_in_content_and_fields_in_a_coloured_embed() -> None:
    msg = Message(
        title="INCIDENT DECLARED: db down",
        fields=(Field("Severity", "SEV1"), Field("Impact", "x" * 2000)),
        body="b" * 5000,
        mentions=("111", "&222"),
        severity=Severity.SEV1,
    )
    out = dr.render(msg)
    assert out.content == "<@111> <@&222> INCIDENT DECLARED: db down"  # one first line
    assert out.embed is not None
    assert out.embed.colour == dr.SEVERITY_COLOUR[Severity.SEV1]
    assert out.embed.description is not None and len(out.embed.description) == 4096
    assert out.embed.description.endswith("…")
    assert [f.name for f in out.embed.fields] == ["Severity", "Impact"]
    assert len(out.embed.fields[1].value or "") == 1024
    assert len(out.embed) <= 6000


def test_one_liner_is_plain_content_and_buttons_round_trip() -> None:
    out = dr.render(
        Message(
            title="[INCIDENT] SEV3 INC-2 - x. Investigating.",
            buttons=(Button("snooze", "Snooze 30m", "INC-2 30m"),),
        )
    )
    assert out.embed is None and out.content.startswith("[INCIDENT]")
    assert out.view is not None
    [button] = out.view.children
    assert isinstance(button, discord.ui.Button) and button.custom_id is not None
    assert dr.decode_button(button.custom_id) == ("snooze", "INC-2 30m")
    assert dr.decode_button("someone-elses-id") is None


def test_update_modal_round_trip() -> None:
    form = dr.modal(Modal(ModalKind.UPDATE, 7, {"title": "db down"}))
    assert dr.decode_modal(form.custom_id) == (ModalKind.UPDATE, 7)
    rows = [
        {"type": 1, "components": [{"type": 4, "custom_id": "findings", "value": "f"}]},
        {"type": 18, "component": {"type": 4, "custom_id": "actions", "value": "a"}},
    ]
    assert dr.modal_values(rows) == {"findings": "f", "actions": "a"}


@pytest.mark.parametrize(
    ("text", "number"), [("INC-3", 3), ("inc3", 3), ("#3", 3), ("3", 3), ("", None), (None, None)]
)
def test_incident_ids(text: str | None, number: int | None) -> None:
    assert incident_number(text) == number


def test_bad_incident_id_says_what_was_expected() -> None:
    with pytest.raises(UserError, match="like INC-3"):
        incident_number("banana")
