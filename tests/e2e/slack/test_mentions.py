"""SPEC §7 on Slack: nobody is mass-pinged by text they typed (through real slack-bolt).

Every assertion reads what FakeSlack received (the fallback `text` and the blocks) with
`tests.mention_audit.slack_live`, which lists the mentions Slack would act on.
"""

from __future__ import annotations

from datetime import timedelta

from tests.e2e.slack.conftest import SlackBot
from tests.fakes.slack import FakeSlack, SlackMessage
from tests.mention_audit import is_mass_or_group, slack_live

MASS = "<!here> <!channel> <!everyone> <!subteam^S123|@sre> @everyone @here"
HOSTILE = f"{MASS} <@U999>"  # for a title: the person named in it must not be notified


def _live(m: SlackMessage) -> set[str]:
    return slack_live(m.text, m.blocks)


def _everything(fake: FakeSlack) -> list[tuple[str, set[str]]]:
    """(text, live mentions) of every message, ephemeral and response_url answer."""
    out = [(m.text, _live(m)) for m in fake.messages]
    out += [(e.text, slack_live(e.text, e.blocks)) for e in fake.ephemerals]
    out += [(r.text, slack_live(r.text, r.body.get("blocks") or [])) for r in fake.responses]
    return out


async def test_typed_mass_mentions_stay_text_and_only_the_bots_own_mentions_notify(
    http_bot: SlackBot, fake: FakeSlack
) -> None:
    bot = http_bot
    await fake.slash_command(f'declare "{HOSTILE} checkout down" sev1', user="U0ALICE")
    ann = await fake.wait_for(lambda: next((m for m in fake.channel_messages("C0INCIDENTS")), None))
    # The bot's own mentions notify: the paged contacts and the IC (the declarer).
    assert _live(ann) == {"@U0ONCALL", "@U0EM", "@U0ALICE"}
    assert ann.text.startswith("<@U0ONCALL> <@U0EM>")
    assert "Commander: <@U0ALICE>" in ann.text
    # What was typed is shown, as text (Slack displays &lt; as <).
    assert "&lt;!here&gt; &lt;!channel&gt;" in ann.text
    assert "&lt;!subteam^S123|@\u2060sre&gt;" in ann.text

    ops = await fake.wait_for(lambda: next(iter(fake.channel_messages("C0OPS")), None))
    assert "[INCIDENT] SEV1 INC-1" in ops.text
    assert _live(ops) == set()  # a title never notifies anyone

    # A person named in a note is notified by the note, once; the rest of it is text.
    await fake.slash_command(f"note INC-1 <@U0BOB|bob> please check the pool {MASS}")
    note = await fake.wait_for(
        lambda: next((m for m in fake.thread(ann.channel, ann.ts) if "Note from" in m.text), None)
    )
    assert _live(note) == {"@U0BOB"}
    # ... and in an update, likewise.
    await fake.slash_command(f"update INC-1 <@U0CAROL> restarted the pool {MASS} ; watching")
    upd = await fake.wait_for(
        lambda: next((m for m in fake.messages if "INCIDENT UPDATE" in m.text), None)
    )
    assert _live(upd) == {"@U0CAROL"}

    # The IC and roles go to a person only: a clear error, and nothing changes.
    for words in (
        "ic INC-1 @here",
        "ic INC-1 <!channel>",
        "ic INC-1 <!subteam^S123|@sre>",
        "role INC-1 scribe @everyone",
        "role INC-1 comms <!here>",
    ):
        before = len(fake.responses)
        await fake.slash_command(words, user="U0ALICE")
        answer = await fake.wait_for(lambda: fake.responses[before:])  # noqa: B023
        assert answer[0].ephemeral
        assert "is not a person" in answer[0].text, words
    inc = await bot.store.get(1)
    assert inc is not None and inc.commander is not None
    assert inc.commander.id == "U0ALICE" and not inc.roles

    # The reminder repeats the title: it notifies the IC and nobody else.
    await bot.clock.advance(timedelta(minutes=16))
    rem = await fake.wait_for(
        lambda: next((m for m in fake.thread(ann.channel, ann.ts) if "UPDATE DUE" in m.text), None)
    )
    assert _live(rem) == {"@U0ALICE"}

    # The timeline repeats the note: nobody is notified by it again.
    before = len(fake.responses)
    await fake.slash_command("timeline INC-1", user="U0ALICE")
    [timeline] = await fake.wait_for(lambda: fake.responses[before:])
    assert "please check the pool" in timeline.text
    assert slack_live(timeline.text, timeline.body.get("blocks") or []) == set()

    await bot.adapter.idle()
    everything = _everything(fake)
    assert not [(t, live) for t, live in everything if any(map(is_mass_or_group, live))]
    assert not [t for t, live in everything if "@U999" in live]  # typed into the title
    assert sum("@U0BOB" in live for _, live in everything) == 1  # the note, once
    assert sum("@U0CAROL" in live for _, live in everything) == 1  # the update, once
