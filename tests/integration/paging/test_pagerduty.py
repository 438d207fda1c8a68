"""PagerDutyPager against a local Events API v2 that validates the schema."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.core.model import Severity
from bot.paging.pagerduty import PagerDutyPager
from tests.contract.pager_contract import PagerContract, Target
from tests.fakes.paging_services import FakePagerDuty
from tests.integration.paging.conftest import FAST, SleepRecorder, make_incident, make_notice

KEY = "R0UTINGKEY0123456789abcdef012345"
EM_KEY = "EMR0UTINGKEY456789abcdef01234567"
WRONG_KEY = "WRONGKEY00000000000000000000000X"


@pytest.fixture
async def pd() -> AsyncIterator[FakePagerDuty]:
    fake = FakePagerDuty({KEY, EM_KEY})
    await fake.start()
    yield fake
    await fake.aclose()


def pager(
    pd: FakePagerDuty, client: httpx.AsyncClient, sleeps: SleepRecorder, **kw: object
) -> PagerDutyPager:
    options: dict[str, object] = {"routing_key": KEY, "url": pd.url, "policy": FAST}
    options.update(kw)
    return PagerDutyPager("pagerduty", client=client, sleep=sleeps, **options)  # type: ignore[arg-type]


async def test_trigger_sends_a_valid_v2_event(
    pd: FakePagerDuty, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    await pager(pd, client, sleeps).page(make_notice("trigger"), make_incident())

    assert pd.problems == []
    (req,) = pd.requests
    assert (req.method, req.path) == ("POST", "/v2/enqueue")
    event = req.json()
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "INC-7:pagerduty"
    payload = event["payload"]
    assert payload["summary"] == "[SEV1] INC-7 Backend DB unreachable"
    assert payload["severity"] == "critical"
    assert payload["source"] == "incidentbot"
    assert payload["timestamp"] == "2025-03-04T05:06:07+00:00"
    details = payload["custom_details"]
    assert details["commander"] == "bob"
    assert details["contacts"] == "oncall"
    # Chat mentions mean nothing in PagerDuty; the message text is there without them.
    assert "<@" not in details["message"]
    assert "Commander: @U0BOB" in details["message"]
    assert details["message"].startswith("INCIDENT DECLARED: Backend DB unreachable")
    assert pd.alerts[(KEY, "INC-7:pagerduty")]["status"] == "triggered"
    assert sleeps.waits == []


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (Severity.SEV1, "critical"),
        (Severity.SEV2, "error"),
        (Severity.SEV3, "warning"),
        (Severity.SEV4, "info"),
    ],
)
async def test_severity_maps_to_pagerduty_scale(
    pd: FakePagerDuty,
    client: httpx.AsyncClient,
    sleeps: SleepRecorder,
    severity: Severity,
    expected: str,
) -> None:
    await pager(pd, client, sleeps).page(make_notice(), make_incident(severity=severity))
    assert pd.requests[0].json()["payload"]["severity"] == expected
    assert pd.problems == []


async def test_acknowledge_then_resolve_act_on_the_same_alert(
    pd: FakePagerDuty, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    p = pager(pd, client, sleeps)
    incident = make_incident()
    await p.page(make_notice("trigger"), incident)
    await p.page(make_notice("acknowledge"), incident)
    assert pd.alerts[(KEY, "INC-7:pagerduty")]["status"] == "acknowledged"
    await p.page(make_notice("resolve", contacts=None), incident)

    assert pd.problems == []
    assert pd.alerts[(KEY, "INC-7:pagerduty")] | {"payload": None} == {
        "events": 3,
        "status": "resolved",
        "payload": None,
    }
    ack, resolve = pd.requests[1].json(), pd.requests[2].json()
    assert ack == {
        "routing_key": KEY,
        "event_action": "acknowledge",
        "dedup_key": "INC-7:pagerduty",
    }
    assert resolve == {
        "routing_key": KEY,
        "event_action": "resolve",
        "dedup_key": "INC-7:pagerduty",
    }


async def test_long_title_is_cut_to_the_summary_limit(
    pd: FakePagerDuty, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    await pager(pd, client, sleeps).page(make_notice(), make_incident(title="x" * 2000))
    summary = pd.requests[0].json()["payload"]["summary"]
    assert len(summary) == 1024
    assert summary.endswith("…")
    assert pd.problems == []


async def test_contact_group_with_its_own_routing_key(
    pd: FakePagerDuty, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    p = pager(pd, client, sleeps, routing_keys={"engineering_manager": EM_KEY})
    incident = make_incident()
    await p.page(make_notice("trigger", "oncall"), incident)
    await p.page(make_notice("trigger", "engineering_manager"), incident)
    await p.page(make_notice("resolve", None), incident)

    assert [r.json()["routing_key"] for r in pd.requests] == [KEY, EM_KEY, KEY, EM_KEY]
    assert pd.alerts[(KEY, "INC-7:pagerduty")]["status"] == "resolved"
    assert pd.alerts[(EM_KEY, "INC-7:pagerduty:engineering_manager")]["status"] == "resolved"


class TestPagerDutyContract(PagerContract[FakePagerDuty]):
    STATES = ("triggered", "acknowledged", "resolved")
    CREDENTIAL = KEY
    WRONG_CREDENTIAL = WRONG_KEY
    # The service quotes the key back; the pager masks it.
    REFUSAL = "HTTP 400: Event object is invalid: Invalid routing key: ***"

    @pytest.fixture
    def service(self, pd: FakePagerDuty) -> FakePagerDuty:
        return pd

    def make_pager(self, service: FakePagerDuty, t: Target) -> PagerDutyPager:
        return pager(
            service, t.client, t.sleeps, routing_key=t.credential, url=t.url, policy=t.policy
        )

    def state(self, service: FakePagerDuty) -> str | None:
        alert = service.alerts.get((KEY, "INC-7:pagerduty"))
        return None if alert is None else str(alert["status"])

    def alert_keys(self, service: FakePagerDuty) -> list[str]:
        return [dedup for _, dedup in service.alerts]
