"""Slack's outbound side: core Notices posted through the Web API.

`deliver` posts Block Kit (render.py) with a plain-text fallback and raises `DeliveryError`
when Slack cannot take the message, so the core's outbox keeps and retries it (or
`DeliveryRejected` when retrying cannot help). Every message carries its notice in its
metadata, and a retry whose earlier outcome is unknown looks for it before posting again
(dedup.py, SPEC §7). Posts are paced per channel (pacing.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.client import retry_after, slack_error
from bot.adapters.slack.dedup import find_posted, notice_metadata
from bot.adapters.slack.pacing import ChannelPacer
from bot.adapters.slack.render import render
from bot.core.messages import Notice, NoticeKind
from bot.core.model import ChannelRef, Incident
from bot.errors import DeliveryError, DeliveryRejected

log = structlog.get_logger("incidentbot.slack")

PLATFORM = "slack"

# Slack errors that retrying the same message cannot fix (the outbox stops and says so).
_REJECTED = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "msg_too_long",
        "no_text",
        "restricted_action",
    }
)


class SlackDelivery:
    """Posts notices with `client` into `channels` (channel key -> Slack channel id),
    paced by `pacer`."""

    def __init__(
        self, client: AsyncWebClient, channels: Mapping[str, str], pacer: ChannelPacer
    ) -> None:
        self.client = client
        self.channels = channels
        self.pacer = pacer

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        """Posts `notice`; for ANNOUNCE returns the thread (channel, message ts) it opened.

        When an earlier attempt may have posted it (`notice.outcome_unknown`) and that
        message is found, nothing is posted: the found message is the delivery."""
        if notice.kind is NoticeKind.THREAD:
            if incident.thread is None or incident.thread.thread is None:
                raise DeliveryError(f"{incident.key} has no thread yet", retry_after=5)
            where, thread = incident.thread.channel, incident.thread.thread
            # The look-up is a history read (its own rate tier), so only the post is paced.
            if not await self._posted_before(notice, where, thread):
                await self.pacer.send(where, lambda: self._post(notice, where, thread))
            return None
        if notice.kind in (NoticeKind.ANNOUNCE, NoticeKind.POST):
            channel = self.channels.get(notice.channel)
            if not channel:
                raise DeliveryRejected(f"no Slack channel configured for {notice.channel!r}")
            found = await self._posted_before(notice, channel, None)
            if found is not None:
                posted_in, ts = channel, found
            else:
                posted_in, ts = await self.pacer.send(
                    channel, lambda: self._post(notice, channel, None)
                )
                self.pacer.alias(channel, posted_in)  # a configured name paces with its id
            if notice.kind is NoticeKind.ANNOUNCE:
                # Slack answers with the channel id even when configured by name.
                return ChannelRef(PLATFORM, posted_in, ts)
            return None
        raise DeliveryRejected(f"Slack cannot deliver a {notice.kind.value} notice")

    async def _posted_before(self, notice: Notice, channel: str, thread: str | None) -> str | None:
        """The ts of this notice's message if an earlier attempt already posted it."""
        if not notice.outcome_unknown:
            return None
        found = await find_posted(self.client, notice, channel, thread)
        if found is not None:
            log.info(
                "slack.already_posted",
                incident=f"INC-{notice.incident}",
                kind=notice.kind.value,
                claims=notice.claims,
                ts=found,
            )
        return found

    async def _post(self, notice: Notice, channel: str, thread: str | None) -> tuple[str, str]:
        """Posts `notice`'s message tagged with its metadata; returns (channel id, ts)."""
        text, blocks = render(notice.message)
        metadata = notice_metadata(notice)
        try:
            try:
                resp = await self.client.chat_postMessage(
                    channel=channel,
                    text=text,
                    blocks=blocks,
                    thread_ts=thread,
                    unfurl_links=False,
                    metadata=metadata,
                )
            except SlackApiError as exc:
                if slack_error(exc) != "invalid_blocks":
                    raise
                # Slack rejected our layout: the fallback text still carries every word.
                log.warning("slack.invalid_blocks", channel=channel)
                resp = await self.client.chat_postMessage(
                    channel=channel, text=text, thread_ts=thread, metadata=metadata
                )
        except SlackApiError as exc:
            error = slack_error(exc)
            status = exc.response.status_code
            wait = retry_after(exc.response.headers) if status == 429 else None
            msg = f"chat.postMessage to {channel} failed: {error or 'HTTP'} (HTTP {status})"
            if error in _REJECTED:
                raise DeliveryRejected(msg) from None
            raise DeliveryError(msg, retry_after=wait) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"Slack unreachable: {type(exc).__name__}") from None
        return str(resp.get("channel") or channel), str(resp["ts"])
