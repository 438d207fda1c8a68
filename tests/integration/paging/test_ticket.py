"""GitHubIssuePager against a local GitHub Issues API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from bot.core.model import Severity, Status
from bot.errors import DeliveryError, DeliveryRejected
from bot.paging.retry import RetryPolicy
from bot.paging.ticket import GitHubIssuePager
from tests.contract.pager_contract import PagerContract, Target
from tests.fakes.paging_services import PASS, FakeGitHub, Scripted
from tests.integration.paging.conftest import FAST, SleepRecorder, make_incident, make_notice

TOKEN = "ghp_0123456789abcdefghijABCDEFGHIJ012345"
REPO = "acme/ops"
BAD_TOKEN = "ghp_notavalidtoken000000000000000000000"


@pytest.fixture
async def gh() -> AsyncIterator[FakeGitHub]:
    fake = FakeGitHub(REPO, TOKEN)
    await fake.start()
    yield fake
    await fake.aclose()


def pager(
    gh: FakeGitHub,
    client: httpx.AsyncClient,
    sleeps: SleepRecorder,
    *,
    token: str = TOKEN,
    repo: str = REPO,
    api_url: str | None = None,
    policy: RetryPolicy = FAST,
) -> GitHubIssuePager:
    return GitHubIssuePager(
        "tickets",
        client=client,
        repo=repo,
        token=token,
        api_url=api_url or gh.url,
        labels=["incident", "sev4"],
        assignees=["octocat"],
        policy=policy,
        sleep=sleeps,
    )


async def test_trigger_opens_one_issue_with_labels_and_auth(
    gh: FakeGitHub, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    incident = make_incident(12, Severity.SEV4, title="Typo on the status page")
    await pager(gh, client, sleeps).page(make_notice("trigger", None, 12), incident)

    assert gh.problems == []
    lookup, create = gh.requests
    assert (lookup.method, lookup.path) == ("GET", "/repos/acme/ops/issues")
    assert lookup.query["labels"] == "incidentbot:INC-12"
    assert lookup.query["state"] == "all"
    assert (create.method, create.path) == ("POST", "/repos/acme/ops/issues")
    assert create.headers["authorization"] == f"Bearer {TOKEN}"
    assert create.headers["x-github-api-version"] == "2022-11-28"
    (issue,) = gh.issues.values()
    assert issue["title"] == "[SEV4] INC-12: Typo on the status page"
    assert [label["name"] for label in issue["labels"]] == [
        "incident",
        "sev4",
        "incidentbot:INC-12",
    ]
    assert [a["login"] for a in issue["assignees"]] == ["octocat"]
    assert "**Severity:** SEV4" in issue["body"]
    assert "Primary database refuses connections" in issue["body"]


async def test_repeated_trigger_does_not_open_a_second_issue(
    gh: FakeGitHub, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    p = pager(gh, client, sleeps)
    incident = make_incident(12, Severity.SEV4)
    await p.page(make_notice("trigger", None, 12), incident)
    await p.page(make_notice("trigger", None, 12), incident)
    await p.page(make_notice("acknowledge", None, 12), incident)  # nothing to do for a ticket
    assert len(gh.issues) == 1
    assert [r.method for r in gh.requests] == ["GET", "POST", "GET"]


async def test_resolve_comments_and_closes_the_issue(
    gh: FakeGitHub, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    p = pager(gh, client, sleeps)
    incident = make_incident(12, Severity.SEV4)
    await p.page(make_notice("trigger", None, 12), incident)
    resolved = incident.evolve(
        status=Status.RESOLVED,
        resolved_at=datetime(2025, 3, 4, 9, 0, tzinfo=UTC),
        summary="typo fixed",
    )
    await p.page(make_notice("resolve", None, 12), resolved)
    await p.page(make_notice("resolve", None, 12), resolved)  # a repeat does nothing more

    assert gh.problems == []
    assert gh.issues[1]["state"] == "closed"
    assert gh.issues[1]["state_reason"] == "completed"
    assert gh.comments[1] == ["Resolved: typo fixed"]


async def test_resolve_without_an_issue_is_a_no_op(
    gh: FakeGitHub, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    await pager(gh, client, sleeps).page(make_notice("resolve", None, 12), make_incident(12))
    assert [r.method for r in gh.requests] == ["GET"]


async def test_private_incident_issue_reveals_nothing(
    gh: FakeGitHub, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    incident = make_incident(12, Severity.SEV4, title="Leaked key in repo", private=True)
    await pager(gh, client, sleeps).page(make_notice("trigger", None, 12), incident)
    (issue,) = gh.issues.values()
    assert issue["title"] == "[SEV4] INC-12: private incident"
    assert "Leaked" not in issue["body"]
    assert "Primary database" not in issue["body"]


async def test_ambiguous_create_failure_is_not_retried_in_line_and_not_duplicated(
    gh: FakeGitHub, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    # The lookup succeeds; the create takes effect but the client sees a 502.
    gh.script(PASS, Scripted(502, body={"message": "Bad gateway"}, after=True))
    p = pager(gh, client, sleeps)
    incident = make_incident(12, Severity.SEV4)
    with pytest.raises(DeliveryError, match="HTTP 502"):
        await p.page(make_notice("trigger", None, 12), incident)
    assert [r.method for r in gh.requests] == ["GET", "POST"]

    # The outbox's retry looks the issue up first and finds it.
    await p.page(make_notice("trigger", None, 12), incident)
    assert len(gh.issues) == 1
    assert sleeps.waits == []


async def test_rate_limited_403_is_retried(
    gh: FakeGitHub, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    reset = str(int(datetime.now(UTC).timestamp()))
    gh.script(
        Scripted(
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
            {"message": "API rate limit exceeded"},
        ),
        Scripted(429, {"Retry-After": "1"}, {"message": "secondary rate limit"}),
    )
    await pager(gh, client, sleeps).page(make_notice("trigger", None, 12), make_incident(12))

    assert len(gh.issues) == 1
    assert len(sleeps.waits) == 2
    assert sleeps.waits[0] <= 1.0  # the reset time has (about) come
    assert sleeps.waits[1] == 1.0


async def test_unknown_repository_is_rejected(
    gh: FakeGitHub, client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    with pytest.raises(DeliveryRejected, match="HTTP 404: Not Found"):
        await pager(gh, client, sleeps, repo="acme/nope").page(
            make_notice("trigger", None, 12), make_incident(12)
        )


def test_repo_must_be_owner_slash_name(client: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="owner/name"):
        GitHubIssuePager("t", client=client, repo="just-a-name", token=TOKEN)


class TestGitHubIssueContract(PagerContract[FakeGitHub]):
    STATES = ("open", "open", "closed")  # acknowledging a ticket does nothing
    CREDENTIAL = TOKEN
    WRONG_CREDENTIAL = BAD_TOKEN
    REFUSAL = "HTTP 401: Bad credentials"
    TRIGGER_REQUESTS = 2  # the lookup of an issue already opened, then the create

    @pytest.fixture
    def service(self, gh: FakeGitHub) -> FakeGitHub:
        return gh

    def make_pager(self, service: FakeGitHub, t: Target) -> GitHubIssuePager:
        return pager(
            service, t.client, t.sleeps, token=t.credential, api_url=t.url, policy=t.policy
        )

    def state(self, service: FakeGitHub) -> str | None:
        if not service.issues:
            return None
        (issue,) = service.issues.values()
        return str(issue["state"])

    def alert_keys(self, service: FakeGitHub) -> list[str]:
        return [str(number) for number in service.issues]
