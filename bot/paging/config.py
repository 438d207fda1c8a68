"""The `pagers:` section of the YAML configuration, and the factory that builds pagers.

```yaml
pagers:                                   # name -> backend; severities list names
  pagerduty: {kind: pagerduty, routing_key: "${PAGERDUTY_ROUTING_KEY}"}
  opsgenie:  {kind: opsgenie, api_key: "${OPSGENIE_API_KEY}", url: "https://api.eu.opsgenie.com"}
  hook:      {kind: webhook, url: "https://hooks.example.com/inc", secret: "${WEBHOOK_SECRET}"}
  tickets:   {kind: github, repo: "org/ops", token: "${GITHUB_TOKEN}"}
```

`${VAR}` is expanded by the settings loader before these models see the values; a value
still shaped like `${VAR}` means the variable was not set and is refused here. Secrets are
`SecretStr`: they print as `**********` and reach a backend only when it is built.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.core.policy import parse_duration
from bot.core.ports import Pager
from bot.errors import ConfigError
from bot.paging.opsgenie import DEFAULT_URL as OPSGENIE_URL
from bot.paging.opsgenie import OpsgeniePager
from bot.paging.pagerduty import DEFAULT_URL as PAGERDUTY_URL
from bot.paging.pagerduty import PagerDutyPager
from bot.paging.retry import RetryPolicy, Sleep
from bot.paging.ticket import DEFAULT_API_URL as GITHUB_API_URL
from bot.paging.ticket import GitHubIssuePager
from bot.paging.webhook import WebhookPager

_UNSET_VAR = re.compile(r"\$\{(\w+)\}")


def _seconds(value: Any) -> Any:
    # Accept `10s` / `2m` like the rest of the configuration, or plain numbers of seconds.
    if isinstance(value, str):
        return parse_duration(value).total_seconds()
    return value


def _check_secret(value: SecretStr) -> SecretStr:
    raw = value.get_secret_value()
    unset = _UNSET_VAR.search(raw)
    if unset:
        raise ValueError(f"environment variable {unset.group(1)} is not set")
    if not raw.strip():
        raise ValueError("must not be empty")
    return value


def _check_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("expected an http:// or https:// URL")
    if _UNSET_VAR.search(value):
        raise ValueError("contains an environment variable that is not set")
    return value


def _check_secret_url(value: SecretStr) -> SecretStr:
    _check_url(value.get_secret_value())
    return value


Secret = Annotated[SecretStr, AfterValidator(_check_secret)]
HttpUrl = Annotated[str, AfterValidator(_check_url)]
SecretHttpUrl = Annotated[SecretStr, AfterValidator(_check_secret_url)]


class _PagerBase(BaseModel):
    """Settings every backend shares: retry budget and per-attempt deadline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retries: int = Field(default=3, ge=0, le=10, description="retries after the first try")
    timeout: float = Field(default=10.0, gt=0, le=120, description="seconds per attempt")
    backoff: float = Field(default=0.5, ge=0, le=60, description="first retry wait, seconds")

    @field_validator("timeout", "backoff", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return _seconds(value)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.retries + 1,
            base_delay=self.backoff,
            max_delay=max(self.backoff, min(30.0, self.backoff * 16)),
            attempt_timeout=self.timeout,
        )


class PagerDutyConfig(_PagerBase):
    """PagerDuty Events API v2. `routing_keys` gives a contact group its own service."""

    kind: Literal["pagerduty"]
    routing_key: Secret
    routing_keys: dict[str, Secret] = Field(default_factory=dict)
    url: HttpUrl = PAGERDUTY_URL
    source: str = "incidentbot"


class OpsgenieResponder(BaseModel):
    """An Opsgenie responder: a team/escalation/schedule by `name` or `id`, a user by
    `username` or `id`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["team", "user", "escalation", "schedule"]
    id: str | None = None
    name: str | None = None
    username: str | None = None

    @model_validator(mode="after")
    def _identified(self) -> OpsgenieResponder:
        if not (self.id or self.name or self.username):
            raise ValueError("a responder needs id, name or username")
        if self.username and self.type != "user":
            raise ValueError("username is only for responders of type user")
        return self

    def as_api(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class OpsgenieConfig(_PagerBase):
    """Opsgenie Alert API (API integration key). EU accounts: https://api.eu.opsgenie.com."""

    kind: Literal["opsgenie"]
    api_key: Secret
    url: HttpUrl = OPSGENIE_URL
    responders: dict[str, list[OpsgenieResponder]] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    source: str = "incidentbot"


