"""The `/incident` application-command group: SPEC §2 as native subcommands with typed
options, each mapped onto the core's Command dataclasses.

Each subcommand callback only translates options into a Command (raising `UserError` for a
value it cannot use, e.g. `INC-x`) and hands it to the runner, which owns idempotency,
deferral and the error boundary. Severity, status and role are choice lists; incident ids
autocomplete from the open incidents; people are member options.

(No `from __future__ import annotations` here: discord.py reads the callbacks' annotations
at definition time to build the option schema.)
"""

from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, Literal, Protocol

import discord
from discord import app_commands

from bot.core import commands as c
from bot.core.lexing import parse_incident
from bot.core.model import Actor, Role, Severity, Status
from bot.core.policy import parse_duration
from bot.errors import UserError

Build = Callable[[], c.Command]
StatusWord = Literal["investigating", "identified", "mitigating", "monitoring"]
RoleWord = Literal["scribe", "comms"]
INCIDENT_HELP = "INC-n; default: this thread's incident, else the only open one here"


class Runner(Protocol):
    """What the command group needs from the adapter."""

    async def run(self, interaction: discord.Interaction, build: Build) -> None:
        """Builds the command (a `UserError` becomes an ephemeral error) and handles it."""
        ...

    async def complete_incident(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]: ...


