"""What due timers and delivery failures do to an incident: reminders, escalations,
post-mortem reminders and the "paging failed" alarm. Pure Mutations, like `actions`."""

from __future__ import annotations

from datetime import datetime

from bot.core.actions import Actions, Mutation, Outcome, thread
from bot.core.messages import Notice, Reply
from bot.core.model import Incident, TimelineEntry, TimerKind
from bot.core.policy import format_duration
from bot.core.records import Timer
from bot.core.templates import utc_stamp


class Reactions:
    """Timer and failure reactions, sharing the policy and views of `actions`."""

    def __init__(self, actions: Actions) -> None:
        self.actions = actions
        self.policy = actions.policy
        self.views = actions.views

    def fire(self, timer: Timer) -> Mutation:
        """What a claimed timer does; a stale one (the state moved on) is only re-timed."""

        def m(i: Incident, now: datetime) -> Outcome:
            due = self.policy.timers(i)[timer.kind]
            if due is None or due > now:
                return i, [], [], Reply()  # state moved on since the claim: just re-time
            if timer.kind is TimerKind.REMINDER:
                return self._remind(i, now, due)
            if timer.kind is TimerKind.ESCALATION:
                reminder_due = self.policy.next_reminder_at(i)
                if (
                    reminder_due is not None
                    and reminder_due <= now
                    and self.policy.escalates_on_missed(i.missed_updates + 1)
                ):
                    # The reminder due now escalates anyway: one escalation, not two at once.
                    return self._remind(i, now, reminder_due)
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
        notices = [thread(new, self.views.reminder(new, now, due, mentions))]
        timeline = [TimelineEntry(now, "reminder", f"update reminder #{new.missed_updates}")]
        if self.policy.escalates_on_missed(new.missed_updates):
            n = new.missed_updates
            new, esc_tl, esc_notices, _ = self._escalate(new, now, f"{n} updates missed in a row")
            timeline += esc_tl
            notices += esc_notices
        return new, timeline, notices, Reply()

    def _escalate(self, i: Incident, now: datetime, reason: str) -> Outcome:
        group = self.policy.escalation_group(i)
        if group is None:  # no chain configured for this severity: reminders nag the IC
            return i, [], [], Reply()
        chain = self.policy.of(i.severity).escalate_to
        again = " (again: top of the chain)" if i.escalation_level >= len(chain) else ""
        new = i.evolve(escalation_level=i.escalation_level + 1)
        ids = self.policy.resolve_contacts((group,))
        silent = now - (i.last_update_at or i.declared_at)
        without_update = format_duration(silent) + (
            "" if i.last_update_at else " (no update since declared)"
        )
        msg = self.views.escalation(i, now, reason, group + again, without_update, ids)
        notices = [thread(new, msg), *self.actions.pages(new, (group,), "trigger", now)]
        entry = TimelineEntry(now, "escalated", f"to {group}{again}: {reason}")
        return new, [entry], notices, Reply()

    def _postmortem_reminder(self, i: Incident, now: datetime, due: datetime) -> Outcome:
        new = i.evolve(last_reminder_at=now)
        mentions = (i.commander.id,) if i.commander else ()
        # "Due by" is the deadline (resolved + due_after), not this reminder's own due time,
        # which moves on with every repeat.
        deadline = (i.resolved_at or due) + self.policy.postmortem_due
        late = f" (overdue by {format_duration(now - deadline)})" if now > deadline else ""
        msg = self.views.postmortem_reminder(i, now, utc_stamp(deadline) + late, mentions)
        return (
            new,
            [TimelineEntry(now, "reminder", "post-mortem due")],
            [thread(new, msg)],
            Reply(),
        )

    def paging_failed(self, notice: Notice, error: str, *, permanent: bool = False) -> Mutation:
        """Says loudly in the thread that a page did not go out, naming the pager and why:
        `PAGING FAILED — <pager>: <reason> — page <contacts> manually`, and whether the bot
        keeps retrying (a transient failure) or gave the page up (`permanent`)."""
        contacts = tuple(g for g in notice.data.get("contacts", "").split(",") if g)
        ids = self.policy.resolve_contacts(contacts)
        reason = " ".join(error.split())[:200] or "unknown error"

        def m(i: Incident, now: datetime) -> Outcome:
            msg = self.views.paging_failed(i, notice.channel, reason, contacts, ids, permanent)
            what = "refused" if permanent else "failed"
            entry = TimelineEntry(now, "page", f"paging via {notice.channel} {what}")
            return i, [entry], [thread(i, msg)], Reply()

        return m
