"""Modals and buttons through real slack-bolt: declare form, reminder Snooze / Post update."""

from __future__ import annotations

from datetime import timedelta

from bot.core.model import Severity
from tests.e2e.slack.conftest import SlackBot
from tests.fakes.slack import FakeSlack, SlackMessage


def _top(fake: FakeSlack, channel: str, words: str) -> SlackMessage | None:
    return next((m for m in fake.channel_messages(channel) if words in m.text), None)


async def test_declare_without_title_opens_modal_and_submission_declares(
    bot: SlackBot, fake: FakeSlack
) -> None:
    ack = await fake.slash_command("declare", user="U0BOB", channel="C0OPS")
    assert ack.status == 200
    call = await fake.wait_for(lambda: next(iter(fake.calls_to("views.open")), None))
    assert call.status == 200
    assert call.args["trigger_id"] == ack.trigger_id
    (view_id, view) = next(iter(fake.views.items()))
    assert view["callback_id"] == "incident_declare"
    assert [b["block_id"] for b in view["blocks"]] == ["title", "severity", "description"]
    assert view["blocks"][2]["label"]["text"] == "Impact: who is affected and how"

    sub = await fake.submit_view(
        view_id,
        {"title": "Checkout errors", "severity": "SEV2", "description": "5xx on /pay"},
        user="U0BOB",
    )
    assert sub.status == 200
    assert sub.body in ("", "{}")  # a plain ack closes the modal
    ann = await fake.wait_for(lambda: _top(fake, "C0INCIDENTS", "INCIDENT DECLARED"))
    assert "Checkout errors" in ann.text
    assert "Severity: SEV2" in ann.text
    assert "Impact: 5xx on /pay" in ann.text
    inc = await bot.store.get(1)
    assert inc is not None
    assert inc.severity is Severity.SEV2
    assert inc.declared_by.id == "U0BOB"
    # The confirmation is private to the submitter, in the channel the command came from.
    eph = await fake.wait_for(lambda: fake.ephemerals)
    assert eph[0].user == "U0BOB"
    assert eph[0].channel == "C0OPS"


async def test_declare_with_only_a_severity_preselects_it(bot: SlackBot, fake: FakeSlack) -> None:
    await fake.slash_command("declare p1")
    await fake.wait_for(lambda: fake.views)
    view = next(iter(fake.views.values()))
    assert view["blocks"][1]["element"]["initial_option"]["value"] == "SEV1"


async def test_modal_validation_errors_keep_it_open(bot: SlackBot, fake: FakeSlack) -> None:
    await fake.slash_command("declare")
    await fake.wait_for(lambda: fake.views)
    view_id = next(iter(fake.views))
    ack = await fake.submit_view(view_id, {"title": "x" * 201, "severity": "SEV3"})
    assert ack.json() == {
        "response_action": "errors",
        "errors": {"title": "200 characters at most."},
    }
    await bot.adapter.idle()
    assert await bot.store.get(1) is None


async def test_reminder_buttons_snooze_and_post_update(bot: SlackBot, fake: FakeSlack) -> None:
    await fake.slash_command("declare Queue backlog growing sev1", user="U0ALICE")
    ann = await fake.wait_for(lambda: _top(fake, "C0INCIDENTS", "INCIDENT DECLARED"))
    await fake.wait_for(lambda: len(fake.thread(ann.channel, ann.ts)) >= 2)

    # SEV1: an update is due every 15 minutes; the clock is moved, nobody sleeps.
    await bot.clock.advance(timedelta(minutes=16))

    def reminder() -> SlackMessage | None:
        return next((m for m in fake.thread(ann.channel, ann.ts) if "UPDATE DUE" in m.text), None)

    rem = await fake.wait_for(reminder)
    assert rem.text.startswith("<@U0ALICE>")  # mentions the IC in `text`
    actions = next(b for b in rem.blocks if b["type"] == "actions")
    labels = [e["text"]["text"] for e in actions["elements"]]
    assert labels == ["Snooze 15m", "Snooze 30m", "Snooze 1h", "Post update"]

    # Snooze 30m: acknowledged at once, confirmed privately, the incident is snoozed.
    ack = await fake.click(rem, "incident:snooze:1", user="U0ALICE")
    assert ack.status == 200
    resp = await fake.wait_for(lambda: [r for r in fake.responses if "nooz" in r.text])
    assert resp[0].ephemeral
    inc = await bot.store.get(1)
    assert inc is not None
    assert inc.snoozed_until is not None

    # Post update: opens the update modal with the click's trigger_id; submitting posts it.
    ack = await fake.click(rem, "incident:post_update:3", user="U0ALICE")
    call = await fake.wait_for(lambda: next(iter(fake.calls_to("views.open")), None))
    assert call.args["trigger_id"] == ack.trigger_id
    view_id, view = next(iter(fake.views.items()))
    assert view["callback_id"] == "incident_update"
    assert view["title"]["text"] == "Update INC-1"
    await fake.submit_view(
        view_id,
        {"findings": "consumer lag from a stuck partition", "actions": "rebalancing"},
        user="U0ALICE",
    )
    upd = await fake.wait_for(
        lambda: next(
            (m for m in fake.messages if m.text.startswith("[INC-1] INCIDENT UPDATE")), None
        )
    )
    assert "Current findings: consumer lag from a stuck partition" in upd.text
    assert "Actions in progress: rebalancing" in upd.text