class WebhookConfig(_PagerBase):
    """A generic JSON webhook signed with HMAC-SHA256 (see bot.paging.webhook)."""

    kind: Literal["webhook"]
    url: SecretHttpUrl  # webhook URLs often carry a token: never printed
    secret: Secret
    headers: dict[str, SecretStr] = Field(default_factory=dict)


class GitHubConfig(_PagerBase):
    """Tickets as GitHub issues in `repo` (`owner/name`)."""

    kind: Literal["github"]
    repo: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    token: Secret
    api_url: HttpUrl = GITHUB_API_URL
    labels: list[str] = Field(default_factory=lambda: ["incident"])
    assignees: list[str] = Field(default_factory=list)


PagerConfig = Annotated[
    PagerDutyConfig | OpsgenieConfig | WebhookConfig | GitHubConfig,
    Field(discriminator="kind"),
]

_SECTION: TypeAdapter[dict[str, PagerConfig]] = TypeAdapter(dict[str, PagerConfig])


def parse_pagers(raw: Any) -> dict[str, PagerConfig]:
    """Validates a `pagers:` mapping (raises pydantic.ValidationError)."""
    return _SECTION.validate_python(raw if raw is not None else {})


KINDS = ("pagerduty", "opsgenie", "webhook", "github")


def load_pagers(raw: Any, file: str) -> dict[str, PagerConfig]:
    """`parse_pagers`, raising `ConfigError(file, "pagers.<name>.<key>", expected)` for the
    first problem instead (what `run` and `check-config` both report)."""
    try:
        return parse_pagers(raw)
    except ValidationError as exc:
        key, expected = _explain(exc.errors(include_url=False)[0])
        raise ConfigError(file, key, expected) from None


def _explain(err: Mapping[str, Any]) -> tuple[str, str]:
    loc = [str(p) for p in err["loc"]]
    kind, ctx = err["type"], err.get("ctx") or {}
    if len(loc) > 1 and loc[1] in KINDS:
        del loc[1]  # the discriminated union's member tag, not a key of the file
    key = ".".join(["pagers", *loc])
    if kind == "union_tag_invalid":
        got = str(ctx.get("tag"))[:40]
        return f"{key}.kind", f"expected one of {', '.join(KINDS)}, got {got!r}"
    if kind == "union_tag_not_found":
        return f"{key}.kind", f"expected a pager kind (one of {', '.join(KINDS)})"
    if kind == "missing":
        return key, "expected a value (required)"
    if kind == "extra_forbidden":
        return key, "no such key for this kind of pager (check its spelling)"
    msg = str(err.get("msg", "a valid value")).removeprefix("Value error, ")
    for bound, words in (("gt", "more than"), ("ge", "at least"), ("le", "at most")):
        if bound in ctx:
            return key, f"expected a number {words} {ctx[bound]}"
    return key, msg[0].lower() + msg[1:] if msg else kind


def build_pager(
    name: str, config: PagerConfig, client: httpx.AsyncClient, *, sleep: Sleep = asyncio.sleep
) -> Pager:
    """One backend from its configuration; `client` is shared and owned by the caller."""
    policy = config.retry_policy()
    if isinstance(config, PagerDutyConfig):
        return PagerDutyPager(
            name,
            client=client,
            routing_key=config.routing_key.get_secret_value(),
            routing_keys={g: k.get_secret_value() for g, k in config.routing_keys.items()},
            url=config.url,
            source=config.source,
            policy=policy,
            sleep=sleep,
        )
    if isinstance(config, OpsgenieConfig):
        return OpsgeniePager(
            name,
            client=client,
            api_key=config.api_key.get_secret_value(),
            url=config.url,
            responders={g: [r.as_api() for r in rs] for g, rs in config.responders.items()},
            tags=config.tags,
            source=config.source,
            policy=policy,
            sleep=sleep,
        )
    if isinstance(config, WebhookConfig):
        return WebhookPager(
            name,
            client=client,
            url=config.url.get_secret_value(),
            secret=config.secret.get_secret_value(),
            headers={h: v.get_secret_value() for h, v in config.headers.items()},
            policy=policy,
            sleep=sleep,
        )
    return GitHubIssuePager(
        name,
        client=client,
        repo=config.repo,
        token=config.token.get_secret_value(),
        api_url=config.api_url,
        labels=config.labels,
        assignees=config.assignees,
        policy=policy,
        sleep=sleep,
    )


def build_pagers(
    config: Mapping[str, PagerConfig], client: httpx.AsyncClient, *, sleep: Sleep = asyncio.sleep
) -> dict[str, Pager]:
    """Every configured pager by name. Severities select them by these names."""
    return {name: build_pager(name, c, client, sleep=sleep) for name, c in config.items()}
