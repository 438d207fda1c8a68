"""HTTP delivery with bounded retries, shared by every pager backend.

Contract of `HttpSender.request`:
* returns the response of the first attempt that answers 2xx;
* retries 429/408/425 and 5xx answers, rate-limit 403s (GitHub's `x-ratelimit-remaining: 0`
  or a `Retry-After`), connection errors and timeouts, at most `RetryPolicy.attempts` tries
  in all, waiting an exponential backoff with jitter, or the server's `Retry-After` when it
  gives one;
* a `Retry-After` longer than `RetryPolicy.max_retry_after` is not waited for in-line: it
  raises `DeliveryError(retry_after=…)` at once so the durable outbox reschedules the notice;
* any other 4xx raises `DeliveryRejected` at once, quoting what the service said;
* after the budget it raises `DeliveryError` with the last known `retry_after`.

Error messages and log lines name the service and host only, never the full URL (webhook
URLs often embed a token). Every configured secret is replaced by `***`, and so is every
credential the request itself carried (see `request_secrets`): a server that echoes the
`Authorization` header, or the URL's `user:pass`, in its error body cannot put it into the
thread, the logs or the store, all of which quote these errors.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog

from bot.errors import DeliveryError, DeliveryRejected
from bot.log import Redactor

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Now = Callable[[], datetime]

# Answers that mean "not now" rather than "never".
_RETRYABLE_4XX = frozenset({408, 425, 429})
_DETAIL_LIMIT = 300
# Request headers whose values are never credentials; every other value sent is masked.
_PUBLIC_HEADERS = frozenset(
    {"accept", "accept-encoding", "content-type", "content-length", "user-agent", "host",
     "x-github-api-version", "x-incidentbot-event", "x-incidentbot-delivery",
     "x-incidentbot-timestamp"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one `page()` call tries before handing the notice back to the outbox.

    `attempts` counts every try (1 = no retry). The n-th retry waits a random time in
    [d/2, d] with d = min(max_delay, base_delay * 2**(n-1)) ("equal jitter": spread out, but
    never zero). `attempt_timeout` is a hard deadline per attempt, connect to last byte.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    attempt_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ValueError("delays must not be negative")
        if self.attempt_timeout <= 0:
            raise ValueError("attempt_timeout must be positive")

    def backoff(self, retry: int, rand: float) -> float:
        """Wait before retry number `retry` (1-based); `rand` is uniform in [0, 1)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return ceiling / 2 + ceiling / 2 * rand


def request_secrets(url: httpx.URL, headers: Mapping[str, str]) -> list[str]:
    """Everything a request carries that must never be quoted back to anyone: the URL's
    userinfo (as given and percent-decoded, its password alone, and the base64 `user:pass`
    of the Basic `Authorization` header httpx derives from it), and the value of every
    header sent other than `_PUBLIC_HEADERS` (for `Scheme credential` values, the
    credential alone too)."""
    found: list[str] = []
    if url.userinfo:
        user, password = url.username, url.password
        found += [url.userinfo.decode("ascii", "replace"), f"{user}:{password}"]
        if password:
            found.append(password)
        basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        found += [basic, basic.rstrip("=")]
    for name, value in headers.items():
        if name.lower() in _PUBLIC_HEADERS or not value:
            continue
        found.append(value)
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha():
            found.append(credential.strip())
    return found


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from `now`: delta-seconds or an HTTP-date; None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def rate_limit_wait(response: httpx.Response, now: datetime) -> float | None:
    """The wait a rate-limited answer asks for: `Retry-After`, else `x-ratelimit-reset`."""
    wait = parse_retry_after(response.headers.get("retry-after"), now)
    if wait is not None:
        return wait
    reset = response.headers.get("x-ratelimit-reset")
    if reset is not None and response.headers.get("x-ratelimit-remaining") == "0":
        try:
            return max(0.0, float(reset) - now.timestamp())
        except ValueError:
            return None
    return None


def _is_rate_limited_403(response: httpx.Response) -> bool:
    # GitHub answers its primary and secondary rate limits with 403 (sometimes 429).
    return response.status_code == 403 and (
        "retry-after" in response.headers or response.headers.get("x-ratelimit-remaining") == "0"
    )


