"""Discord's outbound side: core Notices posted through discord.py's REST client.

ANNOUNCE posts the rendered message in the channel its key names and opens a thread from
it; POST posts in a channel; THREAD posts in the incident's thread. Every failure becomes
`DeliveryError` (with `retry_after` when Discord rate-limited us for longer than
discord.py's own wait), so the core's outbox keeps the notice and retries it. A retried
ANNOUNCE whose message went out but whose thread did not reuses that message.

Effectively once (SPEC §7): every message is created with `nonce` = `notice_nonce(notice)`
and `enforce_nonce: true` (discord.py sends `enforce_nonce` with any nonce), so a repeat
of a create Discord already carried out — discord.py's own retry after a dropped
connection, or the outbox's after a crash, a lost lease or a timeout — returns the original
message instead of posting it again. Discord keeps nonces for a few minutes only: a retry
later than that (a long outage with backoff) can still post a second copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import aiohttp
import discord

from bot.adapters.discord import render as dr
from bot.core.messages import Notice, NoticeKind
from bot.core.model import ChannelRef, Incident
from bot.errors import DeliveryError

PLATFORM = "discord"
THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080  # a week: incidents outlive the 1-day default


def notice_nonce(notice: Notice) -> str:
    """The message nonce for `notice`: unique per notice, at most 25 characters."""
    return f"notice-{notice.id}"  # ids are below 10**18


class DiscordDelivery:
    """Posts notices with `client` (logged in); `channels` maps keys to channel ids."""

    def __init__(self, client: discord.Client, channels: Mapping[str, str]) -> None:
        self.client = client
        self.channels = dict(channels)
        self._announced: dict[int, int] = {}  # notice id -> message id (retry reuses it)

    def _channel_id(self, key: str) -> int:
        try:
            return int(self.channels[key])
        except (KeyError, ValueError):
            raise DeliveryError(f"no Discord channel configured for {key!r}") from None

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        """Posts `notice`; for ANNOUNCE returns (channel, thread opened from the message).
        Raises DeliveryError on any failure (the outbox retries)."""
        if self.client.is_closed() or self.client.user is None:
            raise DeliveryError("the Discord client is not logged in")
        try:
            if notice.kind is NoticeKind.ANNOUNCE:
                return await self._announce(notice, incident)
            if notice.kind is NoticeKind.POST:
                await self._send(self._channel_id(notice.channel), notice)
                return None
            if notice.kind is NoticeKind.THREAD:
                ref = incident.thread
                if ref is None:
                    raise DeliveryError(f"{incident.key} has no thread yet")
                await self._send(int(ref.thread or ref.channel), notice)
                return None
            raise DeliveryError(f"Discord does not deliver {notice.kind.value} notices")
        except discord.RateLimited as exc:
            raise DeliveryError("Discord rate limit", retry_after=exc.retry_after) from None
        except discord.HTTPException as exc:
            raise DeliveryError(
                f"Discord refused the {notice.kind.value} message: HTTP {exc.status}"
                f" (code {exc.code}) {exc.text[:120]}"
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DeliveryError(f"Discord unreachable: {type(exc).__name__}") from None

    async def _announce(self, notice: Notice, incident: Incident) -> ChannelRef:
        channel_id = self._channel_id(notice.channel)
        message_id = self._announced.get(notice.id) if notice.id else None
        if message_id is None:  # a retry after a failed thread creation reuses the message
            message_id = await self._send(channel_id, notice)
            if notice.id:
                self._announced[notice.id] = message_id
        name = dr.clip(f"{incident.key} {incident.title}", 100)
        try:
            data = await self.client.http.start_thread_with_message(
                channel_id, message_id, name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
            thread_id = str(data["id"])
        except discord.HTTPException as exc:
            if exc.code != 160004:  # "a thread has already been created for this message"
                raise
            thread_id = str(message_id)  # Discord gives a message's thread the message's id
        self._announced.pop(notice.id, None)
        return ChannelRef(PLATFORM, str(channel_id), thread_id)

    async def _send(self, channel_id: int, notice: Notice) -> int:
        parts = dr.render(notice.message)
        channel = self.client.get_partial_messageable(channel_id)
        sent = await channel.send(**parts.kwargs(), nonce=notice_nonce(notice))
        if parts.view is not None:
            parts.view.stop()  # presses are decoded from custom ids (survives restarts)
        return int(sent.id)
