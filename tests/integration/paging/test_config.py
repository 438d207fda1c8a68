"""The `pagers:` configuration section: validation, secrecy, and built pagers that work."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pydantic
import pytest
import yaml

from bot.core.ports import Pager
from bot.paging.config import (
    GitHubConfig,
    OpsgenieConfig,
    PagerDutyConfig,
    WebhookConfig,
    build_pagers,
    parse_pagers,
)
from bot.paging.opsgenie import OpsgeniePager
from bot.paging.pagerduty import PagerDutyPager
from bot.paging.ticket import GitHubIssuePager
from bot.paging.webhook import WebhookPager
from tests.fakes.paging_services import (
    FakeGitHub,
    FakeOpsgenie,
    FakePagerDuty,
    FakeService,
    FakeWebhookReceiver,
)
from tests.integration.paging.conftest import SleepRecorder, make_incident, make_notice

PD_KEY = "pdkey0123456789abcdef0123456789a"
OG_KEY = "ogkey-0123-4567-89ab-cdef01234567"
HOOK_SECRET = "hooksecret-0123456789"
GH_TOKEN = "ghp_configtoken0123456789abcdefghijkl"

YAML = """
pagers:
  pagerduty: {{kind: pagerduty, routing_key: "{pd_key}", url: "{pd}", retries: 2, backoff: 1s}}
  opsgenie:
    kind: opsgenie
    api_key: "{og_key}"
    url: "{og}"
    responders:
      oncall: [{{type: team, name: ops}}]
  hook: {{kind: webhook, url: "{hook}/hooks/abc", secret: "{hook_secret}", timeout: 5s}}
  tickets: {{kind: github, repo: "org/ops", token: "{gh_token}", api_url: "{gh}"}}
"""


@pytest.fixture
async def services() -> AsyncIterator[dict[str, FakeService]]:
    fakes: dict[str, FakeService] = {
        "pd": FakePagerDuty({PD_KEY}),
        "og": FakeOpsgenie(OG_KEY),
        "hook": FakeWebhookReceiver(HOOK_SECRET),
        "gh": FakeGitHub("org/ops", GH_TOKEN),
    }
    for fake in fakes.values():
        await fake.start()
    yield fakes
    for fake in fakes.values():
        await fake.aclose()


def config_text(services: dict[str, FakeService]) -> str:
    return YAML.format(
        pd_key=PD_KEY,
        og_key=OG_KEY,
        hook_secret=HOOK_SECRET,
        gh_token=GH_TOKEN,
        **{name: fake.url for name, fake in services.items()},
    )


async def test_configured_pagers_are_built_and_deliver(
    services: dict[str, FakeService], client: httpx.AsyncClient, sleeps: SleepRecorder
) -> None:
    section = parse_pagers(yaml.safe_load(config_text(services))["pagers"])
    assert isinstance(section["pagerduty"], PagerDutyConfig)
    assert section["pagerduty"].retry_policy().attempts == 3
    assert section["pagerduty"].backoff == 1.0
    assert isinstance(section["opsgenie"], OpsgenieConfig)
    assert isinstance(section["hook"], WebhookConfig)
    assert section["hook"].timeout == 5.0
    assert isinstance(section["tickets"], GitHubConfig)

    pagers: dict[str, Pager] = build_pagers(section, client, sleep=sleeps)
    assert {n: type(p) for n, p in pagers.items()} == {
        "pagerduty": PagerDutyPager,
        "opsgenie": OpsgeniePager,
        "hook": WebhookPager,
        "tickets": GitHubIssuePager,
    }
    assert all(name == p.name for name, p in pagers.items())

    for p in pagers.values():
        await p.page(make_notice("trigger", "oncall"), make_incident())
    for fake in services.values():
        assert fake.requests, type(fake).__name__
        assert fake.problems == []
    og = services["og"]
    assert isinstance(og, FakeOpsgenie)
    assert og.requests[0].json()["responders"] == [{"type": "team", "name": "ops"}]


def test_secrets_never_print(services: dict[str, FakeService]) -> None:
    section = parse_pagers(yaml.safe_load(config_text(services))["pagers"])
    shown = repr(section) + str(section) + str([c.model_dump() for c in section.values()])
    for secret in (PD_KEY, OG_KEY, HOOK_SECRET, GH_TOKEN, "/hooks/abc"):
        assert secret not in shown


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"p": {"kind": "pagerduty", "routing_key": "${PD_KEY}"}}, "PD_KEY is not set"),
        ({"p": {"kind": "pagerduty", "routing_key": " "}}, "must not be empty"),
        ({"p": {"kind": "pagerduty"}}, "routing_key"),
        ({"p": {"kind": "pagerdoody", "routing_key": "k"}}, "pagerduty"),
        ({"p": {"kind": "opsgenie", "api_key": "k", "colour": "red"}}, "colour"),
        ({"p": {"kind": "opsgenie", "api_key": "k", "url": "ftp://x"}}, "http"),
        ({"p": {"kind": "webhook", "url": "https://h/x", "secret": "${S}"}}, "S is not set"),
        ({"p": {"kind": "github", "repo": "no-slash", "token": "t0ken"}}, "repo"),
        ({"p": {"kind": "github", "repo": "o/r", "token": "t0ken", "timeout": "soon"}}, "duration"),
        (
            {
                "p": {
                    "kind": "opsgenie",
                    "api_key": "k",
                    "responders": {"oncall": [{"type": "team", "username": "a"}]},
                }
            },
            "username is only for responders of type user",
        ),
    ],
)
def test_invalid_configuration_says_what_was_expected(raw: object, expected: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=expected):
        parse_pagers(raw)


def test_empty_section_builds_no_pagers(client: httpx.AsyncClient) -> None:
    assert parse_pagers(None) == {}
    assert build_pagers({}, client) == {}
