"""Finding the incident a command is about, and listing incidents, as a viewer may see them.

Every path that shows an incident goes through `Finder.target` or `may_see`: private
incidents a viewer may not see are only ever counted, never named.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.messages import Message
from bot.core.model import Incident, Severity
from bot.core.policy import Policy
from bot.core.ports import IncidentStore
from bot.core.views import LIST_PAGE, Views
from bot.core.visibility import Viewer, may_see, private_refusal
from bot.errors import UserError


class Finder:
    """Looks incidents up in `store` for one policy."""

    def __init__(self, store: IncidentStore, policy: Policy, views: Views) -> None:
        self.store = store
        self.policy = policy
        self.views = views

    async def get(self, number: int) -> Incident:
        inc = await self.store.get(number)
        if inc is None:
            raise UserError(f"INC-{number} does not exist. Try /incident list.")
        return inc

    def visible(self, inc: Incident, viewer: Viewer) -> Incident:
        """`inc`, or a refusal naming no content when `viewer` may not see it."""
        if not may_see(self.policy, inc, viewer):
            raise UserError(private_refusal(inc))
        return inc

    async def target(
        self, number: int | None, viewer: Viewer, after_resolve: bool = False
    ) -> Incident:
        """The named incident, else the one whose thread this is, else the only open one
        in this channel (for `after_resolve` commands, else the latest resolved one there);
        otherwise asks which, listing candidates. Only incidents `viewer` may see are
        picked or listed; private ones they may not see are only counted."""
        where = viewer.where
        if number is not None:
            return self.visible(await self.get(number), viewer)
        if where.thread is not None:
            inc = await self.store.find_by_thread(where.platform, where.thread)
            if inc is not None:
                return self.visible(inc, viewer)

        def here(incidents: list[Incident]) -> list[Incident]:
            return [
                i for i in incidents if i.platform == where.platform and where.channel in _places(i)
            ]

        open_ = await self.store.list_incidents(open_only=True, limit=200)
        seen = [i for i in open_ if may_see(self.policy, i, viewer)]
        hidden = len(open_) - len(seen)
        if len(mine := here(seen)) == 1:
            return mine[0]
        if not mine and after_resolve:
            recent = await self.store.list_incidents(open_only=False, limit=20)
            if latest := here([i for i in recent if may_see(self.policy, i, viewer)]):
                return latest[0]
        candidates = mine or seen
        also = f" ({_private_count(hidden)} not shown)" if hidden else ""
        if not candidates:
            raise UserError(f"There is no open incident here{also}. Name one with INC-n.")
        listed = ", ".join(f"{i.key} ({i.severity.value}: {i.title[:40]})" for i in candidates[:10])
        raise UserError(f"Which incident? Add its id, one of: {listed}{also}.")

    async def listing(
        self, viewer: Viewer, severity: Severity | None, page: int, now: datetime
    ) -> Message:
        """One page of open incidents, newest first; private ones `viewer` may not see are
        counted, never shown."""
        total = await self.store.count_incidents(severity=severity)
        pages = max(1, -(-total // LIST_PAGE))
        if page > pages:
            what = f"{severity.value} " if severity else ""
            raise UserError(
                f"There is no page {page}: the {total} open {what}incident(s) fill {pages}."
            )
        private = await self.store.count_incidents(severity=severity, private=True)
        rows = await self.store.list_incidents(
            limit=LIST_PAGE, offset=(page - 1) * LIST_PAGE, severity=severity
        )
        shown = [i for i in rows if may_see(self.policy, i, viewer)]
        return self.views.listing(
            shown,
            now,
            total=total,
            private=private,
            hidden=len(rows) - len(shown),
            page=page,
            pages=pages,
            severity=severity,
        )


def _private_count(n: int) -> str:
    return f"{n} private incident{'s' if n != 1 else ''}"


def _places(inc: Incident) -> set[str]:
    """Channels an incident lives in: where it was declared and where its thread is."""
    return {r.channel for r in (inc.thread, inc.origin) if r is not None}
