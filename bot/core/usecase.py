"""The service's dispatch table entries: what runs a command, and who may.

`IncidentService` maps each command type to a `Direct` (commands that need no incident:
help, list, declare) or a `UseCase` (commands on one incident).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.core.actions import Mutation
from bot.core.messages import Reply
from bot.core.model import Actor, Incident
from bot.core.visibility import Viewer

# A command that needs no incident: (command, viewer, request key) -> the answer.
Direct = Callable[[Any, Viewer, str | None], Awaitable[Reply]]


def anyone(cmd: Any, inc: Incident) -> bool:
    """Who may: anyone who may see the incident (no responders-only check)."""
    return False


def responders(cmd: Any, inc: Incident) -> bool:
    """Who may: only the incident's responders (the default)."""
    return True


@dataclass(frozen=True, slots=True)
class UseCase:
    """How the service runs one command type on an incident. `run(cmd, inc, actor, key)`
    answers directly (a Reply) or returns the Mutation to commit; `responders_only(cmd,
    inc)` says whether only the incident's responders may make it; `after_resolve` lets
    the command find the channel's latest resolved incident when none is open."""

    run: Callable[[Any, Incident, Actor, str | None], Awaitable[Mutation | Reply]]
    responders_only: Callable[[Any, Incident], bool] = responders
    after_resolve: bool = False


def pure(
    make: Callable[[Any, Actor], Mutation],
) -> Callable[[Any, Incident, Actor, str | None], Awaitable[Mutation]]:
    """A use case that needs nothing from the store: `make(cmd, actor)`."""

    async def run(cmd: Any, inc: Incident, actor: Actor, key: str | None) -> Mutation:
        return make(cmd, actor)

    return run
