"""PagerDuty Events API v2 (`POST {url}/v2/enqueue`).

One alert per incident, pager and service: `dedup_key` is `INC-7:<pager>` (see
`event.dedup_key`), so a retried or repeated trigger joins the open alert, and
acknowledge/resolve act on it. A contact group may have its own routing key (its own
PagerDuty service); a trigger for that group goes there with `INC-7:<pager>:<group>`, while
acknowledge and resolve go to every configured routing key with its key, because the bot
does not remember which services an incident reached (a resolve for an unknown dedup key
is a no-op at PagerDuty).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from bot.core.messages import Notice
from bot.core.model import Incident
from bot.paging.event import (
    PAGERDUTY_SEVERITY,
    PageAction,
    contact_group,
    dedup_key,
    incident_details,
    page_action,
    summary_line,
    truncate,
)
from bot.paging.retry import HttpSender, RetryPolicy, Sleep

DEFAULT_URL = "https://events.pagerduty.com"
_SUMMARY_LIMIT = 1024
_DEDUP_LIMIT = 255


class PagerDutyPager:
    """Sends trigger/acknowledge/resolve events; raises DeliveryError on failure."""

    def __init__(
        self,
        name: str,
        *,
        client: httpx.AsyncClient,
        routing_key: str,
        routing_keys: Mapping[str, str] | None = None,
        url: str = DEFAULT_URL,
        source: str = "incidentbot",
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        self._routing_key = routing_key
        self._group_keys = dict(routing_keys or {})
        self._endpoint = url.rstrip("/") + "/v2/enqueue"
        self._source = source
        self._sender = HttpSender(
            client,
            service=f"PagerDuty pager {name!r}",
            secrets=[routing_key, *self._group_keys.values()],
            policy=policy,
            sleep=sleep,
        )

    def _targets(
        self, action: PageAction, group: str | None, incident: Incident
    ) -> list[tuple[str, str]]:
        """(routing key, dedup key) pairs the event goes to."""
        default = (self._routing_key, dedup_key(incident, self.name))
        if action is PageAction.TRIGGER:
            if group in self._group_keys:
                return [(self._group_keys[group], dedup_key(incident, self.name, group))]
            return [default]
        own = [(k, dedup_key(incident, self.name, g)) for g, k in self._group_keys.items()]
        return list(dict.fromkeys([default, *own]))

    def event(
        self,
        routing_key: str,
        action: PageAction,
        notice: Notice,
        incident: Incident,
        key: str | None = None,
    ) -> dict[str, Any]:
        """The Events v2 body (payload only on trigger, as the API requires); `key` is the
        dedup key (default: the pager's own, `INC-7:<pager>`)."""
        body: dict[str, Any] = {
            "routing_key": routing_key,
            "event_action": action.value,
            "dedup_key": truncate(key or dedup_key(incident, self.name), _DEDUP_LIMIT),
        }
        if action is PageAction.TRIGGER:
            body["payload"] = {
                "summary": truncate(summary_line(incident), _SUMMARY_LIMIT),
                "source": self._source,
                "severity": PAGERDUTY_SEVERITY[incident.severity],
                "timestamp": incident.declared_at.isoformat(),
                "class": "incident",
                "custom_details": incident_details(incident, notice),
            }
            body["client"] = "incidentbot"
        return body

    async def page(self, notice: Notice, incident: Incident) -> None:
        """Sends the notice's action for `incident`; raises DeliveryError on failure."""
        action = page_action(notice)
        for routing_key, key in self._targets(action, contact_group(notice), incident):
            body = self.event(routing_key, action, notice, incident, key)
            await self._sender.request("POST", self._endpoint, json_body=body)
