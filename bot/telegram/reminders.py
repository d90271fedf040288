"""The reminders' dispatcher: a second job, with its own fixed id, armed at the soonest
reminder or weekly review found in the database.

Why a second job rather than folding reminders into the sessions' dispatcher: the two read
different rows (``routine.next_remind_at`` / ``next_review_at`` against
``sessions.next_due_at``), keep different guardrails (one a day, a 30-minute late window,
the unanswered count, against a session's 5-minute gap and 8-message budget) and run on
different scales (times of day, against session time under ``FOCUS_TIME_SCALE``). Kept apart,
the sessions' dispatcher — its one indexed query per wake-up, its measured rates — stays as it
was, and neither can delay the other. Like it, this holds nothing in memory that matters: a
restart arms the job at the soonest row, and every decision is claimed in storage (unique per
person, local day and kind) before its message is sent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ContextTypes, JobQueue

from bot.core.insights import Period
from bot.core.routine import ReminderDue
from bot.core.service import FocusService
from bot.telegram import texts
from bot.telegram.arming import OneJob
from bot.telegram.chats import send_following
from bot.telegram.dispatcher import chat_gone, surely_not_sent
from bot.telegram.ratelimit import Admit, Lane, NotAdmitted
from nudges import limits as product
from storage import ReminderKind, Routine

__all__ = ["JOB_NAME", "ReminderDispatcher", "ReminderReport"]

log = logging.getLogger(__name__)

JOB_NAME = "focus-reminders"
_WEEK: Period = "week"


@dataclass
class ReminderReport:
    """What one run did (for logs and tests)."""

    routines: int = 0
    sent: int = 0
    reviews: int = 0


class ReminderDispatcher:
    """Sends the reminders and weekly reviews that are due, each claimed first."""

    def __init__(
        self,
        service: FocusService,
        bot: Bot,
        job_queue: JobQueue[ContextTypes.DEFAULT_TYPE] | None,
        *,
        batch: int = 200,
        max_batches: int = 20,
    ) -> None:
        self.service = service
        self.clock = service.clock
        self.bot = bot
        self.batch = batch
        self.max_batches = max_batches
        self._run_lock = asyncio.Lock()
        self.job = OneJob(job_queue, JOB_NAME, self.clock, self._on_job)

    def arm(self, when: datetime | None) -> None:
        """Make sure the job runs no later than ``when`` (one job: see ``OneJob``)."""
        self.job.arm(when)

    async def _on_job(self, _context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.run_due()

    async def run_due(self) -> ReminderReport:
        """Handle every due reminder and review, then re-arm at the soonest (whatever
        happens in between: the job never stops)."""
        report = ReminderReport()
        async with self._run_lock:
            self.job.fired()
            try:
                for _ in range(self.max_batches):
                    due = await self.service.due_routines(self.batch)
                    for routine in due:
                        await self._guarded(routine, report)
                    report.routines += len(due)
                    if len(due) < self.batch:
                        break
            finally:
                self.arm(await self.service.soonest_routine())
        return report

    async def _guarded(self, routine: Routine, report: ReminderReport) -> None:
        try:
            reminder = await self.service.reminder_due(routine)
            if reminder is not None:
                report.sent += await self._send(reminder)
            review = await self.service.review_due(routine)
            if review is not None:
                report.reviews += await self._send(review)
        except Exception:
            # One person's broken routine must not stop the others': looked at again soon.
            log.exception("reminders failed for user %d", routine.user_id)
            await self.service.defer_routine(routine, self.clock.now() + product.REMINDER_RETRY)

    async def _send(self, due: ReminderDue) -> int:
        """Render one decided message, claim it once the rate limiter admits it (nothing
        claimed waits in a queue: a crash can then cut only the request in flight), send it
        and record how it went. 1 if sent."""

        async def admit() -> bool:
            return await self.service.claim_due(due)

        try:
            if due.kind is ReminderKind.REVIEW:
                message_id = await self._send_review(due, admit)
            else:
                text, markup = texts.keep_question(due) if due.ask else texts.reminder_message(due)
                _, message_id = await send_following(
                    self.bot,
                    self.service.store,
                    due.chat_id,
                    text,
                    markup,
                    lane=Lane.PROACTIVE,
                    admit=admit,
                )
        except NotAdmitted:
            return 0  # storage said no at the last moment: recorded, the next one scheduled
        except TelegramError as error:
            if chat_gone(error):  # blocked: nothing more goes to that chat
                await self.service.set_reminder(due.user_id, None, weekdays=False)
                await self.service.set_review(due.user_id, False)
            if surely_not_sent(error):
                retry = not isinstance(error, BadRequest | Forbidden)
                await self.service.reminder_failed(due, f"not delivered: {error}", retry=retry)
            else:
                log.warning("reminder for user %d: outcome unknown; not resent", due.user_id)
                await self.service.reminder_unknown(due)
            return 0
        await self.service.reminder_sent(due, message_id)
        return 1

    async def _send_review(self, due: ReminderDue, admit: Admit) -> int:
        """The weekly review: the week's numbers and goal, then its chart (best effort)."""
        stats = await self.service.stats(due.user_id, _WEEK)
        routine = await self.service.routine_of(due.user_id)
        review = texts.review_text(stats, routine.goal_minutes)
        store = self.service.store
        chat_id, message_id = await send_following(
            self.bot, store, due.chat_id, review, lane=Lane.PROACTIVE, admit=admit
        )
        # matplotlib only when a chart is drawn (see handlers.account.stats).
        from bot.telegram.charts import render_stats_chart

        goal = routine.goal_minutes
        chart = await asyncio.to_thread(render_stats_chart, stats, "Your week", goal)
        if chart is not None:
            try:
                await self.bot.send_photo(chat_id, chart, filename="focus-week.png")
            except TelegramError as error:
                log.info("weekly review chart for user %d not sent: %s", due.user_id, error)
        return message_id
