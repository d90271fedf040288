"""The dispatcher: one job, armed at the soonest due time found in the database.

Why one dispatcher rather than one job per session: the database is the source of truth for
what is due (``sessions.next_due_at``, indexed), so a restart arms exactly one job and is done;
memory does not grow with the number of running sessions; and every wake-up fetches all due
sessions in one indexed query and works through them concurrently.

Each due session is stepped through the policy (``nudges.decide``) until it says "wait": a
message to send is first *claimed* in storage (the primary key on (session, slot) makes a
second claim impossible), then sent, then confirmed. The claim re-checks, in its transaction,
that the session still runs and is not paused; the policy checked the 8-message budget and the
5-minute gap against the recorded deliveries. A crash between claim and confirm leaves the
claim counted as sent: at most once, never twice.

APScheduler's ``misfire_grace_time`` is set to None on purpose: the job must run however late
it is (after a suspend, say), because lateness is judged per message by the policy, which drops
what is too late instead of sending a burst.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ContextTypes, Job, JobQueue

from bot import texts
from bot.service import FocusService
from bot.timefmt import zone
from nudges import (
    Drop,
    Finish,
    Idle,
    PauseExpired,
    Plan,
    Send,
    SessionState,
    Slot,
    SlotKind,
    Wait,
    decide,
)
from storage import Session

__all__ = ["DispatchReport", "Dispatcher"]

log = logging.getLogger(__name__)

JOB_NAME = "focus-dispatch"
SUMMARY_RETRY = timedelta(seconds=30)
"""How long a summary that surely failed, or a session whose step raised, waits to retry."""
_MAX_STEPS = 64  # a session takes a handful of steps per wake-up; this only stops a bug looping


@dataclass
class DispatchReport:
    """What one dispatcher run did (for logs, tests and the benchmark)."""

    sessions: int = 0
    sent: int = 0
    dropped: int = 0
    finished: int = 0
    summaries: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class Dispatcher:
    """Sends what the policy decides, when it is due, to every running session."""

    def __init__(
        self,
        service: FocusService,
        bot: Bot,
        job_queue: JobQueue[ContextTypes.DEFAULT_TYPE] | None,
        *,
        batch: int = 500,
        concurrency: int = 64,
    ) -> None:
        self.service = service
        self.repo = service.repo
        self.clock = service.clock
        self.bot = bot
        self.job_queue = job_queue
        self.batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        self._run_lock = asyncio.Lock()
        self._job: Job[ContextTypes.DEFAULT_TYPE] | None = None
        self._armed_at: datetime | None = None

    # --- arming -------------------------------------------------------------------------

    def arm(self, when: datetime | None) -> None:
        """Make sure the dispatcher runs no later than ``when``."""
        if when is None or self.job_queue is None:
            return
        if self._armed_at is not None and self._armed_at <= when and self._job is not None:
            return
        if self._job is not None:
            self._job.schedule_removal()
        delay = max(0.0, (when - self.clock.now()).total_seconds())
        self._armed_at = when
        self._job = self.job_queue.run_once(
            self._on_job,
            when=delay,
            name=JOB_NAME,
            job_kwargs={"misfire_grace_time": None, "coalesce": True},
        )

    async def _on_job(self, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """The job's callback: run everything that is due."""
        await self.run_due()

    # --- running ------------------------------------------------------------------------

    async def run_due(self) -> DispatchReport:
        """Process every session that is due now, then re-arm at the soonest due time."""
        report = DispatchReport()
        async with self._run_lock:
            self._job, self._armed_at = None, None
            while True:
                due = await self.repo.due_sessions(self.clock.now(), self.batch)
                if due:
                    await asyncio.gather(*(self._guarded(s, report) for s in due))
                    report.sessions += len(due)
                for session_id in await self.repo.pending_summaries(self.batch):
                    report.summaries += await self.send_summary(session_id)
                if len(due) < self.batch:
                    break
            soonest = await self.repo.soonest_due()
            self.arm(soonest)
        if report.sent or report.dropped or report.finished:
            log.info(
                "dispatch: %d sessions, %d sent, %d dropped, %d finished",
                report.sessions,
                report.sent,
                report.dropped,
                report.finished,
            )
        return report

    async def _guarded(self, session: Session, report: DispatchReport) -> None:
        async with self._slots:
            try:
                await self._step(session, report)
            except Exception:
                # One broken session must not stop the others; it is looked at again
                # later (unconditionally: a version check here could leave it due forever).
                log.exception("dispatch failed for session %d", session.id)
                await self.repo.defer(session.id, self.clock.now() + SUMMARY_RETRY)

    async def _step(self, session: Session, report: DispatchReport) -> None:
        """Step one session through the policy until it says wait."""
        current: Session | None = session
        for _ in range(_MAX_STEPS):
            if current is None or not current.running:
                return
            state, plan, limits = await self.service.load_state(current)
            now = self.clock.now()
            decision = decide(state, limits, now)
            if isinstance(decision, Wait):
                planned_end = None if state.paused_at is not None else state.wall(plan.total)
                await self.repo.reschedule(current.id, current.version, planned_end, decision.until)
                return
            if isinstance(decision, Idle):
                return
            if isinstance(decision, Drop):
                await self.repo.drop(
                    current.id,
                    decision.slot.key,
                    decision.slot.kind,
                    decision.due_at,
                    now,
                    decision.reason,
                )
                report.dropped += 1
                report.reasons[decision.reason] = report.reasons.get(decision.reason, 0) + 1
            elif isinstance(decision, Send):
                if await self.repo.claim(
                    current.id, decision.slot.key, decision.slot.kind, decision.due_at, now
                ):
                    report.sent += await self._deliver(current, decision.slot, state, plan)
            elif isinstance(decision, Finish | PauseExpired):
                if await self.service.finish(current, state, plan, decision) is not None:
                    report.finished += 1
                    report.summaries += await self.send_summary(current.id)
                return
            current = await self.repo.get_session(current.id)
        log.error("session %d did not settle in %d steps", session.id, _MAX_STEPS)

    async def _deliver(self, session: Session, slot: Slot, state: SessionState, plan: Plan) -> int:
        """Send a claimed proactive message; confirm it, or drop it if it surely failed."""
        tz = zone(await self.service.timezone_of(session.user_id))
        markup: InlineKeyboardMarkup | None = None
        if slot.kind is SlotKind.CHECKIN:
            text, markup = texts.checkin_message(session)
        elif slot.kind is SlotKind.BREAK:
            until = state.wall(plan.break_end(slot.offset))
            text = texts.break_message(session, until, tz)
        else:
            text = texts.back_message(session)
        now = self.clock.now()
        try:
            message = await self.bot.send_message(
                session.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        except (Forbidden, BadRequest) as error:
            await self.repo.drop(session.id, slot.key, slot.kind, now, now, f"rejected: {error}")
            return 0
        except TimedOut:
            # It may have arrived: leave the claim standing (counted as sent), never resend.
            log.warning("session %d: %s timed out; not retried", session.id, slot.key)
            return 0
        except (RetryAfter, NetworkError) as error:
            await self.repo.drop(
                session.id, slot.key, slot.kind, now, now, f"not delivered: {error}"
            )
            return 0
        await self.repo.confirm(
            session.id, slot.key, slot.kind, message.message_id, self.clock.now()
        )
        return 1

    async def send_summary(self, session_id: int) -> int:
        """Send a session's summary if it is pending; 1 if this call sent it."""
        now = self.clock.now()
        if not await self.repo.claim_summary(session_id, now):
            return 0
        session = await self.repo.get_session(session_id)
        if session is None:
            return 0
        view = await self.service.summary(session)
        tz = zone(await self.service.timezone_of(session.user_id))
        text, markup = texts.summary_message(view, tz)
        try:
            message = await self.bot.send_message(
                session.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        except (Forbidden, BadRequest) as error:
            await self.repo.drop(session.id, "summary", "summary", now, now, f"rejected: {error}")
            return 0
        except TimedOut:
            log.warning("session %d: summary timed out; not retried", session.id)
            return 0
        except (RetryAfter, NetworkError):
            # Surely not delivered: back to pending, tried again shortly.
            await self.repo.release_summary(session.id, self.clock.now())
            self.arm(self.clock.now() + SUMMARY_RETRY)
            return 0
        await self.repo.confirm(
            session.id, "summary", "summary", message.message_id, self.clock.now()
        )
        await self.close_card(session)
        return 1

    async def close_card(self, session: Session) -> None:
        """Take the buttons off an ended session's start card (best effort)."""
        if session.card_message_id is None:
            return
        try:
            await self.bot.edit_message_reply_markup(
                session.chat_id, session.card_message_id, reply_markup=None
            )
        except TelegramError as error:
            log.debug("card of session %d not updated: %s", session.id, error)
