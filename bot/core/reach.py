"""Who an incident has reached: the contact groups told in chat and paged so far, and
whether a severity would reach anyone at all. Pure functions of the policy (and of the
incident's timeline), so a severity raise can tell exactly the people not yet told.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.core.model import Severity, TimelineEntry
from bot.core.policy import Policy

_SEV = re.compile(r"\bSEV[1-9]\b")
_ESCALATED_TO = re.compile(r"^to ([^\s:(]+)")

NOBODY = "nobody was notified: configure contacts"


@dataclass(frozen=True, slots=True)
class Reached:
    """Contact groups an incident has told in chat (`told`) and paged (`paged`)."""

    told: frozenset[str] = frozenset()
    paged: frozenset[str] = frozenset()


def reached(policy: Policy, entries: Iterable[TimelineEntry], current: Severity) -> Reached:
    """What the declaration, every severity held since and every escalation have reached.

    Read from the timeline the mutations write (`declared` "SEV3 title", `severity`
    "SEV3 → SEV1", `escalated` "to group: reason"); `current` counts as held even when the
    timeline is not at hand."""
    held = {current}
    escalated: set[str] = set()
    for e in entries:
        if e.kind == "declared":
            words = e.text.split(None, 1)
            if words and words[0] in Severity.__members__:
                held.add(Severity(words[0]))
        elif e.kind == "severity":
            held |= {Severity(m) for m in _SEV.findall(e.text) if m in Severity.__members__}
        elif e.kind == "escalated" and (m := _ESCALATED_TO.match(e.text)):
            escalated.add(m.group(1))
    told, paged = set(escalated), set(escalated)
    for sev in held:
        if sev in policy.severities:
            p = policy.of(sev)
            told |= set(p.page) | set(p.notify)
            paged |= set(p.page)
    return Reached(frozenset(told), frozenset(paged))


@dataclass(frozen=True, slots=True)
class Raise:
    """What raising the severity adds: groups to mention and groups to page."""

    mention: tuple[str, ...]
    page: tuple[str, ...]


def on_raise(policy: Policy, before: Reached, severity: Severity) -> Raise:
    """The groups `severity` calls for that `before` has not reached: those never told are
    mentioned; those never paged are paged (and mentioned, as a page in chat is)."""
    p = policy.of(severity)
    page = tuple(g for g in p.page if g not in before.paged)
    mention = tuple(
        dict.fromkeys(g for g in (*p.page, *p.notify) if g not in before.told or g in page)
    )
    return Raise(mention, page)


def reaches_anyone(policy: Policy, severity: Severity) -> bool:
    """True when declaring `severity` notifies somebody: a configured contact of its page or
    notify groups, or one of its pagers."""
    p = policy.of(severity)
    return bool(policy.resolve_contacts(tuple(p.page) + tuple(p.notify)) or p.pagers)


def nobody_note(policy: Policy, severity: Severity, groups: Sequence[str]) -> str:
    """The line an announcement carries when it reached nobody, naming what to configure."""
    named = ", ".join(f"contacts.{g}" for g in groups) or f"severities.{severity.value}.page"
    return (
        f"⚠️ {NOBODY} ({named} empty, severities.{severity.value}.pagers not set);"
        " page someone by hand."
    )


def unreached_warnings(policy: Policy) -> list[str]:
    """One `check-config` warning per severity whose declaration would notify nobody."""
    out = []
    for sev, p in sorted(policy.severities.items(), key=lambda kv: kv[0].rank):
        if reaches_anyone(policy, sev):
            continue
        groups = tuple(dict.fromkeys((*p.page, *p.notify)))
        if groups:
            named = ", ".join(f"contacts.{g}" for g in groups)
            why = f"{named} {'is' if len(groups) == 1 else 'are'} empty"
        else:
            why = f"severities.{sev.value}.page and .notify name no contact group"
        out.append(
            f"{sev.value}: declaring it notifies nobody: {why} and"
            f" severities.{sev.value}.pagers is not set"
        )
    return out
