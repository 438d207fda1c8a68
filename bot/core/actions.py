"""Use cases as pure functions: each returns a Mutation, `(incident, now) -> Outcome`.

An Outcome is the new incident, its timeline entries, the notices to deliver and the reply.
The service runs a Mutation against the freshly read incident and commits the Outcome
atomically; on a conflict it simply runs it again, which is safe because nothing here has
side effects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.core import commands as c
from bot.core import reach
from bot.core.messages import Message, Notice, NoticeKind, Reply
from bot.core.model import Actor, Incident, Role, Severity, Status, TimelineEntry
from bot.core.policy import Policy, format_duration
from bot.core.records import Change
from bot.core.templates import postmortem_markdown, utc_stamp, when
from bot.core.views import Views
from bot.errors import UserError

Outcome = tuple[Incident, list[TimelineEntry], list[Notice], Reply]
Mutation = Callable[[Incident, datetime], Outcome]


def thread(inc: Incident, msg: Message) -> Notice:
    """A message for the incident's thread."""
    return Notice(inc.number, inc.platform, NoticeKind.THREAD, msg)


def post(inc: Incident, channel: str, msg: Message) -> Notice:
    """A top-level message in the channel with key `channel`."""
    return Notice(inc.number, inc.platform, NoticeKind.POST, msg, channel=channel)


