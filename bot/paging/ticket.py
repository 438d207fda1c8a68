"""Tickets as GitHub issues (SEV4 "create a ticket").

trigger: open one issue per incident, labelled with the configured labels plus a dedup
label `incidentbot:INC-7`. Creating an issue is not idempotent, so the pager first lists
issues carrying that label (`GET /repos/{repo}/issues?labels=…&state=all`, which is
consistent, unlike search) and creates one only when there is none; in-line retries of the
create itself are limited to failures that prove nothing was created (see `HttpSender`).
acknowledge: nothing (an issue has no such state).
resolve: comment with the resolution summary and close the issue as completed.

Private incidents get an issue without title or details: repositories are often readable
by more people than the private incident channel.

API: `Authorization: Bearer <token>`, `Accept: application/vnd.github+json`,
`X-GitHub-Api-Version: 2022-11-28`. The token needs Issues read/write on the repository
(and push access for the labels to stick).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import structlog

from bot.core.messages import Notice
from bot.core.model import Incident
from bot.errors import DeliveryError
from bot.paging.event import PageAction, page_action, plain_text, truncate
from bot.paging.retry import HttpSender, RetryPolicy, Sleep

log = structlog.get_logger(__name__)

DEFAULT_API_URL = "https://api.github.com"
DEDUP_LABEL_PREFIX = "incidentbot:"
_TITLE_LIMIT = 256
_BODY_LIMIT = 65000  # GitHub refuses bodies over 65536 characters


class GitHubIssuePager:
    """Opens and closes one GitHub issue per incident; raises DeliveryError on failure."""

    def __init__(
        self,
        name: str,
        *,
        client: httpx.AsyncClient,
        repo: str,
        token: str,
        api_url: str = DEFAULT_API_URL,
        labels: Sequence[str] = ("incident",),
        assignees: Sequence[str] = (),
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        owner, _, repository = repo.partition("/")
        if not owner or not repository or "/" in repository:
            raise ValueError(f"repo must be 'owner/name', got {repo!r}")
        self.name = name
        self._issues = f"{api_url.rstrip('/')}/repos/{owner}/{repository}/issues"
        self._labels = list(labels)
        self._assignees = list(assignees)
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "incidentbot",
        }
        self._sender = HttpSender(
            client,
            service=f"GitHub ticket pager {name!r}",
            secrets=[token],
            policy=policy,
            sleep=sleep,
        )

    @staticmethod
    def dedup_label(incident: Incident) -> str:
        return DEDUP_LABEL_PREFIX + incident.key

    def issue(self, notice: Notice, incident: Incident) -> dict[str, Any]:
        """The create-issue body."""
        if incident.private:
            title = f"[{incident.severity.value}] {incident.key}: private incident"
            body = (
                f"{incident.key} is a private incident; its details are in the private "
                "incident channel.\n\n_Opened by incidentbot._"
            )
        else:
            title = f"[{incident.severity.value}] {incident.key}: {incident.title}"
            lines = [
                f"**Incident:** {incident.key}",
                f"**Severity:** {incident.severity.value}",
                f"**Status:** {incident.status.value}",
                f"**Declared:** {incident.declared_at.isoformat()} by {incident.declared_by.label}",
            ]
            if incident.commander:
                lines.append(f"**Commander:** {incident.commander.label}")
            if incident.tags:
                lines.append(f"**Tags:** {', '.join(incident.tags)}")
            if incident.description:
                lines += ["", incident.description]
            text = plain_text(notice.message)
            if text:
                lines += ["", "```", text.replace("```", "'''"), "```"]
            lines += ["", "_Opened by incidentbot._"]
            body = "\n".join(lines)
        doc: dict[str, Any] = {
            "title": truncate(title, _TITLE_LIMIT),
            "body": truncate(body, _BODY_LIMIT),
            "labels": [*self._labels, self.dedup_label(incident)],
        }
        if self._assignees:
            doc["assignees"] = self._assignees
        return doc

    async def find(self, incident: Incident) -> dict[str, Any] | None:
        """The incident's issue (open or closed), or None."""
        response = await self._sender.request(
            "GET",
            self._issues,
            params={"labels": self.dedup_label(incident), "state": "all", "per_page": "10"},
            headers=self._headers,
        )
        found = response.json()
        if not isinstance(found, list):
            raise DeliveryError(f"{self._sender.service}: unexpected answer listing issues")
        # The issues endpoint lists pull requests too.
        issues = [i for i in found if isinstance(i, dict) and "pull_request" not in i]
        return min(issues, key=lambda i: int(i.get("number", 0))) if issues else None

    async def page(self, notice: Notice, incident: Incident) -> None:
        """Opens (trigger) or closes (resolve) the incident's issue; raises DeliveryError."""
        action = page_action(notice)
        if action is PageAction.ACKNOWLEDGE:
            return
        existing = await self.find(incident)
        if action is PageAction.TRIGGER:
            if existing is not None:
                log.info("ticket_exists", pager=self.name, incident=incident.key)
                return
            await self._sender.request(
                "POST",
                self._issues,
                json_body=self.issue(notice, incident),
                headers=self._headers,
                idempotent=False,
            )
            return
        if existing is None or existing.get("state") == "closed":
            return
        number = int(existing["number"])
        summary = "" if incident.private else incident.summary
        comment = f"Resolved: {summary}" if summary else "Resolved."
        await self._sender.request(
            "POST",
            f"{self._issues}/{number}/comments",
            json_body={"body": truncate(comment, _BODY_LIMIT)},
            headers=self._headers,
            idempotent=False,
        )
        await self._sender.request(
            "PATCH",
            f"{self._issues}/{number}",
            json_body={"state": "closed", "state_reason": "completed"},
            headers=self._headers,
        )
