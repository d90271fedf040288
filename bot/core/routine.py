"""Around the sessions: the daily goal, the reminder to start, quiet hours, the weekly review.

Telegram-free use cases. The rules of *when* are pure (``nudges.reminders``); storage keeps
the routine and every reminder as a row, claimed before it is sent; this joins the two and
keeps ``next_remind_at`` / ``next_review_at`` — the rows the reminders' dispatcher wakes up
for — in step with every change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from bot.core.base import ServiceBase
from bot.core.timefmt import local_date, zone
from nudges import limits as product
from nudges.reminders import (
    QuietWindow,
    ReviewRule,
    local_instant,
    next_reminder,
    next_review,
    week_key,
)
from storage import ReminderKind, Routine, Session, Storage

__all__ = [
    "GoalProgress",
    "ReminderDue",
    "RoutineUseCases",
    "goal_after_session",
    "goal_today",
]


@dataclass(frozen=True)
class GoalProgress:
    """Today's focus against the daily goal, in nominal minutes."""

    goal_minutes: int
    done_minutes: float
    before_minutes: float | None = None  # before this session (summaries only)

    @property
    def met(self) -> bool:
        """The goal is reached today."""
        return self.done_minutes >= self.goal_minutes

    @property
    def just_met(self) -> bool:
        """This session reached it: the one congratulation of the day."""
        return (
            self.met and self.before_minutes is not None and self.before_minutes < self.goal_minutes
        )


@dataclass(frozen=True)
class ReminderDue:
    """A reminder, question or weekly review due now: decided, to be claimed in storage
    (``RoutineUseCases.claim_due``) only once the rate limiter admits its message."""

    user_id: int
    kind: ReminderKind
    day: date
    key: str  # the row's day: '2026-03-09', or the review's week '2026-W11'
    due_at: datetime
    ask: bool = False  # the "keep reminding you?" question instead of a reminder
    usual_minutes: int | None = None  # the second start button, when not the first's length
    day_start: datetime | None = None  # a reminder: none once a session started since then

    @property
    def chat_id(self) -> int:
        """Reminders and reviews go to the person's private chat (its id is theirs)."""
        return self.user_id


def _day_start(day: date, tz: tzinfo) -> datetime:
    return local_instant(day, 0, tz)


async def goal_today(
    store: Storage, user_id: int, tz: tzinfo, now: datetime, *, running: timedelta | None = None
) -> GoalProgress | None:
    """Today's progress (``running``: the focus so far of a running session); None without
    a goal."""
    routine = await store.reminders.routine(user_id)
    if routine.goal_minutes is None:
        return None
    since = _day_start(local_date(now, tz), tz)
    facts = await store.reports.session_facts(user_id, since, now, few=True)
    done = sum(f.focused_minutes for f in facts)
    extra = 0.0 if running is None else running.total_seconds() / 60
    return GoalProgress(routine.goal_minutes, done + extra)


async def goal_after_session(
    store: Storage, session: Session, tz: tzinfo, now: datetime
) -> GoalProgress | None:
    """Today's progress as a summary shows it, with what stood before this session (so the
    summary of the session that reached the goal, and only it, congratulates)."""
    progress = await goal_today(store, session.user_id, tz, now)
    if progress is None:
        return None
    today = local_date(now, tz)
    this = session.focused_minutes() if local_date(session.started_at, tz) == today else 0.0
    return GoalProgress(progress.goal_minutes, progress.done_minutes, progress.done_minutes - this)


def _ignore_wake(_when: datetime | None) -> None:
    """The port before the wiring sets the real one."""


