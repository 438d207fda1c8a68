"""HTTP probe (httpx): status range, latency, optional body substring and JSON path checks.

httpx timeouts are per phase ("seconds of inactivity"), not a total: a server dripping a
byte at a time keeps a request alive indefinitely. The runner's asyncio deadline is what
bounds this probe; httpx's own timeout is set to the same value only as a backstop.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import Field, field_validator

from probes.base import Findings, ProbeResult, Status, describe, fmt_ms, single
from probes.kind import Kind, KindConfig, Threshold, check_port, url_secrets

MAX_BODY = 256 * 1024  # bytes read for body checks; the rest is not downloaded
_MISSING = object()


class HttpProbeConfig(KindConfig):
    """GET/HEAD `url`; status in `expect_status` (default 200–399); latency; body checks."""

    kind: Literal["http"] = "http"
    url: str
    method: Literal["GET", "HEAD"] = "GET"
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] | None = None
    warn_latency: Threshold = 1.0
    body_contains: str | None = None
    json_path: str | None = None
    json_equals: Any = None
    follow_redirects: bool = True
    verify: bool = True
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an http:// or https:// URL")
        check_port(parts, "an http:// or https:// URL")
        return v

    def secrets(self) -> list[str]:
        return url_secrets(self.url) + list(self.headers.values())

    def shares_http_client(self) -> bool:
        return self.verify  # an unverified probe gets a client of its own


class HttpProbe:
    """Checks one URL. Uses `client` if given (shared per run, `verify=True`), else its own."""

    def __init__(self, config: HttpProbeConfig, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._client = client

    async def check(self) -> ProbeResult:
        started = time.perf_counter()
        if self._client is not None:
            return await self._check(self._client, started)
        async with httpx.AsyncClient(verify=self.config.verify) as client:
            return await self._check(client, started)

    async def _check(self, client: httpx.AsyncClient, started: float) -> ProbeResult:
        cfg = self.config
        try:
            async with client.stream(
                cfg.method,
                cfg.url,
                headers=cfg.headers,
                follow_redirects=cfg.follow_redirects,
                timeout=httpx.Timeout(cfg.timeout),
            ) as response:
                body = bytearray()
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) >= MAX_BODY:
                        break
        except httpx.TimeoutException as exc:
            return single(cfg, Status.FAIL, f"no response in time ({describe(exc)})", started)
        except httpx.TooManyRedirects:
            return single(cfg, Status.FAIL, "too many redirects", started)
        except httpx.HTTPError as exc:
            return single(cfg, Status.FAIL, f"request failed: {describe(exc)}", started)
        latency = time.perf_counter() - started
        return self._judge(response, bytes(body), latency, started)

    def _judge(
        self, response: httpx.Response, body: bytes, latency: float, started: float
    ) -> ProbeResult:
        cfg = self.config
        f = Findings()
        code = response.status_code
        reason = f"{code} {response.reason_phrase}".strip()
        if cfg.expect_status is None:
            good = 200 <= code <= 399
            expected = "200–399"
        else:
            good = code in cfg.expect_status
            expected = ", ".join(str(s) for s in cfg.expect_status)
        if good:
            f.ok(f"status {reason}")
        else:
            f.fail(f"status {reason} (expected {expected})")
        if len(response.history) > 0:
            f.info(f"followed {len(response.history)} redirect(s)")
        elif 300 <= code <= 399 and not cfg.follow_redirects:
            f.info(f"redirect to {response.headers.get('location', '?')} not followed")
        if latency >= cfg.warn_latency:
            f.warn(f"latency {fmt_ms(latency)} ≥ {fmt_ms(cfg.warn_latency)}")
        else:
            f.ok(f"latency {fmt_ms(latency)}")
        if cfg.body_contains is not None:
            text = body.decode(response.encoding or "utf-8", "replace")
            if cfg.body_contains in text:
                f.ok(f"body contains {cfg.body_contains!r}")
            else:
                f.fail(f"body does not contain {cfg.body_contains!r}")
        if cfg.json_path is not None:
            self._json(f, body)
        return f.result(cfg, f"{reason} in {fmt_ms(latency)}", started)

    def _json(self, f: Findings, body: bytes) -> None:
        cfg = self.config
        path = cfg.json_path or ""
        try:
            doc = json.loads(body)
        except ValueError:
            f.fail(f"body is not JSON (needed for json_path {path})")
            return
        value = json_lookup(doc, path)
        if value is _MISSING:
            f.fail(f"JSON path {path} not found")
        elif cfg.json_equals is not None and value != cfg.json_equals:
            f.fail(f"JSON {path} = {_short(value)} (expected {_short(cfg.json_equals)})")
        else:
            f.ok(f"JSON {path} = {_short(value)}")


def json_lookup(doc: object, path: str) -> object:
    """Follows a dotted path (``data.items.0.id``; leading ``$.`` allowed) or returns a
    sentinel when a step is missing."""
    node = doc
    for step in path.removeprefix("$").strip(".").split("."):
        if step == "":
            continue
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif (
            isinstance(node, list)
            and step.lstrip("-").isdigit()
            and -len(node) <= int(step) < len(node)
        ):
            node = node[int(step)]
        else:
            return _MISSING
    return node


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


KIND = Kind(HttpProbeConfig, lambda cfg, client: HttpProbe(cfg, client if cfg.verify else None))
