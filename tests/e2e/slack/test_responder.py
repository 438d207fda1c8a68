"""Issue 11 on Slack (real slack-bolt against FakeSlack): the declare parser no longer
guesses, the first line of each announcement (header block and notification `text`) names
the incident, a raise pings whoever was not told yet, and the reply links the channel."""

from __future__ import annotations

from tests.e2e.slack.conftest import SlackBot
from tests.fakes.slack import FakeSlack, SlackMessage


def _top(fake: FakeSlack, channel: str, words: str) -> SlackMessage | None:
    return next((m for m in fake.channel_messages(channel) if words in m.text), None)


async def test_declare_raise_and_first_lines(http_bot: SlackBot, fake: FakeSlack) -> None:
    ack = await fake.slash_command("declare Checkout error rate high", user="U0ALICE")
    assert ack.status == 200
    reply = (await fake.wait_for(lambda: fake.responses))[0]
    # a trailing "high" after an unquoted title is part of it, not SEV2 paging on-call
    assert "INC-1 declared (SEV3): Checkout error rate high" in reply.text
    assert "Announced in <#C0INCLOW>" in reply.text  # Slack shows the channel's name
    ann = await fake.wait_for(lambda: _top(fake, "C0INCLOW", "INCIDENT DECLARED"))
    assert ann.text.split("\n")[0] == (
        "<@U0ONCALL> [INC-1] INCIDENT DECLARED: Checkout error rate high"
    )
    assert ann.blocks[0]["type"] == "header"
    assert "[INC-1] INCIDENT DECLARED" in ann.blocks[0]["text"]["text"]
    assert "Impact: still being assessed" in ann.text

    await fake.slash_command("sev INC-1 sev1", user="U0ALICE")
    raised = await fake.wait_for(lambda: _top(fake, "C0INCIDENTS", "INCIDENT RECLASSIFIED"))
    assert raised.text.split("\n")[0] == (
        "<@U0ONCALL> <@U0EM> [INC-1] INCIDENT RECLASSIFIED: Checkout error rate high"
    )

    await fake.slash_command('declare "Unclosed quote sev1', user="U0ALICE")
    refusal = await fake.wait_for(
        lambda: next((r for r in fake.responses if "Unclosed quote" in r.text), None)
    )
    assert refusal.ephemeral and "Nothing was created" in refusal.text
    assert await http_bot.store.get(2) is None