def describe_response(response: httpx.Response) -> str:
    """What the service said, in one short line: its JSON `message`/`errors`, else the text."""
    text = response.text
    detail = text.strip()
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("message", "error", "status") if body.get(k)][:1]
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts.append(
                "; ".join(json.dumps(e) if isinstance(e, dict) else str(e) for e in errors)
            )
        if parts:
            detail = ": ".join(parts)
    detail = " ".join(detail.split())
    if len(detail) > _DETAIL_LIMIT:
        detail = detail[: _DETAIL_LIMIT - 1] + "…"
    return detail or "(empty body)"


class HttpSender:
    """One backend's HTTP side: a shared `httpx.AsyncClient` plus retry and redaction.

    `sleep` and `rand` are injectable so tests record the waits instead of sleeping.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        service: str,
        secrets: Iterable[str] = (),
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        now: Now = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.service = service
        self.policy = policy or RetryPolicy()
        self.redact = Redactor(secrets)
        self._sleep = sleep
        self._rand = rand
        self._now = now

    async def request(
        self,
        method: str,
        url: str,
        *,
        json_body: object = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        sign: Callable[[], Mapping[str, str]] | None = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Sends the request per the module contract.

        `sign`, when given, is called before every attempt for extra headers (a fresh
        signature timestamp). With `idempotent=False` (creating a GitHub issue) only
        failures that prove the request was not processed are retried in-line: refused
        connections and 429; anything ambiguous goes back to the caller's outbox, whose
        retry looks the object up before creating it again.
        """
        parsed = httpx.URL(url)
        host = parsed.host or "?"
        what = f"{self.service} ({host})"
        retry_after: float | None = None
        reason = ""
        for attempt in range(1, self.policy.attempts + 1):
            if attempt > 1:
                wait = (
                    retry_after
                    if retry_after is not None
                    else self.policy.backoff(attempt - 1, self._rand())
                )
                log.warning(
                    "pager_retry",
                    service=self.service,
                    host=host,
                    attempt=attempt,
                    reason=reason,
                    wait_s=round(wait, 3),
                )
                await self._sleep(wait)
            retry_after = None
            all_headers = dict(headers or {})
            if sign is not None:
                all_headers.update(sign())
            redact = Redactor([*self.redact.secrets, *request_secrets(parsed, all_headers)])
            try:
                async with asyncio.timeout(self.policy.attempt_timeout):
                    response = await self.client.request(
                        method,
                        url,
                        json=json_body,
                        content=content,
                        headers=all_headers,
                        params=params,
                    )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                reason = f"cannot connect: {redact(_exc_text(exc))}"
                continue
            except (httpx.TransportError, TimeoutError) as exc:
                reason = (
                    f"no answer within {self.policy.attempt_timeout:g} s"
                    if isinstance(exc, TimeoutError)
                    else f"transport error: {redact(_exc_text(exc))}"
                )
                if not idempotent:
                    raise DeliveryError(f"{what}: {reason}") from None
                continue

            status = response.status_code
            if 200 <= status < 300:
                return response
            detail = redact(describe_response(response))
            if status in _RETRYABLE_4XX or status >= 500 or _is_rate_limited_403(response):
                retry_after = rate_limit_wait(response, self._now())
                reason = f"HTTP {status}: {detail}"
                if retry_after is not None and retry_after > self.policy.max_retry_after:
                    raise DeliveryError(
                        f"{what}: HTTP {status}, asked to retry after {retry_after:g} s",
                        retry_after=retry_after,
                    )
                rate_limited = status == 429 or status == 403
                if not idempotent and not rate_limited:
                    raise DeliveryError(f"{what}: {reason}", retry_after=retry_after)
                continue
            raise DeliveryRejected(f"{what} rejected the request: HTTP {status}: {detail}")
        raise DeliveryError(
            f"{what}: gave up after {self.policy.attempts} attempts: {reason}",
            retry_after=retry_after,
        )


def _exc_text(exc: BaseException) -> str:
    # httpx messages are short OS errors ("[Errno 111] Connection refused"), but an
    # InvalidURL or proxy error can quote the URL: keep the type and at most one line.
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
