"""Dedup keys per (incident, pager, event) (SPEC §7), against the local PagerDuty and
Opsgenie: a retried event joins its alert, two pagers never merge into one alert, and an
escalation to a group with a destination of its own opens an alert that notifies it."""

from __future__ import annotations

import httpx

from bot.paging.opsgenie import OpsgeniePager
from bot.paging.pagerduty import PagerDutyPager
from tests.fakes.paging_services import FakeOpsgenie, FakePagerDuty
from tests.integration.paging.conftest import FAST, SleepRecorder, make_incident, make_notice

KEY = "R0UTINGKEY0123456789abcdef012345"
API_KEY = "0b2c4d6e-1111-2222-3333-444455556666"
EM_TEAM = [{"type": "team", "name": "managers"}]


async def test_two_pagers_on_one_service_keep_their_own_alerts(
    client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    pd = await FakePagerDuty({KEY}).start()
    try:
        a, b = (
            PagerDutyPager(name, client=client, routing_key=KEY, url=pd.url, policy=FAST)
            for name in ("pd-primary", "pd-backup")
        )
        incident = make_incident()
        await a.page(make_notice("trigger"), incident)
        await a.page(make_notice("trigger"), incident)  # a replay: same event, same key
        await b.page(make_notice("trigger"), incident)
        await a.page(make_notice("resolve", None), incident)
    finally:
        await pd.aclose()
    assert pd.problems == []
    assert [r.json()["dedup_key"] for r in pd.requests] == [
        "INC-7:pd-primary",
        "INC-7:pd-primary",
        "INC-7:pd-backup",
        "INC-7:pd-primary",
    ]
    assert pd.alerts[(KEY, "INC-7:pd-primary")]["status"] == "resolved"
    assert pd.alerts[(KEY, "INC-7:pd-backup")]["status"] == "triggered"  # not b's to close


async def test_an_escalation_to_a_group_with_responders_opens_its_own_alert(
    client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    og = await FakeOpsgenie(API_KEY).start()
    try:
        p = OpsgeniePager(
            "opsgenie",
            client=client,
            api_key=API_KEY,
            url=og.url,
            responders={"engineering_manager": EM_TEAM},
            policy=FAST,
            sleep=sleeps,
        )
        incident = make_incident()
        await p.page(make_notice("trigger", "oncall"), incident)
        await p.page(make_notice("trigger", "engineering_manager"), incident)  # escalation
        await p.page(make_notice("resolve", None), incident)
    finally:
        await og.aclose()
    assert og.problems == []
    # Before, both triggers shared alias INC-7: the escalation only bumped the count and
    # the managers were never notified.
    em = og.alerts["INC-7:opsgenie:engineering_manager"]
    assert em["count"] == 1 and em["body"]["responders"] == EM_TEAM
    assert og.alerts["INC-7:opsgenie"]["count"] == 1
    assert {a: v["status"] for a, v in og.alerts.items()} == {
        "INC-7:opsgenie": "closed",
        "INC-7:opsgenie:engineering_manager": "closed",
    }