def incident_number(value: str | None) -> int | None:
    """`INC-3`, `inc3`, `#3` or `3` -> 3; None/empty -> None; anything else a UserError."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    number = parse_incident(text)
    if number is None and text.isdigit() and len(text) <= 9:
        number = int(text)
    if number is None:
        raise UserError(f"Expected an incident id like INC-3, got {text[:40]!r}.")
    return number


def member_actor(user: discord.Member | discord.User | None) -> Actor | None:
    if user is None:
        return None
    return Actor(str(user.id), user.display_name)


def snooze_for(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UserError(f"Snooze for how long? {exc}.") from None


def status_of(value: str) -> Status:
    """Discord enforces the choice list, but a stale client or a crafted request may not."""
    try:
        return Status(value)
    except ValueError:
        raise UserError(
            f"{value[:40]!r} is not a status; expected investigating, identified, mitigating"
            " or monitoring."
        ) from None


def role_of(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise UserError(f"{value[:40]!r} is not a role; expected scribe or comms.") from None


def words(text: str) -> tuple[str, ...]:
    return tuple(w for w in text.replace(",", " ").split() if w)


def build_group(runner: Runner) -> app_commands.Group:
    """The `/incident` group bound to `runner`."""
    group = app_commands.Group(name="incident", description="Declare and run incidents")
    complete = runner.complete_incident

    def go(build: Build) -> Callable[[discord.Interaction], Coroutine[Any, Any, None]]:
        async def call(interaction: discord.Interaction) -> None:
            await runner.run(interaction, build)

        return call

    @group.command(name="declare", description="Open an incident, announce it, open its thread")
    @app_commands.describe(
        title="What is broken, in a few words",
        severity="SEV1 (outage) … SEV4 (minor); default SEV3",
        private="Keep it out of public channels (security)",
        description="Impact: who is affected and how",
        tags="Space-separated tags, e.g. security data-loss",
    )
    async def declare(
        interaction: discord.Interaction,
        title: app_commands.Range[str, 1, 200],
        severity: Severity | None = None,
        private: bool = False,
        description: app_commands.Range[str, 0, 1000] = "",
        tags: str = "",
    ) -> None:
        await go(lambda: c.Declare(title.strip(), severity, private, description, words(tags)))(
            interaction
        )

    @group.command(name="sev", description="Change the severity")
    @app_commands.describe(severity="New severity", incident=INCIDENT_HELP)
    @app_commands.autocomplete(incident=complete)
    async def sev(
        interaction: discord.Interaction, severity: Severity, incident: str | None = None
    ) -> None:
        await go(lambda: c.SetSeverity(incident_number(incident), severity))(interaction)

    @group.command(name="ic", description="Designate the incident commander")
    @app_commands.describe(user="The new IC (default: you)", incident=INCIDENT_HELP)
    @app_commands.autocomplete(incident=complete)
    async def ic(
        interaction: discord.Interaction,
        user: discord.Member | None = None,
        incident: str | None = None,
    ) -> None:
        await go(lambda: c.SetCommander(incident_number(incident), member_actor(user)))(interaction)

    @group.command(name="role", description="Assign the scribe or comms role")
    @app_commands.describe(role="scribe or comms", user="Who (default: you)")
    @app_commands.autocomplete(incident=complete)
    async def role(
        interaction: discord.Interaction,
        role: RoleWord,
        user: discord.Member | None = None,
        incident: str | None = None,
    ) -> None:
        await go(
            lambda: c.AssignRole(incident_number(incident), role_of(role), member_actor(user))
        )(interaction)

    @group.command(name="status", description="Move the status")
    @app_commands.describe(status="Where the response stands", note="What changed")
    @app_commands.autocomplete(incident=complete)
    async def status(
        interaction: discord.Interaction,
        status: StatusWord,
        note: str = "",
        incident: str | None = None,
    ) -> None:
        await go(lambda: c.SetStatus(incident_number(incident), status_of(status), note))(
            interaction
        )

    @group.command(name="update", description="Post the IC's update (resets the cadence)")
    @app_commands.describe(findings="Current findings", actions="Actions in progress")
    @app_commands.autocomplete(incident=complete)
    async def update(
        interaction: discord.Interaction,
        findings: app_commands.Range[str, 1, 1500],
        actions: app_commands.Range[str, 0, 1500] = "",
        incident: str | None = None,
    ) -> None:
        await go(lambda: c.PostUpdate(incident_number(incident), findings, actions))(interaction)

    @group.command(name="note", description="Add a timestamped timeline entry")
    @app_commands.autocomplete(incident=complete)
    async def note(
        interaction: discord.Interaction,
        text: app_commands.Range[str, 1, 1500],
        incident: str | None = None,
    ) -> None:
        await go(lambda: c.AddNote(incident_number(incident), text))(interaction)

    @group.command(name="probe", description="Run diagnostic probes; results go to the thread")
    @app_commands.describe(targets="Probe or service names, or all (default)")
    @app_commands.autocomplete(incident=complete)
    async def probe(
        interaction: discord.Interaction, targets: str = "", incident: str | None = None
    ) -> None:
        await go(lambda: c.RunProbes(incident_number(incident), words(targets)))(interaction)

    @group.command(name="impact", description="State who is affected and how")
    @app_commands.describe(text="Who is affected and how (used in status-page drafts)")
    @app_commands.autocomplete(incident=complete)
    async def impact(
        interaction: discord.Interaction,
        text: app_commands.Range[str, 1, 1500],
        incident: str | None = None,
    ) -> None:
        await go(lambda: c.SetImpact(incident_number(incident), text))(interaction)

    @group.command(name="resolve", description="Resolve; stops reminders")
    @app_commands.describe(summary="What was done", cause="The root cause, if known")
    @app_commands.autocomplete(incident=complete)
    async def resolve(
        interaction: discord.Interaction,
        summary: str = "",
        cause: str = "",
        incident: str | None = None,
    ) -> None:
        await go(lambda: c.Resolve(incident_number(incident), summary, cause))(interaction)

    @group.command(name="postmortem", description="Post the post-mortem draft, or attach a link")
    @app_commands.autocomplete(incident=complete)
    async def postmortem(
        interaction: discord.Interaction, link: str = "", incident: str | None = None
    ) -> None:
        await go(lambda: c.Postmortem(incident_number(incident), link))(interaction)

    @group.command(name="snooze", description="Delay the next reminder once")
    @app_commands.describe(duration="30m, 1h, …")
    @app_commands.autocomplete(incident=complete)
    async def snooze(
        interaction: discord.Interaction, duration: str, incident: str | None = None
    ) -> None:
        await go(lambda: c.Snooze(incident_number(incident), snooze_for(duration)))(interaction)

    @group.command(name="timeline", description="Show the timeline")
    @app_commands.autocomplete(incident=complete)
    async def timeline(interaction: discord.Interaction, incident: str | None = None) -> None:
        await go(lambda: c.ShowTimeline(incident_number(incident)))(interaction)

    @group.command(name="list", description="List open incidents, newest first")
    @app_commands.describe(severity="Only this severity", page="Page (20 a page)")
    async def list_(
        interaction: discord.Interaction,
        severity: Severity | None = None,
        page: app_commands.Range[int, 1, 999_999] = 1,
    ) -> None:
        await go(lambda: c.ListIncidents(severity, page))(interaction)

    @group.command(name="help", description="How to use /incident")
    async def help_(interaction: discord.Interaction, topic: str = "") -> None:
        await go(lambda: c.Help(topic))(interaction)

    return group
