"""The `Pager` contract, run unchanged against every pager kind and its local fake service.

What every pager must do, whatever the service behind it:
* trigger, acknowledge and resolve per `notice.data["action"]`, each moving the one alert
  (or issue) of the incident; an unknown action is refused without a request;
* a repeated trigger (the outbox replaying a notice) joins the alert it opened;
* a 429 with a short Retry-After is waited for and retried; a long one raises
  `DeliveryError(retry_after=…)` at once so the outbox reschedules; 5xx answers are retried
  with growing backoff until the budget, then `DeliveryError` with the last Retry-After;
* a refusing 4xx (a wrong credential) raises `DeliveryRejected` at once;
* no credential reaches an error text (refused, unreachable).

A test module subclasses `PagerContract` (its name must start with `Test`) and provides:
* a `service` fixture: the started fake (a `FakeService`), closed afterwards;
* `make_pager(service, target)`: the pager under test, built as `target` says;
* `state(service)`: the state of the incident's alert, or None when there is none, and
  `STATES`: the states trigger, acknowledge and resolve leave it in;
* `alert_keys(service)`: the keys of the alerts (issues) the service holds;
* `CREDENTIAL` (accepted), `WRONG_CREDENTIAL` (refused with a 4xx whose text contains
  `REFUSAL`), and `SECRETS`: any other secret the pager holds (a token in its URL);
* `TRIGGER_REQUESTS` if a trigger takes more than one request (a lookup first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

import httpx
import pytest

from bot.core.ports import Pager
from bot.errors import DeliveryError, DeliveryRejected
from bot.paging.retry import RetryPolicy
from tests.fakes.paging_services import FakeService, Scripted
from tests.integration.paging.conftest import FAST, SleepRecorder, make_incident, make_notice

S = TypeVar("S", bound=FakeService)


@dataclass(frozen=True, slots=True)
class Target:
    """How the contract wants the pager under test built."""

    client: httpx.AsyncClient
    sleeps: SleepRecorder
    url: str  # the service's base URL (the fake's, or one where nothing listens)
    credential: str
    policy: RetryPolicy = FAST


class PagerContract(Generic[S]):
    STATES: ClassVar[tuple[str, str, str]]
    CREDENTIAL: ClassVar[str]
    WRONG_CREDENTIAL: ClassVar[str]
    REFUSAL: ClassVar[str]
    SECRETS: ClassVar[tuple[str, ...]] = ()
    TRIGGER_REQUESTS: ClassVar[int] = 1

    def make_pager(self, service: S, target: Target) -> Pager:
        raise NotImplementedError

    def state(self, service: S) -> str | None:
        raise NotImplementedError

    def alert_keys(self, service: S) -> list[str]:
        raise NotImplementedError

    def pager(
        self,
        service: S,
        client: httpx.AsyncClient,
        sleeps: SleepRecorder,
        *,
        url: str | None = None,
        wrong_credential: bool = False,
        policy: RetryPolicy = FAST,
    ) -> Pager:
        credential = self.WRONG_CREDENTIAL if wrong_credential else self.CREDENTIAL
        target = Target(client, sleeps, url or service.url, credential, policy)
        return self.make_pager(service, target)

    def assert_no_secret(self, text: str) -> None:
        for secret in (self.CREDENTIAL, self.WRONG_CREDENTIAL, *self.SECRETS):
            assert secret not in text

    # ------------------------------------------------------------------ actions

    async def test_trigger_acknowledge_resolve_move_one_alert(
        self, service: S, client: httpx.AsyncClient, sleeps: SleepRecorder
    ) -> None:
        pager = self.pager(service, client, sleeps)
        incident = make_incident()
        for action, state in zip(("trigger", "acknowledge", "resolve"), self.STATES, strict=True):
            await pager.page(make_notice(action, None), incident)
            assert self.state(service) == state, action
        assert len(self.alert_keys(service)) == 1
        assert service.problems == []
        assert sleeps.waits == []

    async def test_unknown_action_is_rejected_without_a_request(
        self, service: S, client: httpx.AsyncClient, sleeps: SleepRecorder
    ) -> None:
        pager = self.pager(service, client, sleeps)
        with pytest.raises(DeliveryRejected, match="expected trigger, acknowledge or resolve"):
            await pager.page(make_notice("escalate"), make_incident())
        assert service.requests == []

    async def test_repeated_trigger_joins_the_alert_it_opened(
        self, service: S, client: httpx.AsyncClient, sleeps: SleepRecorder
    ) -> None:
        pager = self.pager(service, client, sleeps)
        await pager.page(make_notice("trigger", None), make_incident())
        first = self.alert_keys(service)
        await pager.page(make_notice("trigger", None), make_incident())
        assert len(first) == 1
        assert self.alert_keys(service) == first
        assert self.state(service) == self.STATES[0]
        assert service.problems == []

    # ------------------------------------------------------------------ retries

    async def test_429_with_retry_after_is_honoured_then_delivered(
        self, service: S, client: httpx.AsyncClient, sleeps: SleepRecorder
    ) -> None:
        service.script(Scripted(429, {"Retry-After": "3"}, {"message": "Rate limit exceeded"}))
        await self.pager(service, client, sleeps).page(make_notice(), make_incident())

        assert sleeps.waits == [3.0]
        assert len(service.requests) == self.TRIGGER_REQUESTS + 1
        assert self.state(service) == self.STATES[0]

    async def test_long_retry_after_goes_back_to_the_outbox_at_once(
        self, service: S, client: httpx.AsyncClient, sleeps: SleepRecorder
    ) -> None:
        service.script(Scripted(429, {"Retry-After": "120"}))
        with pytest.raises(DeliveryError) as caught:
            await self.pager(service, client, sleeps).page(make_notice(), make_incident())

        assert not isinstance(caught.value, DeliveryRejected)
        assert caught.value.retry_after == 120.0
        assert len(service.requests) == 1
        assert sleeps.waits == []
        assert self.alert_keys(service) == []

    async def test_5xx_answers_are_retried_with_growing_backoff(
        self, service: S, client: httpx.AsyncClient, sleeps: SleepRecorder
    ) -> None:
        service.script(Scripted(500, body={"message": "oops"}), Scripted(502), Scripted(503))
        await self.pager(service, client, sleeps).page(make_notice(), make_incident())

        assert len(sleeps.waits) == 3
        assert len(service.requests) == self.TRIGGER_REQUESTS + 3
        # Equal jitter: the n-th wait lies in [d/2, d] with d = base * 2**(n-1), capped.
        for n, wait in enumerate(sleeps.waits, start=1):
            ceiling = min(FAST.max_delay, FAST.base_delay * 2 ** (n - 1))
            assert ceiling / 2 <= wait <= ceiling
        assert self.state(service) == self.STATES[0]
        assert len(self.alert_keys(service)) == 1

    async def test_retry_budget_exhausted_raises_with_the_last_retry_after(
        self, service: S, client: httpx.AsyncClient, sleeps: SleepRecorder
    ) -> None:
        service.script(*[Scripted(503, {"Retry-After": "2"}, {"message": "maintenance"})] * 4)
        with pytest.raises(DeliveryError) as caught:
            await self.pager(service, client, sleeps).page(make_notice(), make_incident())

        assert not isinstance(caught.value, DeliveryRejected)
        assert caught.value.retry_after == 2.0
        assert "gave up after 4 attempts" in str(caught.value)
        assert "HTTP 503: maintenance" in str(caught.value)
        assert len(service.requests) == 4
        assert sleeps.waits == [2.0, 2.0, 2.0]

    async def test_hung_service_is_cut_off_by_the_attempt_deadline(
        self, service: S, client: httpx.AsyncClient, sleeps: SleepRecorder
    ) -> None:
        service.script(Scripted(200, hang=True))
        policy = RetryPolicy(attempts=2, base_delay=0.001, attempt_timeout=0.2)
        pager = self.pager(service, client, sleeps, policy=policy)
        await pager.page(make_notice(), make_incident())

        assert len(service.requests) == self.TRIGGER_REQUESTS + 1
        assert self.state(service) == self.STATES[0]

    # ------------------------------------------------------------------ refusals

    async def test_refusing_4xx_is_rejected_at_once_without_the_credential(
        self, service: S, client: httpx.AsyncClient, sleeps: SleepRecorder
    ) -> None:
        pager = self.pager(service, client, sleeps, wrong_credential=True)
        with pytest.raises(DeliveryRejected) as caught:
            await pager.page(make_notice(), make_incident())

        text = str(caught.value)
        assert self.REFUSAL in text
        self.assert_no_secret(text)
        assert service.url not in text
        assert len(service.requests) == 1
        assert sleeps.waits == []
        assert self.alert_keys(service) == []

    async def test_connection_refused_retries_then_fails_without_the_credential(
        self,
        service: S,
        client: httpx.AsyncClient,
        sleeps: SleepRecorder,
        unused_port: int,
    ) -> None:
        base_url = f"http://127.0.0.1:{unused_port}"  # nothing listens there
        pager = self.pager(service, client, sleeps, url=base_url)
        with pytest.raises(DeliveryError) as caught:
            await pager.page(make_notice(), make_incident())

        text = str(caught.value)
        assert not isinstance(caught.value, DeliveryRejected)
        assert "cannot connect" in text
        assert f"gave up after {FAST.attempts} attempts" in text
        self.assert_no_secret(text)
        assert caught.value.retry_after is None
        assert len(sleeps.waits) == FAST.attempts - 1
