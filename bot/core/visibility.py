"""Who may see a private incident (SPEC §7, "private means private"): one pure predicate
that every reply path of the service asks before it shows a title, a timeline or any
other content of an incident.

A private incident is shown only
* in a private place: the `security` channel of its platform, or its own thread (which
  lives in that channel), to whoever is there; and
* to its trusted people, wherever they ask, as long as the answer reaches them alone (an
  ephemeral reply): its IC and role holders, the configured `responders`, the `security`
  contacts, and whoever declared it (they typed the title; hiding it from them protects
  nothing and strands the reporter once the IC changes).

Everyone else may learn that a private incident exists and count it ("1 private
incident"), never its title, timeline, people or text. Contacts that are platform groups
(a Slack user group, a Discord role) are matched by id only: the core cannot see who is in
a group, so a member of one sees private incidents in the security channel or their thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.model import Actor, ChannelRef, Incident
from bot.core.policy import Policy


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who would read an answer: `actor`, asking from `where`. `alone` is True when only the
    actor sees it (an ephemeral reply, a DM, autocomplete), False when the whole channel
    does (e.g. Discord's answer to a mention, posted in the channel)."""

    actor: Actor
    where: ChannelRef
    alone: bool = True


def in_private_place(policy: Policy, inc: Incident, where: ChannelRef) -> bool:
    """True when `where` is the security channel of `inc`'s platform, or `inc`'s thread."""
    if where.platform != inc.platform or not where.channel:
        return False
    if where.channel == policy.security_channel(where.platform):
        return True
    # The thread's channel is where the announcement went: the security channel by its real
    # id (Slack answers with the id even where the configuration names the channel).
    return inc.thread is not None and where.channel == inc.thread.channel


def is_trusted(policy: Policy, inc: Incident, user_id: str) -> bool:
    """True for the people who may see `inc` anywhere (privately): see the module doc."""
    return (
        user_id in inc.responders()
        or user_id in policy.responders
        or user_id in policy.security_contacts()
        or user_id == inc.declared_by.id
    )


def may_see(policy: Policy, inc: Incident, viewer: Viewer) -> bool:
    """May `viewer` be shown `inc`'s title and content? Always True for a public incident."""
    if not inc.private or in_private_place(policy, inc, viewer.where):
        return True
    return viewer.alone and is_trusted(policy, inc, viewer.actor.id)


def private_refusal(inc: Incident) -> str:
    """The one-line refusal for a private incident someone may not see (names no content)."""
    return (
        f"{inc.key} is a private incident: it is shown only in the security channel, in its"
        " own thread, and privately to its responders and the security contacts."
    )
