"""A whole incident through real slack-bolt, over HTTP and over Socket Mode."""

from __future__ import annotations

from bot.core.model import Severity, Status
from tests.e2e.slack.conftest import SlackBot
from tests.fakes.slack import FakeSlack, SlackMessage


def _with(fake: FakeSlack, channel: str, words: str) -> SlackMessage | None:
    return next((m for m in fake.channel_messages(channel) if words in m.text), None)


async def test_incident_lifecycle(bot: SlackBot, fake: FakeSlack) -> None:
    ack = await fake.slash_command("declare Backend DB unreachable sev1", user="U0ALICE")
    assert ack.status == 200
    assert ack.latency < 1.0

    # The announcement: top level in the SEV1 channel, Block Kit plus a plain-text fallback.
    ann = await fake.wait_for(lambda: _with(fake, "C0INCIDENTS", "INCIDENT DECLARED"))
    assert ann.text.startswith("<@U0ONCALL> <@U0EM>")  # paging mentions notify: in `text`
    assert "INCIDENT DECLARED: Backend DB unreachable" in ann.text
    assert "Severity: SEV1" in ann.text
    header = ann.blocks[0]
    assert header["type"] == "header"
    assert "INCIDENT DECLARED: Backend DB unreachable" in header["text"]["text"]
    assert any(b["type"] == "section" and "fields" in b for b in ann.blocks)
    ops = await fake.wait_for(lambda: _with(fake, "C0OPS", "[INCIDENT]"))
    assert ops.text == "[INCIDENT] SEV1 INC-1 - Backend DB unreachable. Investigating."
    assert not fake.channel_messages("C0INCLOW")

    # Checklist and probe output go into the announcement's thread.
    await fake.wait_for(lambda: len(fake.thread("C0INCIDENTS", ann.ts)) >= 2)
    thread_text = "\n".join(m.text for m in fake.thread("C0INCIDENTS", ann.ts))
    assert "5-MINUTE TRIAGE: INC-1" in thread_text
    assert "PROBES:" in (await fake.wait_for(lambda: _thread_with(fake, ann, "PROBES:"))).text
    inc = await bot.store.get(1)
    assert inc is not None
    assert inc.thread is not None
    assert (inc.thread.channel, inc.thread.thread) == ("C0INCIDENTS", ann.ts)

    # The invoker got a private answer through response_url.
    first = (await fake.wait_for(lambda: fake.responses))[0]
    assert first.ephemeral
    assert "INC-1 declared (SEV1): Backend DB unreachable" in first.text

    # Severity change to SEV3 moves the incident to the low channel: re-announced there.
    assert (await fake.slash_command("sev INC-1 sev3", user="U0ALICE")).status == 200
    low = await fake.wait_for(lambda: _with(fake, "C0INCLOW", "INCIDENT RECLASSIFIED"))
    assert "Severity: SEV3 (was SEV1)" in low.text

    # The IC's update, typed as a mention inside the incident thread (no INC id needed).
    event = fake.mention_event(
        "update failover to the replica done; watching replication lag",
        channel="C0INCIDENTS",
        user="U0ALICE",
        thread_ts=ann.ts,
    )
    assert (await fake.send_event(event)).status == 200
    upd = await fake.wait_for(lambda: _anywhere(fake, "INCIDENT UPDATE: Backend DB unreachable"))
    assert "Current findings: failover to the replica done" in upd.text

    # Resolve.
    await fake.slash_command("resolve INC-1 replica promoted", user="U0ALICE")
    await fake.wait_for(lambda: _anywhere(fake, "INCIDENT RESOLVED: Backend DB unreachable"))
    inc = await bot.store.get(1)
    assert inc is not None
    assert inc.status is Status.RESOLVED
    assert inc.severity is Severity.SEV3
    await bot.adapter.idle()
    assert not [e for e in fake.ephemerals if "went wrong" in e.text]
    assert not [r for r in fake.responses if "went wrong" in r.text]


def _thread_with(fake: FakeSlack, parent: SlackMessage, words: str) -> SlackMessage | None:
    return next((m for m in fake.thread(parent.channel, parent.ts) if words in m.text), None)


def _anywhere(fake: FakeSlack, words: str) -> SlackMessage | None:
    return next((m for m in fake.messages if words in m.text), None)
