"""SPEC §7, one piece at a time: whom a message notifies, how each renderer shows the rest,
and that the IC and roles go to a person only."""

from __future__ import annotations

import pytest

from bot.adapters.discord import render as dr
from bot.adapters.slack import render as sb
from bot.core.commands import AssignRole, SetCommander
from bot.core.grammar import parse
from bot.core.messages import Field, Message, people_in
from bot.core.model import Actor
from bot.core.policy import Policy
from bot.core.templates import Templates
from bot.errors import UserError
from tests.mention_audit import slack_live

LEX = Policy().aliases()
TYPED = "<!here> <!channel> <!everyone> <!subteam^S123|@sre> <@U999> @everyone @here @sre"


def test_people_in_reads_slack_and_discord_person_mentions_but_not_roles() -> None:
    assert people_in("hi <@U1|alice> and <@!22>", "<@&33> <!here> <@U1>") == ("U1", "22")


def test_message_round_trips_the_people_it_names() -> None:
    msg = Message(title="t", mentions=("U1",), people=("U2", "U1"))
    assert Message.from_dict(msg.to_dict()) == msg
    assert msg.notifies() == ("U1", "U2")
    assert Message.from_dict({"title": "old outbox row"}).people == ()


def test_slack_shows_typed_mentions_as_text_and_keeps_the_bots_own() -> None:
    msg = Message(
        title=f"INCIDENT DECLARED: {TYPED}",
        fields=(Field("Commander", "<@U1>"), Field("Impact", TYPED)),
        body=f"note: {TYPED} mail alice@example.com in <#C1|ops>",
        mentions=("U0ONCALL", "S0SRE"),
        people=("U1",),
    )
    text, blocks = sb.render(msg)
    assert slack_live(text, blocks) == {"@U0ONCALL", "!subteam^S0SRE", "@U1"}
    assert "<#C1|ops>" in text  # a channel link notifies nobody: it stays a link
    assert "&lt;!here&gt;" in text and "&lt;@\u2060U999&gt;" in text
    assert "@\u2060everyone" in text and "@\u2060sre" in text  # bare @words cannot be parsed
    assert "alice@example.com" in text  # an address is not a mention: left alone
    assert blocks[0]["text"]["type"] == "plain_text"  # never parsed for mentions


def test_slack_title_section_is_escaped_too() -> None:
    text, blocks = sb.render(Message(title=TYPED, body="x"))
    assert slack_live(text, blocks) == set()


def test_discord_allows_exactly_the_bots_mentions_and_defuses_the_rest() -> None:
    msg = Message(
        title="INCIDENT DECLARED: @everyone <@&9> <@333> <@444>",
        fields=(Field("Commander", "<@333>"), Field("Impact", "@here <@&9>")),
        body="@everyone <@!444>",
        mentions=("111", "&222"),
        people=("333",),
    )
    out = dr.render(msg)
    assert out.mentions.to_dict() == {
        "parse": [],
        "users": [111, 333],
        "roles": [222],
        "replied_user": True,
    }
    assert out.content.startswith("<@111> <@&222> ")  # the bot's own: live
    assert "<@333>" in out.content  # the commander the bot wrote
    assert "@\u200beveryone" in out.content and "<@\u200b&9>" in out.content
    assert "<@\u200b444>" in out.content  # typed, not notified: shown as text
    assert out.embed is not None
    texts = [out.embed.title or "", out.embed.description or ""]
    texts += [f"{f.name} {f.value}" for f in out.embed.fields]
    joined = "\n".join(texts)
    assert "@everyone" not in joined and "@here" not in joined and "<@&9>" not in joined
    assert "<@\u200b!444>" in joined and "<@333>" in joined
    assert dr.plain(msg).count("@\u200beveryone") == 2


def test_a_template_names_the_commander_as_its_own_mention_only_where_it_shows_it() -> None:
    values = {"title": "<@U9> down", "commander": "<@U1>", "key": "INC-1"}
    assert Templates().render("initial", values).people == ("U1",)
    assert Templates().render("checklist", values).people == ("U1",)
    assert Templates({"checklist": "TRIAGE {key}"}).render("checklist", values).people == ()


@pytest.mark.parametrize(
    "words",
    [
        "ic @here",
        "ic INC-1 @channel",
        "ic @Everyone",
        "ic <!here>",
        "ic <!channel>",
        "ic <!everyone>",
        "ic <!subteam^S123>",
        "ic INC-2 <!subteam^S123|@sre>",
        "ic <@&123456>",
        "role scribe @here",
        "role INC-1 comms <!subteam^S1|@oncall>",
        "role comms <@&99>",
    ],
)
def test_the_ic_and_roles_go_to_a_person_only(words: str) -> None:
    with pytest.raises(UserError) as exc:
        parse(words, LEX)
    message = str(exc.value)
    assert "is not a person" in message and "(@user)" in message and "Usage: /incident" in message
    assert "\n" not in message


def test_people_are_still_accepted() -> None:
    assert parse("ic <@U1|alice>", LEX) == SetCommander(None, Actor("U1", "alice"))
    role = parse("role INC-3 scribe <@!42>", LEX)
    assert isinstance(role, AssignRole) and role.user is not None and role.user.id == "42"
    ic = parse("ic @heredia", LEX)  # a name that merely starts like a special word
    assert isinstance(ic, SetCommander) and ic.user is not None and ic.user.id == "heredia"
