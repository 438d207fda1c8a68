"""IncidentService: one method per use case, platform-neutral.

Every state change is one `IncidentStore.commit` carrying the new incident, its timeline
entries, the notices to deliver (the outbox) and the complete re-computed timer set, so a
crash never leaves a change without its messages or its reminders. Concurrent changes to
one incident are serialised by optimistic concurrency: on `ConflictError` the use case is
re-run against the fresh incident.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import structlog

from bot.core import commands as c
from bot.core import grammar as g
from bot.core.actions import Actions, Mutation, Outcome
from bot.core.finding import Finder
from bot.core.lexing import parse_incident
from bot.core.messages import Modal, ModalKind, Notice, Reply
from bot.core.model import (
    Actor,
    ChannelRef,
    Incident,
    Status,
    TimelineEntry,
)
from bot.core.policy import Policy, parse_duration
from bot.core.ports import Clock, IncidentStore, ProbeRunner
from bot.core.probing import Probing
from bot.core.reactions import Reactions
from bot.core.records import Change, ProbeReport, Timer
from bot.core.templates import Templates
from bot.core.usecase import Direct, UseCase, anyone, pure
from bot.core.views import Views
from bot.core.visibility import Viewer, may_see, private_refusal
from bot.errors import ConflictError, DuplicateRequest, UserError

log = structlog.get_logger("incidentbot.service")

MAX_RETRIES = 8


class IncidentService:
    """Handles commands, button presses, pins and due timers.

    `on_commit` is called after every successful commit (the composition root wires it to
    wake the dispatcher). `on_declare_probes` is what runs when an incident is declared.
    Observers must not raise: `on_command(cmd, reply, seconds)` after each command (`cmd`
    None: unparsable; `reply` None: it raised), `on_probe_run(incident, report|None, seconds)`.
    """

    def __init__(
        self,
        *,
        store: IncidentStore,
        policy: Policy,
        templates: Templates,
        clock: Clock,
        probes: ProbeRunner | None = None,
        on_declare_probes: Sequence[str] = ("all",),
        on_commit: Callable[[], None] = lambda: None,
        on_command: Callable[[c.Command | None, Reply | None, float], None] = lambda *_: None,
        on_probe_run: Callable[[int, ProbeReport | None, float], None] = lambda *_: None,
        channels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.views = Views(policy, templates)
        self.finder = Finder(store, policy, self.views)
        self.actions = Actions(policy, self.views)
        self.reactions = Reactions(self.actions)
        self.clock = clock
        self.probes = probes
        self.on_declare_probes = tuple(on_declare_probes)
        self.on_commit = on_commit
        self.on_command = on_command
        self.probing = Probing(
            store=store,
            clock=clock,
            views=self.views,
            probes=probes,
            mutate=self._mutate,
            on_probe_run=on_probe_run,
        )
        self.lexicon = policy.aliases()
        self.channels = channels or {}  # platform -> channel key -> channel id
        self._routes()

    # ------------------------------------------------------------------ entry points

    async def open_incidents(self, actor: Actor, where: ChannelRef) -> list[Incident]:
        """The newest 100 open incidents that `actor`, asking privately from `where`, may see
        (for pickers such as Discord's autocomplete)."""
        incidents = await self.store.list_incidents(open_only=True, limit=100)
        viewer = Viewer(actor, where)
        return [i for i in incidents if may_see(self.policy, i, viewer)]

    async def handle_text(
        self,
        text: str,
        actor: Actor,
        where: ChannelRef,
        request_id: str | None = None,
        *,
        alone: bool = True,
        forms: bool = False,
    ) -> Reply:
        """Parses and handles a command line; a parse error becomes an error Reply.

        `forms` says the adapter can open a form for this request (a Slack slash command):
        then a title-less `declare` (or `declare <severity>`) is answered with the declare
        form instead of an error, the severity pre-selected if typed."""
        if forms and (form := g.declare_form(text, self.lexicon)) is not None:
            return Reply(modal=form)
        started = time.perf_counter()
        try:
            cmd = g.parse(text, self.lexicon)
        except UserError as exc:
            self.on_command(None, reply := Reply.error(str(exc)), time.perf_counter() - started)
            return reply
        return await self.handle(cmd, actor, where, request_id, alone=alone)

    async def handle(
        self,
        cmd: c.Command,
        actor: Actor,
        where: ChannelRef,
        request_id: str | None = None,
        *,
        alone: bool = True,
    ) -> Reply:
        """Runs one command. User errors come back as `Reply(ok=False)`; infrastructure
        errors propagate (the adapter's error boundary answers generically).

        `request_id` (the platform's id for this request) makes redeliveries harmless: it
        is recorded in the same transaction as the command's change, so a redelivered
        request acts once, and a request whose first attempt failed still acts.

        `alone` says the reply reaches only `actor` (ephemeral); pass False where the
        adapter posts it for the whole channel to read: a private incident's content is
        then shown only in the security channel or its thread (see `visibility`)."""
        started, reply = time.perf_counter(), None
        key = f"{where.platform}:{request_id}" if request_id is not None else None
        try:
            try:
                viewer = Viewer(actor, where, alone)
                return (reply := await self._dispatch(cmd, viewer, key))
            except UserError as exc:
                return (reply := Reply.error(str(exc)))
            except DuplicateRequest:
                return (reply := Reply.info("Already handled."))
        finally:
            self.on_command(cmd, reply, time.perf_counter() - started)

    async def press(
        self,
        action: str,
        value: str,
        actor: Actor,
        where: ChannelRef,
        request_id: str | None = None,
    ) -> Reply:
        """A button: `snooze` ("INC-3 30m") or `post_update` ("INC-3"), handled as the
        typed command it stands for (never re-parsed as text)."""
        words = value.split()
        number = parse_incident(words[0]) if words else None
        if number is None:
            return Reply.error(f"This button is not tied to an incident ({value[:40]!r}).")
        if action == "snooze" and len(words) == 2:
            try:
                duration = parse_duration(words[1])
            except ValueError as exc:
                return Reply.error(f"This button's duration is not valid: {exc}.")
            if duration > timedelta(days=7):  # the same cap the typed `snooze` has
                return Reply.error("Snooze for 7 days at most.")
            return await self.handle(c.Snooze(number, duration), actor, where, request_id)
        if action == "post_update":
            try:
                inc = await self._get(number)
            except UserError as exc:  # a button of an incident that is gone: say so
                return Reply.error(str(exc))
            if not may_see(self.policy, inc, Viewer(actor, where)):
                return Reply.error(private_refusal(inc))
            return Reply(
                modal=Modal(ModalKind.UPDATE, inc.number, {"title": inc.title}), incident=number
            )
        return Reply.error(f"Unknown button {action!r}.")

    async def pin(
        self,
        where: ChannelRef,
        text: str,
        at: datetime,
        author: Actor,
        by: Actor,
        message_id: str | None = None,
    ) -> Reply | None:
        """Adds a message of an incident's thread to its timeline, at the message's time.

        `message_id` (the platform's id of the pinned message) makes it land once, however
        many pins or redelivered reaction events arrive."""
        if where.thread is None:
            return None
        inc = await self.store.find_by_thread(where.platform, where.thread)
        if inc is None:
            return None

        def mutate(i: Incident, now: datetime) -> Outcome:
            entry = TimelineEntry(at, "pin", f"{author.label}: {text[:500]}", by)
            return (
                i,
                [entry],
                [],
                Reply.info(f"📌 Added to the {i.key} timeline.", incident=i.number),
            )

        key = f"{where.platform}:pin:{message_id}" if message_id is not None else None
        try:
            return await self._mutate(inc.number, mutate, key)
        except DuplicateRequest:
            return Reply.info(f"Already in the {inc.key} timeline.", incident=inc.number)

    async def settle(self, grace_s: float = 10.0) -> bool:
        """Waits (bounded) for background work such as probe runs; True if none is left."""
        return await self.probing.tasks.settle(grace_s)

    async def aclose(self, grace_s: float = 10.0) -> None:
        """Lets background work finish within `grace_s`, then cancels what is left."""
        await self.probing.tasks.drain(grace_s)

    async def fire(self, timer: Timer) -> None:
        """Acts on a claimed, due timer exactly once (the commit that records the action also
        re-times the timer; a stale timer, e.g. after an update, is only re-timed)."""
        try:
            await self._mutate(timer.incident, self.reactions.fire(timer))
        except UserError:  # the incident is gone: nothing to remind about
            log.warning("timer.orphaned", incident=f"INC-{timer.incident}", kind=timer.kind.value)

    async def paging_failed(self, notice: Notice, error: str, *, permanent: bool = False) -> None:
        """Says loudly in the thread that a page did not go out: retried, or given up for
        good when `permanent` (the pager refused it)."""
        fn = self.reactions.paging_failed(notice, error, permanent=permanent)
        await self._mutate(notice.incident, fn)

    # ------------------------------------------------------------------ dispatch

    async def _dispatch(self, cmd: c.Command, viewer: Viewer, key: str | None) -> Reply:
        """Routes `cmd` through the table; `key` (a request's idempotency key) rides along
        with its commit. Every path that shows an incident goes through `Finder.target`."""
        if not isinstance(cmd, c.IncidentCommand):
            return await self._direct[type(cmd)](cmd, viewer, key)
        case = self._cases[type(cmd)]
        inc = await self.finder.target(cmd.incident, viewer, case.after_resolve)
        done = await case.run(cmd, inc, viewer.actor, key)
        if isinstance(done, Reply):
            return done
        if case.responders_only(cmd, inc):
            done = self.actions.responders_only(viewer.actor, done)
        return await self._mutate(inc.number, done, key)

    def _routes(self) -> None:
        """The dispatch table: each command type's use case and who may run it."""
        a = self.actions
        self._direct: dict[type, Direct] = {
            c.Help: self._help,
            c.ListIncidents: self._list,
            c.Declare: self._declare,
        }
        self._cases: dict[type, UseCase] = {
            c.ShowTimeline: UseCase(self._timeline, anyone, after_resolve=True),
            c.RunProbes: UseCase(self._probe, anyone),
            c.AddNote: UseCase(pure(lambda cmd, actor: a.note(cmd.text, actor)), anyone, True),
            c.Postmortem: UseCase(self._postmortem, lambda cmd, _: bool(cmd.link), True),
            c.SetSeverity: UseCase(self._severity),
            c.SetCommander: UseCase(
                pure(lambda cmd, actor: a.commander(cmd.user or actor, actor)),
                lambda _, inc: inc.commander is not None,  # anyone may lead an unled one
            ),
            c.AssignRole: UseCase(
                pure(lambda cmd, actor: a.role(cmd.role, cmd.user or actor, actor))
            ),
            c.SetStatus: UseCase(pure(lambda cmd, actor: a.status(cmd.status, cmd.note, actor))),
            c.PostUpdate: UseCase(
                pure(lambda cmd, actor: a.update(cmd.findings, cmd.actions, actor))
            ),
            c.Resolve: UseCase(pure(lambda cmd, actor: a.resolve(cmd.summary, actor, cmd.cause))),
            c.SetImpact: UseCase(pure(lambda cmd, actor: a.impact(cmd.text, actor))),
            c.Snooze: UseCase(pure(lambda cmd, actor: a.snooze(cmd.duration, actor))),
        }

    # ------------------------------------------------------------------ use cases

    async def _help(self, cmd: c.Help, viewer: Viewer, key: str | None) -> Reply:
        return Reply(self.views.help(g.help_text(cmd.topic)))

    async def _list(self, cmd: c.ListIncidents, viewer: Viewer, key: str | None) -> Reply:
        now = self.clock.now()
        return Reply(await self.finder.listing(viewer, cmd.severity, cmd.page, now))

    async def _timeline(
        self, cmd: c.ShowTimeline, inc: Incident, actor: Actor, key: str | None
    ) -> Reply:
        return Reply(self.views.timeline(inc, await self.store.timeline(inc.number)))

    async def _postmortem(
        self, cmd: c.Postmortem, inc: Incident, actor: Actor, key: str | None
    ) -> Mutation:
        # Attaching (or replacing) a link stops the post-mortem chase: responders only.
        entries = () if cmd.link else await self.store.timeline(inc.number)
        return self.actions.postmortem(cmd.link, entries, actor)

    async def _severity(
        self, cmd: c.SetSeverity, inc: Incident, actor: Actor, key: str | None
    ) -> Mutation:
        told = await self.store.timeline(inc.number)  # who has been told already
        return self.actions.severity(cmd.severity, actor, told)

    async def _probe(self, cmd: c.RunProbes, inc: Incident, actor: Actor, key: str | None) -> Reply:
        return await self.probing.command(cmd, inc, actor, key, self.on_declare_probes)

    # ------------------------------------------------------------------ finding the incident

    async def _get(self, number: int) -> Incident:
        return await self.finder.get(number)

    # ------------------------------------------------------------------ commit loop

    async def _mutate(self, number: int, fn: Mutation, key: str | None = None) -> Reply:
        for _ in range(MAX_RETRIES):
            inc = await self._get(number)
            now = self.clock.now()
            new, timeline, notices, reply = fn(inc, now)
            change = Change(timeline, notices, self.policy.timers(new), request=key, request_at=now)
            try:
                await self.store.commit(new, change)
            except ConflictError:
                continue
            self.on_commit()
            # Logged once, after the commit: Mutations are pure and may run more than once.
            events = [e.kind for e in timeline]
            log.info("incident.changed", incident=new.key, events=events, notices=len(notices))
            return reply
        raise ConflictError(f"INC-{number} kept changing underneath; gave up after {MAX_RETRIES}")

    # ------------------------------------------------------------------ declare

    async def _declare(self, cmd: c.Declare, viewer: Viewer, key: str | None) -> Reply:
        actor, where = viewer.actor, viewer.where
        now = self.clock.now()
        severity = cmd.severity or self.policy.default_severity
        private = cmd.private or bool(set(cmd.tags) & self.policy.private_tags)
        if private and self.policy.security_channel(where.platform) is None:
            # Never fall back to a public channel: refuse, so the reporter can take it
            # to the security team another way.
            raise UserError(
                "No security channel is configured, so a private incident cannot be declared"
                " (it would be announced in public). Nothing was created; ask an admin to set"
                " channels.security in the configuration, or reach the security team directly."
            )
        inc = Incident(
            number=0,
            title=cmd.title,
            severity=severity,
            status=Status.INVESTIGATING,
            platform=where.platform,
            declared_at=now,
            declared_by=actor,
            description=cmd.description,
            private=private,
            tags=cmd.tags,
            commander=actor,
            origin=where,
        )
        probes = tuple(self.probes.catalogue()) if self.probes else ()
        created = await self.store.create(
            inc,
            lambda numbered: dataclasses.replace(
                self.actions.declared(cmd, numbered, now, probes), request=key, request_at=now
            ),
        )
        self.on_commit()
        log.info("incident.declared", incident=created.key, severity=severity.value)
        if self.probes is not None and self.on_declare_probes and self.probes.catalogue():
            self.probing.start(created.number, self.on_declare_probes, actor)
        where_to = (
            "the security channel"
            if private
            else self._channel_link(where.platform, self.policy.channel_for(created))
        )
        # A private title is not repeated where the whole channel reads the answer.
        what = f": {created.title}" if may_see(self.policy, created, viewer) else ", private"
        return Reply.info(
            f"{created.key} declared ({severity.value}){what}. Announced in {where_to};"
            f" you are the incident commander.",
            incident=created.number,
        )

    def _channel_link(self, platform: str, key: str) -> str:
        """`<#id>` for a configured channel key (each platform shows its name), else the key."""
        cid = self.channels.get(platform, {}).get(key)
        return f"<#{cid}>" if cid else f"the {key} channel"
