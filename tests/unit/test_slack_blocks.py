"""Block Kit rendering: fallback text, escaping, Slack's limits, modals round-trip."""

from __future__ import annotations

from bot.adapters.slack.render import (
    ModalContext,
    button_action,
    declare_modal,
    escape,
    modal_view,
    render,
    submitted_values,
)
from bot.core.messages import Button, Field, Message, Modal, ModalKind
from bot.core.model import Severity


def test_fallback_carries_mentions_title_fields_and_body() -> None:
    msg = Message(
        title="INCIDENT DECLARED: DB down",
        fields=(Field("Severity", "SEV1"), Field("Commander", "<@U1>")),
        body="all writes failing",
        mentions=("U0ONCALL", "S0SRE"),
        severity=Severity.SEV1,
        people=("U1",),  # the commander field is the bot's own mention
    )
    text, blocks = render(msg)
    assert text.splitlines() == [
        "<@U0ONCALL> <!subteam^S0SRE> INCIDENT DECLARED: DB down",  # who, and what: one line
        "Severity: SEV1",
        "Commander: <@U1>",
        "all writes failing",
    ]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": ":red_circle: INCIDENT DECLARED: DB down"},
    }
    assert blocks[1]["text"]["text"] == "<@U0ONCALL> <!subteam^S0SRE>"
    assert blocks[2]["fields"][1]["text"] == "*Commander*\n<@U1>"


def test_user_text_cannot_ping_everyone_or_forge_links() -> None:
    assert escape("<!channel> & <http://evil|bank> <@U123>", {"U123"}) == (
        "&lt;!channel&gt; &amp; &lt;http://evil|bank&gt; <@U123>"
    )
    # a user mention the message does not make is text too
    assert escape("<@U123> <#C1|ops>") == "&lt;@\u2060U123&gt; <#C1|ops>"
    text, blocks = render(Message(title="<!here> look"))
    assert text == "&lt;!here&gt; look"
    assert blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def test_limits_are_respected() -> None:
    body = "\n".join(f"line {i} " + "x" * 200 for i in range(2000))  # ~420 kB of probe output
    msg = Message(
        title="T" * 400,
        fields=tuple(Field(f"f{i}", "v" * 3000) for i in range(23)),
        body=body,
        buttons=tuple(Button("snooze", f"Snooze {i}", f"INC-1 {i}m") for i in range(30)),
    )
    text, blocks = render(msg)
    assert len(text) <= 40_000
    assert len(blocks) <= 50
    assert len(blocks[0]["text"]["text"]) <= 150
    for b in blocks:
        if b["type"] == "section" and "text" in b:
            assert len(b["text"]["text"]) <= 3000
        if "fields" in b:
            assert len(b["fields"]) <= 10
            assert all(len(f["text"]) <= 2000 for f in b["fields"])
    assert blocks[-1]["type"] == "actions"
    assert len(blocks[-1]["elements"]) == 25
    assert "truncated" in blocks[-2]["text"]["text"]


def test_buttons_round_trip_their_action_and_value() -> None:
    _, blocks = render(
        Message(
            title="UPDATE DUE",
            buttons=(
                Button("snooze", "Snooze 15m", "INC-3 15m"),
                Button("post_update", "Post", "INC-3"),
            ),
        )
    )
    els = blocks[-1]["elements"]
    assert [button_action(e["action_id"]) for e in els] == ["snooze", "post_update"]
    assert [e["value"] for e in els] == ["INC-3 15m", "INC-3"]
    assert len({e["action_id"] for e in els}) == 2  # unique within the block


def test_modals_carry_their_context_and_parse_submissions() -> None:
    ctx = ModalContext("C1", "171.000100", None)
    view = declare_modal(ctx, Severity.SEV2)
    assert len(view["title"]["text"]) <= 24
    assert ModalContext.load(view["private_metadata"]) == ctx
    upd = modal_view(Modal(ModalKind.UPDATE, 7, {"findings": "so far"}), ctx)
    assert upd["title"]["text"] == "Update INC-7"
    assert ModalContext.load(upd["private_metadata"]) == ModalContext("C1", "171.000100", 7)
    assert upd["blocks"][0]["element"]["initial_value"] == "so far"
    state = {
        "values": {
            "title": {"value": {"type": "plain_text_input", "value": "DB down"}},
            "severity": {"value": {"type": "static_select", "selected_option": {"value": "SEV2"}}},
            "description": {"value": {"type": "plain_text_input", "value": None}},
        }
    }
    assert submitted_values({"state": state}) == {
        "title": "DB down",
        "severity": "SEV2",
        "description": "",
    }
