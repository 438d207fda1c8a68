"""WebhookPager against a receiver that verifies the HMAC signature independently."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.errors import DeliveryError, DeliveryRejected
from bot.paging.retry import RetryPolicy
from bot.paging.webhook import WebhookPager, sign, verify_signature
from tests.contract.pager_contract import PagerContract, Target
from tests.fakes.paging_services import FakeWebhookReceiver, Scripted
from tests.integration.paging.conftest import FAST, SleepRecorder, make_incident, make_notice

SECRET = "whsec_0123456789abcdef"
PATH_TOKEN = "T0KEN1N7HEPATH"
WRONG_SECRET = "not-the-secret"


@pytest.fixture
async def receiver() -> AsyncIterator[FakeWebhookReceiver]:
    fake = FakeWebhookReceiver(SECRET)
    await fake.start()
    yield fake
    await fake.aclose()


def pager(
    receiver: FakeWebhookReceiver,
    client: httpx.AsyncClient,
    sleeps: SleepRecorder,
    secret: str = SECRET,
    *,
    base_url: str | None = None,
    policy: RetryPolicy = FAST,
    **kw: object,
) -> WebhookPager:
    return WebhookPager(
        "hook",
        client=client,
        url=f"{base_url or receiver.url}/hooks/{PATH_TOKEN}",
        secret=secret,
        policy=policy,
        sleep=sleeps,
        **kw,  # type: ignore[arg-type]
    )


async def test_signed_event_is_accepted_and_carries_the_incident(
    receiver: FakeWebhookReceiver, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    await pager(receiver, client, sleeps).page(make_notice("trigger"), make_incident())

    assert receiver.problems == []
    (event,) = receiver.events
    assert event["version"] == 1
    assert event["action"] == "trigger"
    assert event["dedup_key"] == "INC-7"
    assert event["contacts"] == "oncall"
    assert event["incident"]["severity"] == "SEV1"
    assert event["incident"]["declared_at"] == "2025-03-04T05:06:07+00:00"
    assert event["message"]["title"] == "INCIDENT DECLARED: Backend DB unreachable"
    req = receiver.requests[0]
    assert req.headers["x-incidentbot-event"] == "trigger"
    assert req.headers["x-incidentbot-delivery"] == "INC-7:trigger:41"
    # The signature covers exactly the bytes sent.
    ts = req.headers["x-incidentbot-timestamp"]
    mac = hmac.new(SECRET.encode(), f"{ts}.".encode() + req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-incidentbot-signature"] == f"sha256={mac}"


async def test_each_retry_is_signed_afresh(
    receiver: FakeWebhookReceiver, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    # A clock that advances a minute per call: each attempt gets its own timestamp, and
    # each is still within the receiver's tolerance.
    start = datetime.now(UTC) - timedelta(minutes=2)
    ticks = iter(range(100))

    def clock() -> datetime:
        return start + timedelta(minutes=next(ticks))

    receiver.script(Scripted(502), Scripted(429, {"Retry-After": "0"}))
    await pager(receiver, client, sleeps, now=clock).page(make_notice("resolve"), make_incident())

    stamps = [r.headers["x-incidentbot-timestamp"] for r in receiver.requests]
    assert len(stamps) == 3
    assert len(set(stamps)) == 3
    assert [e["action"] for e in receiver.events] == ["resolve"]


async def test_stale_signature_is_refused(
    receiver: FakeWebhookReceiver, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    def an_hour_ago() -> datetime:
        return datetime.now(UTC) - timedelta(hours=1)

    with pytest.raises(DeliveryRejected, match="stale"):
        await pager(receiver, client, sleeps, now=an_hour_ago).page(make_notice(), make_incident())


async def test_connection_refused_names_the_host_only(
    client: httpx.AsyncClient, sleeps: SleepRecorder, unused_port: int
) -> None:
    p = WebhookPager(
        "hook",
        client=client,
        url=f"http://127.0.0.1:{unused_port}/hooks/{PATH_TOKEN}",
        secret=SECRET,
        policy=FAST,
        sleep=sleeps,
    )
    with pytest.raises(DeliveryError) as caught:
        await p.page(make_notice(), make_incident())
    # The contract checks that no credential shows; here: the host is named, not the URL.
    assert "webhook pager 'hook' (127.0.0.1)" in str(caught.value)


def test_verify_signature_contract() -> None:
    now = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    ts = str(int(now.timestamp()))
    body = b'{"action":"trigger"}'
    good = sign(b"s3cret", ts, body)
    assert verify_signature(b"s3cret", ts, body, good, now=now)
    assert verify_signature(b"s3cret", ts, body, good, now=now + timedelta(minutes=4))
    assert not verify_signature(b"s3cret", ts, body, good, now=now + timedelta(minutes=6))
    assert not verify_signature(b"s3cret", ts, body + b" ", good, now=now)
    assert not verify_signature(b"other", ts, body, good, now=now)
    assert not verify_signature(b"s3cret", "yesterday", body, good, now=now)


class TestWebhookContract(PagerContract[FakeWebhookReceiver]):
    STATES = ("trigger", "acknowledge", "resolve")
    CREDENTIAL = SECRET
    WRONG_CREDENTIAL = WRONG_SECRET
    SECRETS = (PATH_TOKEN,)
    REFUSAL = "HTTP 401: signature mismatch"

    @pytest.fixture
    def service(self, receiver: FakeWebhookReceiver) -> FakeWebhookReceiver:
        return receiver

    def make_pager(self, service: FakeWebhookReceiver, t: Target) -> WebhookPager:
        return pager(service, t.client, t.sleeps, t.credential, base_url=t.url, policy=t.policy)

    def state(self, service: FakeWebhookReceiver) -> str | None:
        """The receiver keeps no alert: its state is the last action it accepted."""
        return str(service.events[-1]["action"]) if service.events else None

    def alert_keys(self, service: FakeWebhookReceiver) -> list[str]:
        return sorted({str(e["dedup_key"]) for e in service.events})
