"""IncidentService: one method per use case, platform-neutral.

Every state change is one `IncidentStore.commit` carrying the new incident, its timeline
entries, the notices to deliver (the outbox) and the complete re-computed timer set, so a
crash never leaves a change without its messages or its reminders. Concurrent changes to
one incident are serialised by optimistic concurrency: on `ConflictError` the use case is
re-run against the fresh incident.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from bot.core import commands as c
from bot.core.messages import Message, Modal, ModalKind, Notice, NoticeKind, Reply
from bot.core.model import (
    Actor,
    ChannelRef,
    Incident,
    Role,
    Severity,
    Status,
    TimelineEntry,
    TimerKind,
)
from bot.core.policy import Policy, format_duration
from bot.core.ports import Change, Clock, IncidentStore, ProbeRunner, Timer
from bot.core.templates import Templates, postmortem_markdown, utc
from bot.core.views import Views
from bot.errors import ConflictError, UserError

log = structlog.get_logger("incidentbot.service")

Outcome = tuple[Incident, list[TimelineEntry], list[Notice], Reply]
Mutation = Callable[[Incident, datetime], Outcome]
MAX_RETRIES = 8


class IncidentService:
    """Handles commands, button presses, pins and due timers.

    `on_commit` is called after every successful commit (the composition root wires it to
    wake the dispatcher). `on_declare_probes` is what runs when an incident is declared.
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
    ) -> None:
        self.store = store
        self.policy = policy
        self.views = Views(policy, templates)
        self.clock = clock
        self.probes = probes
        self.on_declare_probes = tuple(on_declare_probes)
        self.on_commit = on_commit
        self._tasks: set[asyncio.Task[None]] = set()
        self.lexicon = policy.aliases()

    # ------------------------------------------------------------------ entry points

    def help_text(self, topic: str = "") -> str:
        return c.help_text(topic)

    async def open_incidents(self) -> list[Incident]:
        return await self.store.list_incidents(open_only=True, limit=100)

    async def handle_text(
        self, text: str, actor: Actor, where: ChannelRef, request_id: str | None = None
    ) -> Reply:
        """Parses and handles a command line; a parse error becomes an error Reply."""
        try:
            cmd = c.parse(text, self.lexicon)
        except UserError as exc:
            return Reply.error(str(exc))
        return await self.handle(cmd, actor, where, request_id)

    async def handle(
        self, cmd: c.Command, actor: Actor, where: ChannelRef, request_id: str | None = None
    ) -> Reply:
        """Runs one command. User errors come back as `Reply(ok=False)`; infrastructure
        errors propagate (the adapter's error boundary answers generically)."""
        if request_id is not None and not await self.store.first_time(
            f"{where.platform}:{request_id}", self.clock.now()
        ):
            return Reply.info("Already handled.")
        try:
            return await self._dispatch(cmd, actor, where)
        except UserError as exc:
            return Reply.error(str(exc))

    async def press(
        self,
        action: str,
        value: str,
        actor: Actor,
        where: ChannelRef,
        request_id: str | None = None,
    ) -> Reply:
        """A button: `snooze` ("INC-3 30m") or `post_update` ("INC-3")."""
        words = value.split()
        number = c.parse_incident(words[0]) if words else None
        if number is None:
            return Reply.error(f"This button is not tied to an incident ({value[:40]!r}).")
        if action == "snooze" and len(words) == 2:
            return await self.handle_text(f"snooze {value}", actor, where, request_id)
        if action == "post_update":
            inc = await self._get(number)
            return Reply(
                modal=Modal(ModalKind.UPDATE, inc.number, {"title": inc.title}), incident=number
            )
        return Reply.error(f"Unknown button {action!r}.")

    async def pin(
        self, where: ChannelRef, text: str, at: datetime, author: Actor, by: Actor
    ) -> Reply | None:
        """Adds a message of an incident's thread to its timeline, at the message's time."""
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

        return await self._mutate(inc.number, mutate)

    async def aclose(self, grace_s: float = 10.0) -> None:
        """Waits (bounded) for background work such as probe runs to finish."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_s)
        for t in self._tasks:
            t.cancel()

    async def fire(self, timer: Timer) -> None:
        """Acts on a claimed, due timer exactly once (the commit that records the action also
        re-times the timer; a stale timer, e.g. after an update, is only re-timed)."""
        try:
            await self._mutate(timer.incident, self._fire(timer))
        except UserError:  # the incident is gone: nothing to remind about
            log.warning("timer.orphaned", incident=f"INC-{timer.incident}", kind=timer.kind.value)

    def _fire(self, timer: Timer) -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            due = self.policy.timers(i)[timer.kind]
            if due is None or due > now:
                return i, [], [], Reply()  # state moved on since the claim: just re-time
            if timer.kind is TimerKind.REMINDER:
                return self._remind(i, now, due)
            if timer.kind is TimerKind.ESCALATION:
                reason = f"open for {format_duration(now - i.declared_at)} at {i.severity.value}"
                return self._escalate(i, now, reason)
            return self._postmortem_reminder(i, now, due)

        return m

    def _remind(self, i: Incident, now: datetime, due: datetime) -> Outcome:
        new = i.evolve(
            missed_updates=i.missed_updates + 1, last_reminder_at=now, snoozed_until=None
        )
        if i.commander is not None:
            mentions: tuple[str, ...] = (i.commander.id,)
        else:  # nobody holds the pager: ask the severity's first contact group
            chain = self.policy.of(i.severity).escalate_to
            mentions = self.policy.resolve_contacts(chain[:1])
        notices = [self._thread(new, self.views.reminder(new, now, due, mentions))]
        timeline = [TimelineEntry(now, "reminder", f"update reminder #{new.missed_updates}")]
        log.info("reminder.sent", incident=i.key, lateness_s=(now - due).total_seconds())
        if self.policy.escalates_on_missed(new.missed_updates):
            n = new.missed_updates
            new, esc_tl, esc_notices, _ = self._escalate(new, now, f"{n} updates missed in a row")
            timeline += esc_tl
            notices += esc_notices
        return new, timeline, notices, Reply()

    def _escalate(self, i: Incident, now: datetime, reason: str) -> Outcome:
        group = self.policy.escalation_group(i)
        if group is None:  # the chain is climbed; reminders keep nagging the IC
            return i, [], [], Reply()
        new = i.evolve(escalation_level=i.escalation_level + 1)
        ids = self.policy.resolve_contacts((group,))
        values = self.views.values(i, now, reason=reason, contacts=group)
        msg = self.views.templates.render("escalation", values, severity=i.severity, mentions=ids)
        notices = [self._thread(new, msg), *self._pages(new, (group,), "trigger")]
        log.info("incident.escalated", incident=i.key, to=group, reason=reason)
        return new, [TimelineEntry(now, "escalated", f"to {group}: {reason}")], notices, Reply()

    def _postmortem_reminder(self, i: Incident, now: datetime, due: datetime) -> Outcome:
        new = i.evolve(last_reminder_at=now)
        mentions = (i.commander.id,) if i.commander else ()
        values = self.views.values(i, now, due=utc(due))
        msg = self.views.templates.render("postmortem_reminder", values, mentions=mentions)
        return (
            new,
            [TimelineEntry(now, "reminder", "post-mortem due")],
            [self._thread(new, msg)],
            Reply(),
        )

    async def paging_failed(self, notice: Notice, error: str) -> None:
        """Says loudly in the thread that a page did not go out (it keeps being retried)."""
        contacts = tuple(g for g in notice.data.get("contacts", "").split(",") if g)
        ids = self.policy.resolve_contacts(contacts)

        def m(i: Incident, now: datetime) -> Outcome:
            msg = Message(
                title=f"⚠️ PAGING FAILED via {notice.channel}:"
                f" page {', '.join(contacts) or 'on-call'} manually. The bot keeps retrying.",
                body=f"Error: {error[:200]}",
                mentions=ids,
                severity=i.severity,
            )
            entry = TimelineEntry(now, "page", f"paging via {notice.channel} failed")
            return i, [entry], [self._thread(i, msg)], Reply()

        await self._mutate(notice.incident, m)

    # ------------------------------------------------------------------ dispatch

    async def _dispatch(self, cmd: c.Command, actor: Actor, where: ChannelRef) -> Reply:
        match cmd:
            case c.Help(topic):
                return Reply(Message(title="incidentbot help", body=c.help_text(topic)))
            case c.ListIncidents():
                return Reply(self.views.listing(await self.open_incidents(), self.clock.now()))
            case c.Declare():
                return await self._declare(cmd, actor, where)
        after_resolve = isinstance(cmd, c.Postmortem | c.ShowTimeline | c.AddNote)
        inc = await self._target(getattr(cmd, "incident", None), where, after_resolve)
        match cmd:
            case c.ShowTimeline():
                return Reply(self.views.timeline(inc, await self.store.timeline(inc.number)))
            case c.RunProbes(_, targets):
                return await self._probe(inc, targets, actor)
            case c.AddNote(_, text):
                return await self._mutate(inc.number, self._note(text, actor))
            case c.Postmortem(_, link):
                entries = [] if link else await self.store.timeline(inc.number)
                return await self._mutate(inc.number, self._postmortem(link, entries, actor))
            case c.SetSeverity(_, severity):
                fn = self._severity(severity, actor)
            case c.SetCommander(_, user):
                fn = self._commander(user or actor, actor)
                if inc.commander is None:
                    return await self._mutate(inc.number, fn)
            case c.AssignRole(_, role, user):
                fn = self._role(role, user or actor, actor)
            case c.SetStatus(_, status, note):
                fn = self._status(status, note, actor)
            case c.PostUpdate(_, findings, actions):
                fn = self._update(findings, actions, actor)
            case c.Resolve(_, summary):
                fn = self._resolve(summary, actor)
            case c.Snooze(_, duration):
                fn = self._snooze(duration, actor)
            case _:  # pragma: no cover - the match above is exhaustive
                raise UserError("Unsupported command.")
        return await self._mutate(inc.number, self._responders_only(type(cmd).__name__, actor, fn))

    # ------------------------------------------------------------------ finding the incident

    async def _get(self, number: int) -> Incident:
        inc = await self.store.get(number)
        if inc is None:
            raise UserError(f"INC-{number} does not exist. Try /incident list.")
        return inc

    async def _target(
        self, number: int | None, where: ChannelRef, after_resolve: bool = False
    ) -> Incident:
        """The named incident, else the one whose thread this is, else the only open one
        in this channel (for `after_resolve` commands, else the latest resolved one there);
        otherwise asks which, listing candidates."""
        if number is not None:
            return await self._get(number)
        if where.thread is not None:
            inc = await self.store.find_by_thread(where.platform, where.thread)
            if inc is not None:
                return inc
        open_ = await self.store.list_incidents(open_only=True, limit=200)
        here = [i for i in open_ if i.platform == where.platform and where.channel in _places(i)]
        if len(here) == 1:
            return here[0]
        if not here and after_resolve:
            recent = await self.store.list_incidents(open_only=False, limit=20)
            mine = [
                i for i in recent if i.platform == where.platform and where.channel in _places(i)
            ]
            if mine:
                return mine[0]
        candidates = here or open_
        if not candidates:
            raise UserError("There is no open incident here. Name one with INC-n.")
        listed = ", ".join(f"{i.key} ({i.severity.value}: {i.title[:40]})" for i in candidates[:10])
        raise UserError(f"Which incident? Add its id, one of: {listed}.")

    # ------------------------------------------------------------------ commit loop

    async def _mutate(self, number: int, fn: Mutation) -> Reply:
        for _ in range(MAX_RETRIES):
            inc = await self._get(number)
            now = self.clock.now()
            new, timeline, notices, reply = fn(inc, now)
            change = Change(timeline, notices, self.policy.timers(new))
            try:
                await self.store.commit(new, change)
            except ConflictError:
                continue
            self.on_commit()
            log.info("incident.changed", incident=new.key, notices=len(notices))
            return reply
        raise ConflictError(f"INC-{number} kept changing underneath; gave up after {MAX_RETRIES}")

    def _responders_only(self, what: str, actor: Actor, fn: Mutation) -> Mutation:
        def guarded(i: Incident, now: datetime) -> Outcome:
            if actor.id not in i.responders() and actor.id not in self.policy.responders:
                who = [f"IC {i.commander.label}"] if i.commander else []
                who += [f"{r.value} {a.label}" for r, a in i.roles.items()]
                if self.policy.responders:
                    who.append("the configured responders")
                raise UserError(
                    f"Only {i.key}'s responders may do that ({', '.join(who) or 'its IC'});"
                    " ask the IC to add you with /incident role."
                )
            return fn(i, now)

        return guarded

    def _thread(self, inc: Incident, msg: Message) -> Notice:
        return Notice(inc.number, inc.platform, NoticeKind.THREAD, msg)

    def _post(self, inc: Incident, channel: str, msg: Message) -> Notice:
        return Notice(inc.number, inc.platform, NoticeKind.POST, msg, channel=channel)

    def _pages(self, inc: Incident, groups: Sequence[str], action: str) -> list[Notice]:
        msg = self.views.templates.render(
            "page",
            self.views.values(inc, self.clock.now(), contacts=", ".join(groups)),
            severity=inc.severity,
        )
        return [
            Notice(
                inc.number,
                inc.platform,
                NoticeKind.PAGE,
                msg,
                channel=pager,
                data={"action": action, "contacts": ",".join(groups)},
            )
            for pager in self.policy.of(inc.severity).pagers
        ]

    # ------------------------------------------------------------------ declare

    async def _declare(self, cmd: c.Declare, actor: Actor, where: ChannelRef) -> Reply:
        now = self.clock.now()
        severity = cmd.severity or self.policy.default_severity
        private = cmd.private or bool(set(cmd.tags) & self.policy.private_tags)
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
        created = await self.store.create(inc, lambda numbered: self._declared(cmd, numbered, now))
        self.on_commit()
        log.info("incident.declared", incident=created.key, severity=severity.value)
        if self.probes is not None and self.on_declare_probes and self.probes.catalogue():
            self._spawn(self._run_probes(created.number, self.on_declare_probes, actor))
        where_to = "the security channel" if private else f"#{self.policy.channel_for(created)}"
        return Reply.info(
            f"{created.key} declared ({severity.value}): {created.title}. Announced in {where_to};"
            f" you are the incident commander.",
            incident=created.number,
        )

    def _declared(self, cmd: c.Declare, inc: Incident, now: datetime) -> Change:
        """What declaring writes with the new incident: announcement, ops line, checklist,
        tag notifications, pages, the first timeline entry and the timers."""
        severity, private, actor = inc.severity, inc.private, inc.declared_by
        p = self.policy.of(severity)
        groups = tuple(dict.fromkeys(p.page + p.notify))
        notices = [
            Notice(
                inc.number,
                inc.platform,
                NoticeKind.ANNOUNCE,
                self.views.initial(inc, now, self.policy.resolve_contacts(groups)),
                channel=self.policy.channel_for(inc),
            )
        ]
        if not private:
            notices.append(
                Notice(
                    0, inc.platform, NoticeKind.POST, self.views.ops_line(inc, now), channel="ops"
                )
            )
        probe_names = ", ".join(self.probes.catalogue()) if self.probes else ""
        checklist = self.views.templates.render(
            "checklist",
            self.views.values(
                inc,
                now,
                probes="running now" if probe_names else "none configured",
                status_page_step=", update the status page" if p.status_page else "",
            ),
        )
        notices.append(Notice(inc.number, inc.platform, NoticeKind.THREAD, checklist))
        tag_groups = tuple(g for t in cmd.tags for g in self.policy.tag_contacts.get(t, ()))
        if tag_groups:
            ids = self.policy.resolve_contacts(tag_groups)
            msg = Message(
                title=f"Tagged {', '.join(cmd.tags)}: notifying {', '.join(tag_groups)} at once.",
                mentions=ids,
            )
            notices.append(Notice(inc.number, inc.platform, NoticeKind.THREAD, msg))
        notices += self._pages(inc, p.page, "trigger")
        entry = TimelineEntry(now, "declared", f"{severity.value} {cmd.title}", actor)
        return Change([entry], notices, self.policy.timers(inc))

    # ------------------------------------------------------------------ mutations

    def _note(self, text: str, actor: Actor) -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            msg = Message(title=f"Note from {actor.label}", body=text)
            return (
                i,
                [TimelineEntry(now, "note", text, actor)],
                [self._thread(i, msg)],
                Reply.info(f"Noted in the {i.key} timeline.", incident=i.number),
            )

        return m

    def _severity(self, severity: Severity, actor: Actor) -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            if i.severity is severity:
                raise UserError(f"{i.key} is already {severity.value}.")
            if not i.is_open:
                raise UserError(f"{i.key} is resolved; its severity can no longer change.")
            new = i.evolve(severity=severity)
            old_p, new_p = self.policy.of(i.severity), self.policy.of(severity)
            nxt = self.policy.next_reminder_at(new)
            text = (
                f"Severity {i.severity.value} → {severity.value} by {actor.label}."
                f" Updates every {format_duration(new_p.update_every)};"
                f" next due {utc(nxt)}."
            )
            notices = [self._thread(new, Message(title=text, severity=severity))]
            channel = self.policy.channel_for(new)
            if channel != self.policy.channel_for(i):
                moved = self.views.initial(new, now, ())
                notices.append(self._post(new, channel, moved))
            if severity.rank < i.severity.rank:
                notices += self._pages(
                    new, tuple(g for g in new_p.page if g not in old_p.page), "trigger"
                )
            entry = TimelineEntry(now, "severity", f"{i.severity.value} → {severity.value}", actor)
            return new, [entry], notices, Reply.info(text, incident=i.number)

        return m

    def _commander(self, user: Actor, actor: Actor) -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            new = i.evolve(commander=user)
            text = f"{user.label} is now the incident commander of {i.key}."
            msg = Message(title=text, mentions=(user.id,))
            entry = TimelineEntry(now, "ic", f"commander: {user.label}", actor)
            return new, [entry], [self._thread(new, msg)], Reply.info(text, incident=i.number)

        return m

    def _role(self, role: Role, user: Actor, actor: Actor) -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            new = i.evolve(roles={**i.roles, role: user})
            text = f"{user.label} is now {role.value} of {i.key}."
            msg = Message(title=text, mentions=(user.id,))
            entry = TimelineEntry(now, "role", f"{role.value}: {user.label}", actor)
            return new, [entry], [self._thread(new, msg)], Reply.info(text, incident=i.number)

        return m

    def _status(self, status: Status, note: str, actor: Actor) -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            if not i.is_open:
                raise UserError(f"{i.key} is resolved.")
            new = i.evolve(status=status)
            text = f"Status {i.status.value} → {status.value}" + (f": {note}" if note else "")
            notices = [self._thread(new, Message(title=text, severity=new.severity))]
            if self.policy.of(new.severity).status_page and not new.private:
                notices.append(self._thread(new, self.views.status_page(new, now, note)))
            entry = TimelineEntry(now, "status", text, actor)
            return new, [entry], notices, Reply.info(text, incident=i.number)

        return m

    def _update(self, findings: str, actions: str, actor: Actor) -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            if not i.is_open:
                raise UserError(f"{i.key} is resolved; use /incident note to add to its timeline.")
            new = i.evolve(last_update_at=now, missed_updates=0, snoozed_until=None)
            msg = self.views.update(new, now, findings, actions)
            text = findings + (f" / actions: {actions}" if actions else "")
            nxt = self.policy.next_reminder_at(new)
            return (
                new,
                [TimelineEntry(now, "update", text, actor)],
                [self._post(new, self.policy.channel_for(new), msg)],
                Reply.info(
                    f"Update posted for {i.key}; next one due {utc(nxt)}.", incident=i.number
                ),
            )

        return m

    def _resolve(self, summary: str, actor: Actor) -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            if not i.is_open:
                raise UserError(f"{i.key} is already resolved (at {utc(i.resolved_at)}).")
            new = i.evolve(
                status=Status.RESOLVED,
                resolved_at=now,
                summary=summary or i.summary,
                snoozed_until=None,
                last_reminder_at=None,
            )
            p = self.policy.of(new.severity)
            due = (
                f"due by {utc(now + self.policy.postmortem_due)}"
                if p.postmortem == "required"
                else "lightweight review"
                if p.postmortem == "lightweight"
                else "not required"
            )
            msg = self.views.templates.render(
                "resolved", self.views.values(new, now, postmortem_due=due), severity=new.severity
            )
            notices = [self._post(new, self.policy.channel_for(new), msg), self._thread(new, msg)]
            if not new.private:
                ops = Message(title=f"[RESOLVED] {new.severity.value} {new.key} - {new.title}.")
                notices.append(self._post(new, "ops", ops))
            if p.status_page and not new.private:
                notices.append(self._thread(new, self.views.status_page(new, now)))
            notices += self._pages(new, p.page, "resolve")
            entry = TimelineEntry(now, "resolved", summary or "resolved", actor)
            return (
                new,
                [entry],
                notices,
                Reply.info(f"{i.key} resolved; post-mortem {due}.", incident=i.number),
            )

        return m

    def _snooze(self, duration: timedelta, actor: Actor) -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            if not i.is_open:
                raise UserError(f"{i.key} is resolved; there is nothing to snooze.")
            new = i.evolve(snoozed_until=now + duration)
            text = f"Next {i.key} reminder snoozed until {utc(new.snoozed_until)} by {actor.label}."
            entry = TimelineEntry(
                now, "snooze", f"reminder snoozed {format_duration(duration)}", actor
            )
            return (
                new,
                [entry],
                [self._thread(new, Message(title=text))],
                Reply.info(text, incident=i.number),
            )

        return m

    def _postmortem(self, link: str, entries: Sequence[TimelineEntry], actor: Actor) -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            if link:
                new = i.evolve(postmortem=link, postmortem_at=now)
                text = f"Post-mortem attached to {i.key}: {link}"
                notice = self._thread(new, Message(title=text))
                entry = TimelineEntry(now, "postmortem", f"attached: {link}", actor)
                return new, [entry], [notice], Reply.info(text, incident=i.number)
            end = i.resolved_at or now
            draft = postmortem_markdown(i, entries, duration=format_duration(end - i.declared_at))
            new = i.evolve(postmortem=draft)
            msg = Message(title=f"POST-MORTEM DRAFT: {i.key} {i.title}", body=draft)
            entry = TimelineEntry(now, "postmortem", "draft posted", actor)
            return (
                new,
                [entry],
                [self._thread(new, msg)],
                Reply.info(
                    f"Post-mortem draft for {i.key} posted in its thread. When it is done,"
                    f" attach it with /incident postmortem {i.key} <link>.",
                    incident=i.number,
                ),
            )

        return m

    # ------------------------------------------------------------------ probes

    async def _probe(self, inc: Incident, targets: tuple[str, ...], actor: Actor) -> Reply:
        if self.probes is None:
            return Reply.info(
                "No probe kinds are installed in this build, so there is nothing to run."
            )
        if not self.probes.catalogue():
            return Reply.info(
                "No probes are configured; add some under `probes:` in the configuration."
            )
        selection = targets or self.on_declare_probes or ("all",)
        self._validate_selection(selection)
        self._spawn(self._run_probes(inc.number, selection, actor))
        return Reply.info(
            f"Running probes {' '.join(selection)} for {inc.key}; results go to its thread.",
            incident=inc.number,
        )

    def _validate_selection(self, selection: Sequence[str]) -> None:
        assert self.probes is not None
        catalogue = self.probes.catalogue()
        known = set(catalogue) | set(catalogue.values()) | {"all"}
        unknown = [s for s in selection if s not in known]
        if unknown:
            raise UserError(
                f"Unknown probe or service: {', '.join(unknown)}."
                f" Configured probes: {', '.join(sorted(catalogue))};"
                f" services: {', '.join(sorted(set(catalogue.values())))}."
            )

    async def _run_probes(self, number: int, selection: Sequence[str], actor: Actor) -> None:
        assert self.probes is not None
        try:
            report = await self.probes.run(selection)
            msg = self.views.probes(report)
            summary = report.summary()
        except Exception as exc:  # a probe run must never take the bot down
            log.warning("probe.run_failed", incident=f"INC-{number}", error=type(exc).__name__)
            summary = "probe run failed"
            msg = Message(
                title=f"PROBES: the run failed ({type(exc).__name__}); check the bot's logs."
            )

        def m(i: Incident, now: datetime) -> Outcome:
            entry = TimelineEntry(now, "probe", summary, actor)
            return i, [entry], [self._thread(i, msg)], Reply()

        await self._mutate(number, m)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _places(inc: Incident) -> set[str]:
    """Channels an incident lives in: where it was declared and where its thread is."""
    return {r.channel for r in (inc.thread, inc.origin) if r is not None}
