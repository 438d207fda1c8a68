"""A restart in the middle of an incident: a new adapter and service over the same SQLite file
continue it in the same Slack thread, and a Slack redelivery across the restart acts once."""

from __future__ import annotations

from pathlib import Path

from bot.core.clock import ManualClock
from bot.core.model import Status
from tests.e2e.slack.conftest import SlackBot
from tests.fakes.slack import FakeSlack


async def test_restart_continues_the_incident(
    fake: FakeSlack, tmp_path: Path, clock: ManualClock
) -> None:
    db = tmp_path / "bot.db"
    first = SlackBot(fake, db, "http", clock)
    await first.start()
    await fake.slash_command("declare Payments failing sev1", user="U0ALICE")
    ann = await fake.wait_for(lambda: next((m for m in fake.channel_messages("C0INCIDENTS")), None))
    await fake.wait_for(lambda: len(fake.thread(ann.channel, ann.ts)) >= 2)
    event = fake.mention_event(
        "note card processor timing out", channel=ann.channel, user="U0BOB", thread_ts=ann.ts
    )
    await fake.send_event(event, event_id="Ev0ACROSSRESTART")
    await fake.wait_for(lambda: [m for m in fake.thread(ann.channel, ann.ts) if "Note" in m.text])
    await first.stop()

    second = SlackBot(fake, db, "socket", clock)  # same file, new process, other transport
    await second.start()
    try:
        # Slack redelivers the event to the new process: the durable request id stops it.
        await fake.send_event(event, event_id="Ev0ACROSSRESTART", retry_num=1)
        await fake.slash_command("status identified expired TLS cert on the processor")
        await fake.wait_for(lambda: fake.responses[1:])
        await second.adapter.idle()
        # No INC id given, one open incident in the channel: it is INC-1, still in its thread.
        await fake.slash_command("resolve INC-1 cert renewed", user="U0ALICE")
        done = await fake.wait_for(
            lambda: next((m for m in fake.messages if "INCIDENT RESOLVED" in m.text), None)
        )
        assert "Payments failing" in done.text
        inc = await second.store.get(1)
        assert inc is not None
        assert inc.status is Status.RESOLVED
        assert inc.thread is not None
        assert inc.thread.thread == ann.ts
        thread = "\n".join(m.text for m in fake.thread(ann.channel, ann.ts))
        assert "identified" in thread.lower()
        timeline = await second.store.timeline(1)
        assert [e.text for e in timeline if e.kind == "note"] == ["card processor timing out"]
        assert not [e for e in fake.ephemerals if "Already" in e.text]
    finally:
        await second.stop()
