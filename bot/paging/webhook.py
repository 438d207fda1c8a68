"""A generic JSON webhook, signed with HMAC-SHA256.

Each request is a `POST` of a JSON object (see `WebhookPager.body`) with the headers

    X-Incidentbot-Timestamp: <unix seconds>
    X-Incidentbot-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
    X-Incidentbot-Event:     trigger | acknowledge | resolve
    X-Incidentbot-Delivery:  <incident key>:<action>:<notice id>   (same on every retry)

A receiver recomputes the HMAC over the raw body bytes, compares in constant time, and
rejects timestamps far from its own clock (replays): `verify_signature` does exactly that.
The signature is recomputed with a fresh timestamp on every attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bot.core.messages import Notice
from bot.core.model import Incident
from bot.paging.event import contact_group, page_action, plain_text
from bot.paging.retry import HttpSender, RetryPolicy, Sleep

SIGNATURE_HEADER = "X-Incidentbot-Signature"
TIMESTAMP_HEADER = "X-Incidentbot-Timestamp"
EVENT_HEADER = "X-Incidentbot-Event"
DELIVERY_HEADER = "X-Incidentbot-Delivery"
BODY_VERSION = 1


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` over `<timestamp>.<body>`."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: datetime,
    tolerance: timedelta = timedelta(minutes=5),
) -> bool:
    """True when `signature` is ours for this body and `timestamp` is within `tolerance`."""
    try:
        sent = datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, OverflowError, OSError):
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookPager:
    """POSTs signed JSON events to one URL; raises DeliveryError on failure.

    The URL is treated as a secret too (many webhook URLs carry a token in the path):
    errors and logs name only its host.
    """

    def __init__(
        self,
        name: str,
        *,
        client: httpx.AsyncClient,
        url: str,
        secret: str,
        headers: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self._url = url
        self._secret = secret.encode()
        self._headers = dict(headers or {})
        self._now = now
        parsed = httpx.URL(url)
        url_secrets = [url]
        if len(parsed.raw_path) > 1:
            url_secrets.append(parsed.raw_path.decode("ascii", "replace"))
        self._sender = HttpSender(
            client,
            service=f"webhook pager {name!r}",
            secrets=[secret, *url_secrets, *self._headers.values()],
            policy=policy,
            sleep=sleep,
            now=now,
        )

    def body(self, notice: Notice, incident: Incident) -> dict[str, Any]:
        """The JSON document sent (`version` 1)."""
        action = page_action(notice)
        return {
            "version": BODY_VERSION,
            "action": action.value,
            "dedup_key": incident.key,
            "contacts": contact_group(notice),
            "incident": {
                "key": incident.key,
                "number": incident.number,
                "title": incident.title,
                "severity": incident.severity.value,
                "status": incident.status.value,
                "private": incident.private,
                "tags": list(incident.tags),
                "description": incident.description,
                "commander": incident.commander.id if incident.commander else None,
                "declared_by": incident.declared_by.id,
                "declared_at": incident.declared_at.isoformat(),
                "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
                "summary": incident.summary,
            },
            "message": {"title": notice.message.title, "text": plain_text(notice.message)},
        }

    async def page(self, notice: Notice, incident: Incident) -> None:
        """Posts the signed event; raises DeliveryError on failure."""
        doc = self.body(notice, incident)
        raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            EVENT_HEADER: doc["action"],
            DELIVERY_HEADER: f"{incident.key}:{doc['action']}:{notice.id}",
        }

        def signature() -> dict[str, str]:
            ts = str(int(self._now().timestamp()))
            return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(self._secret, ts, raw)}

        await self._sender.request("POST", self._url, content=raw, headers=headers, sign=signature)
