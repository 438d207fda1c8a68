"""PagerDutyPager against a local Events API v2 that validates the schema."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.core.model import Severity
from bot.errors import DeliveryError, DeliveryRejected
from bot.paging.pagerduty import PagerDutyPager
from bot.paging.retry import RetryPolicy
from tests.fakes.paging_services import FakePagerDuty, Scripted
from tests.integration.paging.conftest import FAST, SleepRecorder, make_incident, make_notice

KEY = "R0UTINGKEY0123456789abcdef012345"
EM_KEY = "EMR0UTINGKEY456789abcdef01234567"


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


async def test_429_with_retry_after_is_honoured_then_succeeds(
    pd: FakePagerDuty, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    pd.script(Scripted(429, {"Retry-After": "3"}, {"status": "throttled"}))
    await pager(pd, client, sleeps).page(make_notice(), make_incident())

    assert sleeps.waits == [3.0]
    assert len(pd.requests) == 2
    assert pd.alerts[(KEY, "INC-7:pagerduty")]["status"] == "triggered"


async def test_5xx_answers_are_retried_with_growing_backoff(
    pd: FakePagerDuty, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    pd.script(Scripted(500, body={"error": "oops"}), Scripted(502), Scripted(503))
    await pager(pd, client, sleeps).page(make_notice(), make_incident())

    assert len(pd.requests) == 4
    assert len(sleeps.waits) == 3
    # Equal jitter: the n-th wait lies in [d/2, d] with d = base * 2**(n-1), capped.
    for n, wait in enumerate(sleeps.waits, start=1):
        ceiling = min(FAST.max_delay, FAST.base_delay * 2 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert pd.alerts[(KEY, "INC-7:pagerduty")]["status"] == "triggered"


async def test_retry_budget_exhausted_raises_with_the_last_retry_after(
    pd: FakePagerDuty, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    pd.script(*[Scripted(503, {"Retry-After": "2"}, {"message": "maintenance"})] * 4)
    with pytest.raises(DeliveryError) as caught:
        await pager(pd, client, sleeps).page(make_notice(), make_incident())

    assert not isinstance(caught.value, DeliveryRejected)
    assert caught.value.retry_after == 2.0
    assert "gave up after 4 attempts" in str(caught.value)
    assert "HTTP 503: maintenance" in str(caught.value)
    assert len(pd.requests) == 4
    assert sleeps.waits == [2.0, 2.0, 2.0]


async def test_long_retry_after_goes_back_to_the_outbox_at_once(
    pd: FakePagerDuty, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    pd.script(Scripted(429, {"Retry-After": "120"}))
    with pytest.raises(DeliveryError) as caught:
        await pager(pd, client, sleeps).page(make_notice(), make_incident())

    assert caught.value.retry_after == 120.0
    assert len(pd.requests) == 1
    assert sleeps.waits == []


async def test_permanent_400_is_rejected_at_once_and_redacts_the_key(
    pd: FakePagerDuty, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    wrong = "WRONGKEY00000000000000000000000X"
    with pytest.raises(DeliveryRejected) as caught:
        await pager(pd, client, sleeps, routing_key=wrong).page(make_notice(), make_incident())

    text = str(caught.value)
    assert "HTTP 400" in text
    assert "Invalid routing key: ***" in text  # the service quoted it back; we did not
    assert wrong not in text
    assert pd.url not in text
    assert len(pd.requests) == 1
    assert sleeps.waits == []


async def test_connection_refused_retries_then_fails(
    client: httpx.AsyncClient, sleeps: SleepRecorder, unused_port: int
) -> None:
    p = PagerDutyPager(
        "pagerduty",
        client=client,
        routing_key=KEY,
        url=f"http://127.0.0.1:{unused_port}",
        policy=FAST,
        sleep=sleeps,
    )
    with pytest.raises(DeliveryError) as caught:
        await p.page(make_notice(), make_incident())

    text = str(caught.value)
    assert "cannot connect" in text
    assert "gave up after 4 attempts" in text
    assert KEY not in text
    assert caught.value.retry_after is None
    assert len(sleeps.waits) == 3


async def test_hung_service_is_cut_off_by_the_attempt_deadline(
    pd: FakePagerDuty, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    pd.script(Scripted(200, hang=True))
    policy = RetryPolicy(attempts=2, base_delay=0.001, attempt_timeout=0.2)
    await pager(pd, client, sleeps, policy=policy).page(make_notice(), make_incident())

    assert len(pd.requests) == 2
    assert pd.alerts[(KEY, "INC-7:pagerduty")]["status"] == "triggered"


async def test_unknown_action_is_rejected_without_a_request(
    pd: FakePagerDuty, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    with pytest.raises(DeliveryRejected, match="expected trigger, acknowledge or resolve"):
        await pager(pd, client, sleeps).page(make_notice("escalate"), make_incident())
    assert pd.requests == []
