"""OpsgeniePager against a local Alert API that checks fields, limits and the GenieKey."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.core.model import Severity
from bot.paging.opsgenie import OpsgeniePager
from bot.paging.retry import RetryPolicy
from tests.contract.pager_contract import PagerContract, Target
from tests.fakes.paging_services import FakeOpsgenie
from tests.integration.paging.conftest import FAST, SleepRecorder, make_incident, make_notice

API_KEY = "eb243592-faa2-4ba2-a551q-1afdf565c889"
WRONG_KEY = "00000000-dead-beef-0000-000000000000"
RESPONDERS = {"oncall": [{"type": "team", "name": "ops"}, {"type": "user", "username": "a@x.io"}]}


@pytest.fixture
async def og() -> AsyncIterator[FakeOpsgenie]:
    fake = FakeOpsgenie(API_KEY)
    await fake.start()
    yield fake
    await fake.aclose()


def pager(
    og: FakeOpsgenie,
    client: httpx.AsyncClient,
    sleeps: SleepRecorder,
    api_key: str = API_KEY,
    *,
    url: str | None = None,
    policy: RetryPolicy = FAST,
) -> OpsgeniePager:
    return OpsgeniePager(
        "opsgenie",
        client=client,
        api_key=api_key,
        url=url or og.url,
        responders=RESPONDERS,
        tags=["prod"],
        policy=policy,
        sleep=sleeps,
    )


async def test_trigger_creates_an_alert_with_alias_priority_and_responders(
    og: FakeOpsgenie, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    await pager(og, client, sleeps).page(make_notice("trigger", "oncall"), make_incident())

    assert og.problems == []
    (req,) = og.requests
    assert (req.method, req.path) == ("POST", "/v2/alerts")
    assert req.headers["authorization"] == f"GenieKey {API_KEY}"
    body = req.json()
    assert body["message"] == "[SEV1] INC-7 Backend DB unreachable"
    assert body["alias"] == "INC-7:opsgenie:oncall"  # oncall has responders of its own
    assert body["priority"] == "P1"
    assert body["responders"] == RESPONDERS["oncall"]
    assert body["tags"] == ["incidentbot", "SEV1", "prod", "db"]
    assert body["details"]["severity"] == "SEV1"
    assert body["description"].startswith("INCIDENT DECLARED: Backend DB unreachable")
    assert og.alerts["INC-7:opsgenie:oncall"]["status"] == "open"


@pytest.mark.parametrize(
    ("severity", "priority"),
    [(Severity.SEV1, "P1"), (Severity.SEV2, "P2"), (Severity.SEV3, "P3"), (Severity.SEV4, "P4")],
)
async def test_severity_maps_to_priority(
    og: FakeOpsgenie,
    client: httpx.AsyncClient,
    sleeps: SleepRecorder,
    severity: Severity,
    priority: str,
) -> None:
    await pager(og, client, sleeps).page(make_notice(), make_incident(severity=severity))
    assert og.requests[0].json()["priority"] == priority


async def test_message_is_cut_to_130_characters_and_group_without_responders(
    og: FakeOpsgenie, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    incident = make_incident(title="very long title " * 20, description="d" * 20000)
    await pager(og, client, sleeps).page(make_notice("trigger", "engineering_manager"), incident)

    assert og.problems == []
    body = og.requests[0].json()
    assert len(body["message"]) == 130
    assert "responders" not in body
    assert body["alias"] == "INC-7:opsgenie"  # no responders of its own: the pager's alert


async def test_repeated_trigger_is_deduplicated_by_alias(
    og: FakeOpsgenie, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    p = pager(og, client, sleeps)
    await p.page(make_notice(), make_incident())
    await p.page(make_notice(), make_incident())
    assert og.alerts["INC-7:opsgenie:oncall"]["count"] == 2
    assert len(og.alerts) == 1


async def test_acknowledge_and_close_by_alias(
    og: FakeOpsgenie, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    p = pager(og, client, sleeps)
    await p.page(make_notice("trigger", None), make_incident())
    await p.page(make_notice("acknowledge"), make_incident())
    assert og.alerts["INC-7:opsgenie"]["acknowledged"] is True
    resolved = make_incident(summary="failed over to the replica")
    await p.page(make_notice("resolve", None), resolved)

    assert og.problems == []
    # Each action goes to the pager's own alias and to each responder group's alias.
    aliases = ["INC-7%3Aopsgenie", "INC-7%3Aopsgenie%3Aoncall"]
    acks, closes = og.requests[1:3], og.requests[3:5]
    for verb, requests in (("acknowledge", acks), ("close", closes)):
        assert [r.path for r in requests] == [
            f"/v2/alerts/{a.replace('%3A', ':')}/{verb}" for a in aliases
        ]
        assert all(r.query == {"identifierType": "alias"} for r in requests)
    close = closes[0]
    assert close.headers["authorization"] == f"GenieKey {API_KEY}"
    assert close.json() == {"source": "incidentbot", "note": "failed over to the replica"}
    assert og.alerts["INC-7:opsgenie"]["status"] == "closed"


class TestOpsgenieContract(PagerContract[FakeOpsgenie]):
    STATES = ("open", "acknowledged", "closed")
    CREDENTIAL = API_KEY
    WRONG_CREDENTIAL = WRONG_KEY
    REFUSAL = "HTTP 401: Could not authenticate"

    @pytest.fixture
    def service(self, og: FakeOpsgenie) -> FakeOpsgenie:
        return og

    def make_pager(self, service: FakeOpsgenie, t: Target) -> OpsgeniePager:
        return pager(service, t.client, t.sleeps, t.credential, url=t.url, policy=t.policy)

    def state(self, service: FakeOpsgenie) -> str | None:
        """The state of the incident's one alert (its alias depends on the contacts)."""
        if not service.alerts:
            return None
        (alert,) = service.alerts.values()
        if alert["status"] == "open" and alert["acknowledged"]:
            return "acknowledged"
        return str(alert["status"])

    def alert_keys(self, service: FakeOpsgenie) -> list[str]:
        return list(service.alerts)
