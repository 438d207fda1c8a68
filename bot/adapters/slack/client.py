"""The Slack Web API client incidentbot uses: explicit token and base URL, and a retry policy.

* 429: retried after `Retry-After` when that is at most `max_retry_wait` seconds; a longer
  wait surfaces as the error so the durable outbox waits instead of a request. A 429 of a
  call made in a pacer's slot (bot/adapters/slack/pacing.py) always surfaces: the pacer
  holds that channel, and only it, and retries in its next slot;
* 500/502/503/504 and connection errors: retried twice with backoff — except for a
  `chat.postMessage` that may have reached Slack (a dropped connection after sending, a
  5xx): re-sending that here would post twice, so it surfaces as the error and the outbox
  retries it, looking first for the message it may have posted (bot/adapters/slack/dedup.py).
  A post whose connection could not even be opened is still retried here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import ClientConnectorError
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.pacing import IN_SLOT

DEFAULT_API_URL = "https://slack.com/api/"
# Methods that must not be re-sent when the first request may have been carried out.
NOT_IDEMPOTENT = frozenset({"chat.postMessage"})


def _not_idempotent(request: HttpRequest) -> bool:
    return request.url.rstrip("/").rsplit("/", 1)[-1] in NOT_IDEMPOTENT


class _ConnectionErrorRetry(AsyncConnectionErrorRetryHandler):
    """Retries connection errors; for a non-idempotent call only when the connection was
    never made (then nothing was sent)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if _not_idempotent(request) and not isinstance(error, ClientConnectorError):
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


class _BoundedRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """Retries a 429 after its Retry-After, but only when that wait is short; a longer one
    surfaces as `DeliveryError(retry_after=…)` so the durable outbox waits, not a request."""

    def __init__(self, max_wait: float, max_retry_count: int = 2) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        if IN_SLOT.get():
            return False  # the pacer retries in the channel's next slot
        return retry_after(response.headers) <= self.max_wait


class _ServerErrorRetry(AsyncServerErrorRetryHandler):
    """AsyncServerErrorRetryHandler also retrying 502/504 (gateways in front of Slack)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if _not_idempotent(request):
            return False  # Slack may have posted it before failing: the outbox decides
        return response is not None and response.status_code in (500, 502, 503, 504)


def slack_error(exc: SlackApiError) -> str:
    """The `error` code of a failed call ("" when the body was not Slack's JSON, e.g. HTML
    from a gateway): never the whole response, which may echo request arguments."""
    data = exc.response.data
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def retry_after(headers: Mapping[str, Any]) -> float:
    for k, v in headers.items():
        if k.lower() == "retry-after":
            raw = v[0] if isinstance(v, list | tuple) else v
            try:
                return float(raw)
            except (TypeError, ValueError):
                return 1.0
    return 1.0


def build_web_client(
    bot_token: str, api_url: str | None = None, *, max_retry_wait: float = 10.0
) -> AsyncWebClient:
    """The Web API client with the retry policy; `api_url` defaults to Slack's."""
    handlers: list[AsyncRetryHandler] = [
        _ConnectionErrorRetry(max_retry_count=2),
        _BoundedRateLimitRetry(max_retry_wait),
        _ServerErrorRetry(max_retry_count=2),
    ]
    return AsyncWebClient(
        token=bot_token,
        base_url=api_url or DEFAULT_API_URL,
        timeout=10,
        retry_handlers=handlers,
    )