class RoutineUseCases(ServiceBase):
    """The goal, reminders, quiet hours and weekly review of each person."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Told when a reminder or review is scheduled (the wiring arms the dispatcher).
        self.routine_wake: Callable[[datetime | None], None] = _ignore_wake

    async def routine_of(self, user_id: int) -> Routine:
        """The person's routine."""
        return await self.store.reminders.routine(user_id)

    async def _zone(self, user_id: int) -> tzinfo:
        return zone(await self.timezone_of(user_id))

    async def goal_progress(
        self, user_id: int, *, running: timedelta | None = None
    ) -> GoalProgress | None:
        """Today's focus against the goal (``running``: a running session's focus so far)."""
        tz = await self._zone(user_id)
        return await goal_today(self.store, user_id, tz, self.clock.now(), running=running)

    # --- settings -------------------------------------------------------------------------

    async def set_goal(self, user_id: int, minutes: int | None) -> Routine:
        """Set (or, with None, remove) the daily goal."""
        return await self.store.reminders.update_routine(
            user_id, self.clock.now(), goal_minutes=minutes
        )

    async def set_reminder(self, user_id: int, minute: int | None, *, weekdays: bool) -> Routine:
        """Set the reminder's local time (None: off); answering for it clears a hold."""
        now = self.clock.now()
        await self.store.reminders.update_routine(
            user_id, now, remind_minute=minute, remind_weekdays=weekdays, remind_held=False
        )
        if minute is not None:  # a fresh start: earlier reminders count as answered
            await self.store.reminders.answer_reminders(user_id, now)
        return await self.reschedule_routine(user_id)

    async def set_quiet(self, user_id: int, window: QuietWindow | None) -> Routine:
        """Set (or remove) quiet hours; reminders and the review move with them."""
        await self.store.reminders.update_routine(
            user_id,
            self.clock.now(),
            quiet_start=None if window is None else window.start,
            quiet_end=None if window is None else window.end,
        )
        return await self.reschedule_routine(user_id)

    async def set_quiet_checkins(self, user_id: int, on: bool) -> Routine:
        """Whether sessions started in quiet hours have check-ins."""
        return await self.store.reminders.update_routine(
            user_id, self.clock.now(), quiet_checkins=on
        )

    async def set_review(self, user_id: int, on: bool) -> Routine:
        """Turn the weekly review on or off."""
        await self.store.reminders.update_routine(user_id, self.clock.now(), review=on)
        return await self.reschedule_routine(user_id)

    async def set_review_time(self, user_id: int, weekday: int, minute: int) -> Routine:
        """Turn the weekly review on at a weekday (Monday 0) and local minute; the next one
        is planned from the new setting (this ISO week's, if already sent, is not again)."""
        ReviewRule(weekday, minute)  # valid, or ValueError before anything is stored
        await self.store.reminders.update_routine(
            user_id, self.clock.now(), review=True, review_weekday=weekday, review_minute=minute
        )
        return await self.reschedule_routine(user_id)

    async def reschedule_routine(self, user_id: int) -> Routine:
        """Compute the next reminder and review from now (after any change: a setting, the
        timezone). A day already handled is never sent again: its row says so."""
        routine = await self.store.reminders.routine(user_id)
        tz, now = await self._zone(user_id), self.clock.now()
        remind = self._next_remind(routine, tz, now, None)
        review = self._next_review(routine, tz, now, None)
        updated = await self.store.reminders.update_routine(
            user_id, now, next_remind_at=remind, next_review_at=review
        )
        for when in (remind, review):
            self.routine_wake(when)
        return updated

    def _next_remind(
        self, routine: Routine, tz: tzinfo, now: datetime, after: date | None
    ) -> datetime | None:
        rule = routine.reminder
        if rule is None or routine.remind_held:
            return None
        found = next_reminder(rule, tz, routine.quiet, now, after_day=after)
        return None if found is None else found.at

    def _next_review(
        self, routine: Routine, tz: tzinfo, now: datetime, after: date | None
    ) -> datetime | None:
        if not routine.review:
            return None
        return next_review(routine.review_rule, tz, routine.quiet, now, after_day=after).at

    async def checkins_allowed(self, user_id: int) -> bool:
        """False when a session starting now falls in the person's quiet hours (they chose
        to start: it runs, without check-ins unless they turned them on)."""
        routine = await self.store.reminders.routine(user_id)
        quiet = routine.quiet
        if quiet is None or routine.quiet_checkins:
            return True
        return not quiet.holds(self.clock.now(), await self._zone(user_id))

    # --- the dispatcher's side ------------------------------------------------------------

    async def due_routines(self, limit: int) -> list[Routine]:
        """Routines with a reminder or review due now."""
        return await self.store.reminders.due_routines(self.clock.now(), limit)

    async def soonest_routine(self) -> datetime | None:
        """When the next reminder or review is due."""
        return await self.store.reminders.soonest_routine()

    async def defer_routine(self, routine: Routine, until: datetime) -> None:
        """Look at a routine whose handling raised again no sooner than ``until`` (its due
        times stay what they were otherwise: lateness is judged from the rule, not these)."""
        now = self.clock.now()
        fields: dict[str, object] = {}
        if routine.next_remind_at is not None and routine.next_remind_at <= now:
            fields["next_remind_at"] = until
        if routine.next_review_at is not None and routine.next_review_at <= now:
            fields["next_review_at"] = until
        if fields:
            await self.store.reminders.update_routine(routine.user_id, now, **fields)

    async def reminder_due(self, routine: Routine) -> ReminderDue | None:
        """Decide about a due reminder: drop it (late after downtime, quiet hours) and
        schedule the next, or return it to send now — claimed by ``claim_due`` once the rate
        limiter lets its message through, so nothing claimed waits in a queue."""
        due, rule, user_id = routine.next_remind_at, routine.reminder, routine.user_id
        now = self.clock.now()
        if due is None or due > now:
            return None
        tz = await self._zone(user_id)
        if rule is None or routine.remind_held:
            await self.store.reminders.update_routine(user_id, now, next_remind_at=None)
            return None
        day = local_date(due, tz)
        expected = local_instant(day, rule.minute, tz)
        if not rule.applies(day) or not expected <= due <= expected + product.REMINDER_LATE_WINDOW:
            # Scheduled under settings or a zone that changed since: schedule afresh.
            await self.reschedule_routine(user_id)
            return None
        key = day.isoformat()
        quiet = routine.quiet
        if now - expected > product.REMINDER_LATE_WINDOW:
            reason = "late: the bot was not running at its time"
        elif quiet is not None and quiet.holds(expected, tz):
            reason = "quiet hours"
        else:
            ask = await self.store.reminders.unanswered_in_row(user_id) >= (
                product.IGNORED_REMINDERS
            )
            return ReminderDue(
                user_id,
                ReminderKind.REMIND,
                day,
                key,
                expected,
                ask=ask,
                usual_minutes=None if ask else await self.usual_minutes(user_id),
                day_start=_day_start(day, tz),
            )
        await self.store.reminders.drop_reminder(
            user_id, key, ReminderKind.REMIND, expected, now, reason
        )
        await self._after(routine, day, tz, kind=ReminderKind.REMIND)
        return None

    async def review_due(self, routine: Routine) -> ReminderDue | None:
        """Decide about a due weekly review: drop it (late, a week without a session) and
        schedule the next, or return it to send now (claimed by ``claim_due``, once per ISO
        week)."""
        due, user_id = routine.next_review_at, routine.user_id
        now = self.clock.now()
        if due is None or due > now:
            return None
        tz = await self._zone(user_id)
        if not routine.review:
            await self.store.reminders.update_routine(user_id, now, next_review_at=None)
            return None
        day = local_date(due, tz)
        rule = routine.review_rule
        expected = local_instant(day, rule.moved_out_of(routine.quiet), tz)
        if day.weekday() != rule.weekday or not (
            expected <= due <= expected + product.REMINDER_LATE_WINDOW
        ):
            await self.reschedule_routine(user_id)
            return None
        key = week_key(day)
        if now - expected > product.REMINDER_LATE_WINDOW:
            reason = "late: the bot was not running at its time"
        elif not await self.store.reports.session_facts(
            user_id, expected - timedelta(days=7), expected, few=True
        ):
            reason = "no session this week"
        else:
            return ReminderDue(user_id, ReminderKind.REVIEW, day, key, expected)
        await self.store.reminders.drop_reminder(
            user_id, key, ReminderKind.REVIEW, expected, now, reason
        )
        await self._after(routine, day, tz, kind=ReminderKind.REVIEW)
        return None

    async def claim_due(self, due: ReminderDue) -> bool:
        """Claim a decided reminder or review, right before its message is sent; False when
        storage says no (a session started meanwhile, they focused today, a restart or retry
        handled it already) — then it is recorded as dropped and the next is scheduled."""
        now = self.clock.now()
        reason = await self.store.reminders.claim_reminder(
            due.user_id, due.key, due.kind, due.due_at, now, ask=due.ask, day_start=due.day_start
        )
        if reason is None:
            return True
        if reason != "already handled":
            await self.store.reminders.drop_reminder(
                due.user_id, due.key, due.kind, due.due_at, now, reason
            )
        routine = await self.store.reminders.routine(due.user_id)
        await self._after(routine, due.day, await self._zone(due.user_id), kind=due.kind)
        return False

    async def reminder_sent(self, due: ReminderDue, message_id: int | None) -> None:
        """Confirm a sent reminder and schedule the next (none after the question: they are
        held until the person answers it)."""
        now = self.clock.now()
        await self.store.reminders.confirm_reminder(due.user_id, due.key, due.kind, message_id, now)
        await self._settle(due, held=due.ask)

    async def reminder_failed(self, due: ReminderDue, reason: str, *, retry: bool) -> None:
        """A send that surely did not happen: tried again shortly while inside its window
        (``retry``), else recorded as dropped; the next is scheduled either way."""
        now = self.clock.now()
        if retry and now + product.REMINDER_RETRY - due.due_at <= product.REMINDER_LATE_WINDOW:
            await self.store.reminders.unclaim_reminder(due.user_id, due.key, due.kind)
            field = "next_remind_at" if due.kind is ReminderKind.REMIND else "next_review_at"
            retry_at = now + product.REMINDER_RETRY
            await self.store.reminders.update_routine(due.user_id, now, **{field: retry_at})
            self.routine_wake(retry_at)
            return
        await self.store.reminders.drop_reminder(
            due.user_id, due.key, due.kind, due.due_at, now, reason
        )
        await self._settle(due, held=False)

    async def reminder_unknown(self, due: ReminderDue) -> None:
        """A send whose outcome is unknown counts as sent (never twice): schedule the next."""
        await self._settle(due, held=due.ask)

    async def _settle(self, due: ReminderDue, *, held: bool) -> None:
        routine = await self.store.reminders.routine(due.user_id)
        if held:
            routine = await self.store.reminders.update_routine(
                due.user_id, self.clock.now(), remind_held=True
            )
        await self._after(routine, due.day, await self._zone(due.user_id), kind=due.kind)

    async def _after(self, routine: Routine, day: date, tz: tzinfo, *, kind: ReminderKind) -> None:
        """Schedule the occurrence after ``day`` (from now: missed days are skipped, never
        sent in a burst)."""
        now = self.clock.now()
        if kind is ReminderKind.REMIND:
            when = self._next_remind(routine, tz, now, day)
            await self.store.reminders.update_routine(routine.user_id, now, next_remind_at=when)
        else:
            when = self._next_review(routine, tz, now, day)
            await self.store.reminders.update_routine(routine.user_id, now, next_review_at=when)
        self.routine_wake(when)

    async def usual_minutes(self, user_id: int) -> int | None:
        """The person's usual session length (their most frequent of the last 30 days, else
        their default), when it differs from a reminder's first button."""
        now = self.clock.now()
        facts = await self.store.reports.session_facts(
            user_id, now - product.USUAL_LENGTH_HORIZON, now
        )
        if facts:
            usual = Counter(f.planned_minutes for f in facts).most_common(1)[0][0]
        else:
            usual = (await self.defaults_for(user_id)).minutes
        if usual == product.REMINDER_START_MINUTES or usual not in product.FOCUS_MINUTES:
            return None
        return usual

    # --- the person's answers -------------------------------------------------------------

    async def answer_reminder(self, user_id: int) -> None:
        """A tap on a reminder's button: it (and any before it) was answered."""
        await self.store.reminders.answer_reminders(user_id, self.clock.now())

    async def reminder_started(self, user_id: int, session_id: int) -> None:
        """A reminder's start button started ``session_id``: kept on the reminder (/export's
        ``reminded``)."""
        await self.store.reminders.link_session(user_id, session_id)

    async def keep_reminders(self, user_id: int, keep: bool) -> Routine:
        """The answer to "keep reminding you?": go on, or turn reminders off."""
        await self.answer_reminder(user_id)
        routine = await self.store.reminders.routine(user_id)
        minute = routine.remind_minute if keep else None
        return await self.set_reminder(user_id, minute, weekdays=routine.remind_weekdays)