class Actions:
    """The command use cases for one policy and template set."""

    def __init__(self, policy: Policy, views: Views) -> None:
        self.policy = policy
        self.views = views

    def responders_only(self, actor: Actor, fn: Mutation) -> Mutation:
        """`fn`, refused with a clear message unless `actor` is one of the responders."""

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

    def pages(
        self, inc: Incident, groups: Sequence[str], action: str, now: datetime
    ) -> list[Notice]:
        """One PAGE notice per external pager configured for the incident's severity."""
        msg = self.views.page(inc, now, groups)
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

    def declared(
        self, cmd: c.Declare, inc: Incident, now: datetime, probes: Sequence[str]
    ) -> Change:
        """What declaring writes with the new incident: announcement, ops line, checklist,
        tag notifications, pages, the first timeline entry and the timers."""
        severity, private, actor = inc.severity, inc.private, inc.declared_by
        p = self.policy.of(severity)
        groups = tuple(dict.fromkeys(p.page + p.notify))
        announcement = self.views.initial(inc, now, self.policy.resolve_contacts(groups))
        notices = [
            Notice(
                inc.number,
                inc.platform,
                NoticeKind.ANNOUNCE,
                self.views.warn_if_unreached(announcement, severity, groups),
                channel=self.policy.channel_for(inc),
            )
        ]
        if not private:
            notices.append(post(inc, "ops", self.views.ops_line(inc, now)))
        notices.append(thread(inc, self.views.checklist(inc, now, bool(probes))))
        tag_groups = tuple(g for t in cmd.tags for g in self.policy.tag_contacts.get(t, ()))
        if tag_groups:
            ids = self.policy.resolve_contacts(tag_groups)
            notices.append(thread(inc, self.views.tagged(cmd.tags, tag_groups, ids)))
        notices += self.pages(inc, p.page, "trigger", now)
        entry = TimelineEntry(now, "declared", f"{severity.value} {cmd.title}", actor)
        return Change([entry], notices, self.policy.timers(inc))

    # ------------------------------------------------------------------ mutations

    def note(self, text: str, actor: Actor) -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            # A person named in the note is notified by this message, as if typed in the
            # thread; the timeline and every later message show the note as text (§7).
            msg = self.views.note(actor, text)
            return (
                i,
                [TimelineEntry(now, "note", text, actor)],
                [thread(i, msg)],
                Reply.info(f"Noted in the {i.key} timeline.", incident=i.number),
            )

        return m

    def severity(
        self, severity: Severity, actor: Actor, entries: Sequence[TimelineEntry] = ()
    ) -> Mutation:
        """Changes the severity. A raise re-announces in the channel, mentioning and paging
        whoever the new severity calls for that the incident (per `entries`, its timeline)
        has not reached yet; a lowering says so in the thread (and, if the channel changes,
        in the new channel) without mentioning anyone."""

        def m(i: Incident, now: datetime) -> Outcome:
            if i.severity is severity:
                raise UserError(f"{i.key} is already {severity.value}.")
            if not i.is_open:
                raise UserError(f"{i.key} is resolved; its severity can no longer change.")
            new = i.evolve(severity=severity)
            new_p = self.policy.of(severity)
            nxt = self.policy.next_reminder_at(new)
            raised = severity.rank < i.severity.rank
            added = reach.on_raise(
                self.policy, reach.reached(self.policy, entries, i.severity), severity
            )
            told = f" Notifying {', '.join(added.mention)}." if raised and added.mention else ""
            text = (
                f"Severity {i.severity.value} → {severity.value} by {actor.label}."
                f" Updates every {format_duration(new_p.update_every)};"
                f" next due {when(nxt, now)}.{told}"
            )
            notices = [thread(new, self.views.said(text, severity=severity))]
            channel = self.policy.channel_for(new)
            if raised or channel != self.policy.channel_for(i):
                ids = self.policy.resolve_contacts(added.mention) if raised else ()
                moved = self.views.reclassified(new, now, i.severity, ids)
                if raised:
                    groups = tuple(dict.fromkeys(new_p.page + new_p.notify))
                    moved = self.views.warn_if_unreached(moved, severity, groups)
                notices.append(post(new, channel, moved))
            if raised and added.page:  # nobody new to page: no repeat trigger either
                notices += self.pages(new, added.page, "trigger", now)
            entry = TimelineEntry(now, "severity", f"{i.severity.value} → {severity.value}", actor)
            return new, [entry], notices, Reply.info(text, incident=i.number)

        return m

    def commander(self, user: Actor, actor: Actor) -> Mutation:
        return self._appoint(
            lambda i: i.evolve(commander=user),
            user,
            "the incident commander",
            "ic",
            actor,
            entry=f"commander: {user.label}",
        )

    def role(self, role: Role, user: Actor, actor: Actor) -> Mutation:
        return self._appoint(
            lambda i: i.evolve(roles={**i.roles, role: user}),
            user,
            role.value,
            "role",
            actor,
            entry=f"{role.value}: {user.label}",
        )

    def _appoint(
        self,
        appoint: Callable[[Incident], Incident],
        user: Actor,
        title: str,
        kind: str,
        actor: Actor,
        *,
        entry: str,
    ) -> Mutation:
        """`user` takes a post (`title`: "the incident commander", "scribe"): said in the
        thread, mentioning them, and recorded as a `kind` timeline entry."""

        def m(i: Incident, now: datetime) -> Outcome:
            new = appoint(i)
            text = f"{user.label} is now {title} of {i.key}."
            msg = self.views.said(text, mentions=(user.id,))
            done = TimelineEntry(now, kind, entry, actor)
            return new, [done], [thread(new, msg)], Reply.info(text, incident=i.number)

        return m

    def status(self, status: Status, note: str, actor: Actor) -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            if not i.is_open:
                raise UserError(f"{i.key} is resolved.")
            new = i.evolve(status=status)
            text = f"Status {i.status.value} → {status.value}" + (f": {note}" if note else "")
            notices = [thread(new, self.views.said(text, severity=new.severity))]
            if self.policy.of(new.severity).status_page and not new.private:
                notices.append(thread(new, self.views.status_page(new, now, note)))
            entry = TimelineEntry(now, "status", text, actor)
            return new, [entry], notices, Reply.info(text, incident=i.number)

        return m

    def update(self, findings: str, actions: str, actor: Actor) -> Mutation:
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
                [post(new, self.policy.channel_for(new), msg)],
                Reply.info(
                    f"Update posted for {i.key}; next one due {utc_stamp(nxt)}.", incident=i.number
                ),
            )

        return m

    def impact(self, text: str, actor: Actor) -> Mutation:
        """States the impact; a SEV1/SEV2 gets a fresh status-page draft that carries it."""

        def m(i: Incident, now: datetime) -> Outcome:
            if not i.is_open:
                raise UserError(f"{i.key} is resolved; use /incident note to add to its timeline.")
            new = i.evolve(description=text)
            said = f"Impact of {i.key} set by {actor.label}: {text}"
            notices = [thread(new, self.views.said(said, severity=new.severity))]
            if self.policy.of(new.severity).status_page and not new.private:
                notices.append(thread(new, self.views.status_page(new, now)))
            entry = TimelineEntry(now, "impact", text, actor)
            return new, [entry], notices, Reply.info(said, incident=i.number)

        return m

    def resolve(self, summary: str, actor: Actor, cause: str = "") -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            if not i.is_open:
                raise UserError(f"{i.key} is already resolved (at {utc_stamp(i.resolved_at)}).")
            new = i.evolve(
                status=Status.RESOLVED,
                resolved_at=now,
                summary=summary or i.summary,
                snoozed_until=None,
                last_reminder_at=None,
            )
            p = self.policy.of(new.severity)
            due = (
                f"due by {utc_stamp(now + self.policy.postmortem_due)}"
                if p.postmortem == "required"
                else "lightweight review"
                if p.postmortem == "lightweight"
                else "not required"
            )
            msg = self.views.resolved(new, now, due)
            notices = [post(new, self.policy.channel_for(new), msg), thread(new, msg)]
            if not new.private:
                notices.append(post(new, "ops", self.views.ops_line(new, now)))
            if p.status_page and not new.private:
                notices.append(thread(new, self.views.status_page(new, now, cause=cause)))
            notices += self.pages(new, p.page, "resolve", now)
            entries = [TimelineEntry(now, "resolved", summary or "resolved", actor)]
            if cause:
                entries.append(TimelineEntry(now, "cause", cause, actor))
            return (
                new,
                entries,
                notices,
                Reply.info(f"{i.key} resolved; post-mortem {due}.", incident=i.number),
            )

        return m

    def snooze(self, duration: timedelta, actor: Actor) -> Mutation:
        def m(i: Incident, now: datetime) -> Outcome:
            if not i.is_open:
                raise UserError(f"{i.key} is resolved; there is nothing to snooze.")
            new = i.evolve(snoozed_until=now + duration)
            until = utc_stamp(new.snoozed_until)
            text = f"Next {i.key} reminder snoozed until {until} by {actor.label}."
            entry = TimelineEntry(
                now, "snooze", f"reminder snoozed {format_duration(duration)}", actor
            )
            return (
                new,
                [entry],
                [thread(new, self.views.said(text))],
                Reply.info(text, incident=i.number),
            )

        return m

    def postmortem(self, link: str, entries: Sequence[TimelineEntry], actor: Actor) -> Mutation:
        """With a `link`: attaches (or replaces) the finished post-mortem, which ends the
        post-mortem chase; refused while the incident is open, since that chase only starts
        at resolve and an early link would silently cancel it. Without: posts the draft (an
        attached post-mortem is kept; the draft never replaces it)."""

        def m(i: Incident, now: datetime) -> Outcome:
            if link and i.is_open:
                raise UserError(
                    f"{i.key} is still open: attach its post-mortem after /incident resolve."
                    f" Until then, keep the link in the timeline with /incident note {i.key}."
                )
            if link:
                new = i.evolve(postmortem=link, postmortem_at=now)
                text = f"Post-mortem attached to {i.key}: {link}"
                notice = thread(new, self.views.said(text))
                entry = TimelineEntry(now, "postmortem", f"attached: {link}", actor)
                return new, [entry], [notice], Reply.info(text, incident=i.number)
            end = i.resolved_at or now
            draft = postmortem_markdown(i, entries, duration=format_duration(end - i.declared_at))
            new = i if i.postmortem_at is not None else i.evolve(postmortem=draft)
            msg = self.views.postmortem_draft(i, draft)
            entry = TimelineEntry(now, "postmortem", "draft posted", actor)
            return (
                new,
                [entry],
                [thread(new, msg)],
                Reply.info(
                    f"Post-mortem draft for {i.key} posted in its thread. When it is done,"
                    f" attach it with /incident postmortem {i.key} <link>.",
                    incident=i.number,
                ),
            )

        return m
