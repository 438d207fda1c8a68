"""Effectively-once posting on Slack (SPEC §7): tag every bot message with its notice, and
before re-posting a notice whose earlier attempt may have gone through, look for it.

Every `chat.postMessage` carries message metadata
`{"event_type": "incidentbot_notice", "event_payload": {"notice": <id>, "incident": <n>}}`.
A notice whose outcome is unknown (`Notice.outcome_unknown`: claimed before, by this or a
replica that died, or failed after the request may have been sent) is first looked up in
the thread (`conversations.replies`) or channel (`conversations.history`) with
`include_all_metadata=true`, from a little before its first claim onwards — nothing can
have been posted for it earlier. Found: it is delivered, and the found message's ts is the
announcement's thread. Not found: it is posted.

The lookup reads at most `MAX_PAGES` pages of `PAGE_SIZE` messages. Where the bot may not
read the conversation (a missing `channels:history`/`groups:history` scope, a channel it is
not in, a channel configured by name instead of id) it says so in the log and posts: a
duplicate is better than a lost page. Any other failure of the lookup (rate limit, Slack
down) fails the delivery, so the outbox retries rather than posting blind.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.client import retry_after, slack_error
from bot.core.messages import Notice
from bot.errors import DeliveryError

log = structlog.get_logger("incidentbot.slack")

EVENT_TYPE = "incidentbot_notice"
# The bot's clock (first claim) and Slack's (message ts) may disagree by this much.
CLOCK_SKEW = timedelta(minutes=5)
PAGE_SIZE = 200  # Slack recommends at most 200 per page
MAX_PAGES = 10

# Errors meaning "this conversation cannot be read by the bot": post instead of waiting.
_UNREADABLE = frozenset(
    {
        "missing_scope",
        "not_in_channel",
        "channel_not_found",
        "thread_not_found",
        "not_allowed_token_type",
        "access_denied",
    }
)


def notice_metadata(notice: Notice) -> dict[str, Any]:
    """The message metadata that ties a Slack message to its notice."""
    return {
        "event_type": EVENT_TYPE,
        "event_payload": {"notice": notice.id, "incident": notice.incident},
    }


def is_notice(message: dict[str, Any], notice: Notice) -> bool:
    """Whether a message returned with `include_all_metadata` was posted for `notice`."""
    meta = message.get("metadata")
    if not isinstance(meta, dict) or meta.get("event_type") != EVENT_TYPE:
        return False
    payload = meta.get("event_payload")
    if not isinstance(payload, dict):
        return False
    return str(payload.get("notice")) == str(notice.id) and str(payload.get("incident")) == str(
        notice.incident
    )


async def find_posted(
    client: AsyncWebClient, notice: Notice, channel: str, thread: str | None
) -> str | None:
    """The ts of the message already posted for `notice` in `channel` (in `thread` when
    given), or None when there is none (or the bot cannot tell: see the module docstring).

    Raises `DeliveryError` when Slack could not answer (the outbox retries later)."""
    params: dict[str, Any] = {"channel": channel, "include_all_metadata": True, "limit": PAGE_SIZE}
    if notice.first_claimed_at is not None:
        params["oldest"] = f"{(notice.first_claimed_at - CLOCK_SKEW).timestamp():.6f}"
    cursor: str | None = None
    try:
        for _ in range(MAX_PAGES):
            if thread is not None:
                resp = await client.conversations_replies(ts=thread, cursor=cursor, **params)
            else:
                resp = await client.conversations_history(cursor=cursor, **params)
            for message in resp.get("messages") or []:
                if isinstance(message, dict) and is_notice(message, notice):
                    return str(message["ts"])
            meta = resp.get("response_metadata") or {}
            cursor = str(meta.get("next_cursor") or "") if isinstance(meta, dict) else ""
            if not resp.get("has_more") or not cursor:
                return None
    except SlackApiError as exc:
        error = slack_error(exc)
        status = exc.response.status_code
        if error in _UNREADABLE:
            log.warning(
                "slack.lookup_unavailable",
                incident=f"INC-{notice.incident}",
                channel=channel,
                error=error,
                effect="posting without checking for an earlier copy",
            )
            return None
        wait = retry_after(exc.response.headers) if status == 429 else None
        raise DeliveryError(
            f"looking for an earlier copy in {channel} failed: {error or 'HTTP'} (HTTP {status})",
            retry_after=wait,
        ) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(f"Slack unreachable: {type(exc).__name__}") from None
    log.warning(
        "slack.lookup_truncated",
        incident=f"INC-{notice.incident}",
        channel=channel,
        pages=MAX_PAGES,
        effect="posting without checking older messages",
    )
    return None
