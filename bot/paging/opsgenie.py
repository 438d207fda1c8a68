"""Opsgenie Alert API v2.

trigger: `POST {url}/v2/alerts` with `alias` = `INC-7:<pager>` (`INC-7:<pager>:<group>` for
a contact group with responders of its own; see `event.dedup_key`). Opsgenie de-duplicates
open alerts by alias, so a retry only bumps the alert's count. Acknowledge and resolve:
`POST {url}/v2/alerts/{alias}/acknowledge|close?identifierType=alias`, for each alias. Auth is the
`Authorization: GenieKey <key>` header of an API integration key.

Opsgenie processes alert requests asynchronously: its 202 means "accepted", and a close
for an alias that has no open alert fails only in the request-status log, not here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from bot.core.messages import Notice
from bot.core.model import Incident
from bot.paging.event import (
    OPSGENIE_PRIORITY,
    PageAction,
    contact_group,
    dedup_key,
    incident_details,
    page_action,
    plain_text,
    summary_line,
    truncate,
)
from bot.paging.retry import HttpSender, RetryPolicy, Sleep

DEFAULT_URL = "https://api.opsgenie.com"
_MESSAGE_LIMIT = 130
_ALIAS_LIMIT = 512
_DESCRIPTION_LIMIT = 15000
_NOTE_LIMIT = 25000
_TAG_LIMIT = 20
_DETAIL_VALUE_LIMIT = 8000  # Opsgenie caps the whole details map at 8000 characters


class OpsgeniePager:
    """Creates, acknowledges and closes one Opsgenie alert per incident.

    `responders` maps a contact group to Opsgenie responder objects
    (`{"type": "team", "name": "ops"}`); the trigger for that group names them.
    """

    def __init__(
        self,
        name: str,
        *,
        client: httpx.AsyncClient,
        api_key: str,
        url: str = DEFAULT_URL,
        responders: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
        tags: Sequence[str] = (),
        source: str = "incidentbot",
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        self._base = url.rstrip("/") + "/v2/alerts"
        self._headers = {"Authorization": f"GenieKey {api_key}"}
        self._responders = {g: [dict(r) for r in rs] for g, rs in (responders or {}).items()}
        self._tags = list(tags)
        self._source = source
        self._sender = HttpSender(
            client,
            service=f"Opsgenie pager {name!r}",
            secrets=[api_key],
            policy=policy,
            sleep=sleep,
        )

    def _alias(self, incident: Incident, group: str | None) -> str:
        """`INC-7:<pager>`, or `INC-7:<pager>:<group>` for a group with responders of its own
        (an escalation must notify them, not bump the open alert's count)."""
        return dedup_key(incident, self.name, group if group in self._responders else None)

    def alert(self, notice: Notice, incident: Incident) -> dict[str, Any]:
        """The create-alert body."""
        details = incident_details(incident, notice)
        body: dict[str, Any] = {
            "message": truncate(summary_line(incident), _MESSAGE_LIMIT),
            "alias": truncate(self._alias(incident, contact_group(notice)), _ALIAS_LIMIT),
            "description": truncate(
                plain_text(notice.message) or incident.title, _DESCRIPTION_LIMIT
            ),
            "tags": list(
                dict.fromkeys(["incidentbot", incident.severity.value, *self._tags, *incident.tags])
            )[:_TAG_LIMIT],
            "details": _fit_details(details),
            "entity": incident.key,
            "source": self._source,
            "priority": OPSGENIE_PRIORITY[incident.severity],
        }
        responders = self._responders.get(contact_group(notice) or "")
        if responders:
            body["responders"] = responders
        return body

    async def page(self, notice: Notice, incident: Incident) -> None:
        """Sends the notice's action for `incident`; raises DeliveryError on failure."""
        action = page_action(notice)
        if action is PageAction.TRIGGER:
            await self._sender.request(
                "POST", self._base, json_body=self.alert(notice, incident), headers=self._headers
            )
            return
        verb = "acknowledge" if action is PageAction.ACKNOWLEDGE else "close"
        note = incident.summary if action is PageAction.RESOLVE and incident.summary else ""
        body: dict[str, str] = {"source": self._source}
        if note or plain_text(notice.message):
            body["note"] = truncate(note or plain_text(notice.message), _NOTE_LIMIT)
        # Every alert the incident may have opened here: the bot does not remember which
        # groups were paged, and closing an alias with no open alert is a no-op (202).
        for group in [None, *self._responders]:
            alias = quote(truncate(self._alias(incident, group), _ALIAS_LIMIT), safe="")
            await self._sender.request(
                "POST",
                f"{self._base}/{alias}/{verb}",
                params={"identifierType": "alias"},
                json_body=body,
                headers=self._headers,
            )


def _fit_details(details: Mapping[str, str]) -> dict[str, str]:
    # Keep the whole map under Opsgenie's size cap; the long free-text fields go last.
    out: dict[str, str] = {}
    budget = _DETAIL_VALUE_LIMIT
    for key, value in details.items():
        room = budget - len(key)
        if room <= 1:
            break
        out[key] = truncate(value, room)
        budget -= len(key) + len(out[key])
    return out
