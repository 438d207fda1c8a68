"""A Notifier that records what it delivers (a real class, not a mock), with injectable failures."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.messages import Notice, NoticeKind
from bot.core.model import ChannelRef, Incident
from bot.errors import DeliveryError


@dataclass
class Delivered:
    incident: str
    kind: NoticeKind
    channel: str
    text: str


@dataclass
class RecordingNotifier:
    platform: str = "test"
    delivered: list[Delivered] = field(default_factory=list)
    fail_next: int = 0  # this many deliveries raise DeliveryError first
    retry_after: float | None = None

    async def deliver(self, notice: Notice, incident: Incident) -> ChannelRef | None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise DeliveryError("platform said 503", retry_after=self.retry_after)
        self.delivered.append(
            Delivered(incident.key, notice.kind, notice.channel, notice.message.text())
        )
        if notice.kind is NoticeKind.ANNOUNCE:
            return ChannelRef(self.platform, notice.channel, f"thread-{incident.key}")
        return None

    def texts(self, kind: NoticeKind | None = None) -> list[str]:
        return [d.text for d in self.delivered if kind is None or d.kind is kind]

    def count(self, needle: str) -> int:
        return sum(needle in d.text for d in self.delivered)
