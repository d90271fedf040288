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

import httpx
from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.ext import ContextTypes, JobQueue

from bot import texts
from bot.service import FocusService
from bot.timefmt import zone
from nudges import Drop, Idle, Limits, Plan, Send, SessionState, Slot, SlotKind, Wait, decide
from storage import SUMMARY_SLOT, Session

__all__ = ["DispatchReport", "Dispatcher", "chat_gone", "surely_not_sent"]

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

    def count_drop(self, reason: str) -> None:
        """Count a dropped message under its reason."""
        self.dropped += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def chat_gone(error: TelegramError) -> bool:
    """Whether the chat can no longer be written to: the user blocked the bot, left or was
    deleted, or the bot was removed from the group."""
    if isinstance(error, Forbidden):
        return True
    return isinstance(error, BadRequest) and "chat not found" in error.message.lower()


def surely_not_sent(error: TelegramError) -> bool:
    """Whether a failed send certainly did not reach the chat.

    Telegram's own refusals (400, 403, 429, a migrated chat) and failures to connect mean
    nothing was delivered. Anything else — a 5xx, a dropped connection, a read timeout —
    may have been delivered before it failed, so it counts as sent and is never retried.
    """
    if isinstance(error, BadRequest | Forbidden | RetryAfter | ChatMigrated):
        return True
    return isinstance(
        error.__cause__, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
    )


class Dispatcher:
    """Sends what the policy decides, when it is due, to every running session."""

    def __init__(
        self,
        service: FocusService,
        bot: Bot,
        job_queue: JobQueue[ContextTypes.DEFAULT_TYPE] | None,
        *,
        batch: int = 500,
        # 8, not more: it is as fast (the work is serialised on one SQLite connection anyway)
        # and a SIGKILL then interrupts at most 8 claims mid-send (measured 7 vs 24-43).
        concurrency: int = 8,
        max_batches: int = 20,
    ) -> None:
        self.service = service
        self.repo = service.repo
        self.clock = service.clock
        self.bot = bot
        self.job_queue = job_queue
        self.batch = batch
        self.max_batches = max_batches
        self._slots = asyncio.Semaphore(concurrency)
        self._run_lock = asyncio.Lock()
        self._armed_at: datetime | None = None
        self._gone_chats: set[int] = set()

    # --- arming -------------------------------------------------------------------------

    def arm(self, when: datetime | None) -> None:
        """Make sure the dispatcher runs no later than ``when``.

        There is only ever one job: it has a fixed id and each arming replaces it.
        """
        if when is None or self.job_queue is None:
            return
        armed = self._armed_at is not None and self._armed_at <= when
        if armed and self.job_queue.scheduler.get_job(JOB_NAME) is not None:
            return
        delay = max(0.0, (when - self.clock.now()).total_seconds())
        self._armed_at = when
        self.job_queue.run_once(
            self._on_job,
            when=delay,
            name=JOB_NAME,
            job_kwargs={
                "id": JOB_NAME,
                "replace_existing": True,
                "misfire_grace_time": None,
                "coalesce": True,
                # Re-armed from inside its own run (a backlog: "again, now"), the job fires
                # while that run is finishing. With APScheduler's default of one instance it
                # would be skipped, and a date job skipped is gone: the dispatcher would stop.
                # run_due's lock keeps the runs one at a time anyway.
                "max_instances": 2,
            },
        )

    async def _on_job(self, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """The job's callback: run everything that is due."""
        await self.run_due()

    # --- running ------------------------------------------------------------------------

    async def run_due(self) -> DispatchReport:
        """Process every session that is due now, then re-arm at the soonest due time.

        Re-arming happens whatever goes wrong in between: the dispatcher never stops.
        """
        report = DispatchReport()
        async with self._run_lock:
            self._armed_at = None
            backlog = False
            try:
                for _ in range(self.max_batches):
                    due = await self.repo.due_sessions(self.clock.now(), self.batch)
                    await asyncio.gather(*(self._guarded(s.id, report) for s in due))
                    report.sessions += len(due)
                    if len(due) < self.batch:
                        break
                else:
                    backlog = True  # let handlers in, then carry on right away
                for session_id in await self.repo.pending_summaries(self.clock.now(), self.batch):
                    report.summaries += await self.send_summary(session_id)
                await self._end_sessions_in_gone_chats()
            finally:
                self.arm(self.clock.now() if backlog else await self.repo.soonest_due())
        if report.sent or report.dropped or report.finished:
            log.info(
                "dispatch: %d sessions, %d sent, %d dropped, %d finished",
                report.sessions,
                report.sent,
                report.dropped,
                report.finished,
            )
        return report

    async def _guarded(self, session_id: int, report: DispatchReport) -> None:
        async with self._slots:
            try:
                await self._step(session_id, report)
            except Exception:
                # One broken session must not stop the others; it is looked at again
                # later (unconditionally: a version check here could leave it due forever).
                log.exception("dispatch failed for session %d", session_id)
                await self.repo.defer(session_id, self.clock.now() + SUMMARY_RETRY)

    async def _step(self, session_id: int, report: DispatchReport) -> None:
        """Step one session through the policy until it says wait.

        Each step decides on fresh state under the session's lock, and keeps the lock until
        the message it decided on is confirmed: no pause, stop or erase slips in between.
        """
        for _ in range(_MAX_STEPS):
            async with self.service.locked(session_id):
                session = await self.repo.get_session(session_id)
                if session is None or not session.running:
                    return
                state, plan, limits = await self.service.load_state(session)
                now = self.clock.now()
                decision = decide(state, limits, now)
                if isinstance(decision, Idle):
                    return
                if isinstance(decision, Wait):
                    end = None if state.paused_at is not None else state.wall(plan.total)
                    await self.repo.reschedule(session.id, session.version, end, decision.until)
                    return
                if isinstance(decision, Drop):
                    await self._drop(session, decision.slot, decision.due_at, decision.reason)
                    report.count_drop(decision.reason)
                    continue
                if isinstance(decision, Send):
                    sent = await self._send(session, decision, state, plan, limits)
                    if sent is None:  # a passing failure: try again shortly, in its window
                        await self.repo.defer(session.id, now + limits.late_window / 4)
                        return
                    report.sent += sent
                    continue
                ended = await self.service.finish(session, state, plan, decision)
            if ended is not None:
                report.finished += 1
                report.summaries += await self.send_summary(session_id)
            return
        log.error("session %d did not settle in %d steps", session_id, _MAX_STEPS)
        await self.repo.defer(session_id, self.clock.now() + SUMMARY_RETRY)

    async def _end_sessions_in_gone_chats(self) -> None:
        """End, without a summary, every running session in a chat that refused us for good.

        Done after the run's sessions were stepped, each under its own lock in turn: taking
        other sessions' locks while holding one could deadlock.
        """
        while self._gone_chats:
            chat_id = self._gone_chats.pop()
            for session_id in await self.repo.running_in_chat(chat_id):
                if await self.service.abandon(session_id, "chat unreachable") is not None:
                    log.info("session %d ended quietly: its chat is gone", session_id)

    async def _drop(self, session: Session, slot: Slot, due_at: datetime, reason: str) -> None:
        await self.repo.drop(session.id, slot.key, slot.kind, due_at, self.clock.now(), reason)

    async def _send(
        self, session: Session, decision: Send, state: SessionState, plan: Plan, limits: Limits
    ) -> int | None:
        """Render, claim, send, confirm one proactive message: 1 if it was delivered, 0 if
        not (recorded), None if it surely was not sent for a passing reason (no connection,
        a flood wait): then the claim is withdrawn, to try again within the window."""
        slot = decision.slot
        text, markup = await self._render(session, slot, state, plan)  # before the claim
        claimed = await self.repo.claim(
            session.id,
            slot.key,
            slot.kind,
            decision.due_at,
            self.clock.now(),
            max_messages=limits.max_messages,
            min_gap=limits.min_gap,
        )
        if not claimed:
            # Storage refused (budget, gap, or recorded meanwhile): record why, move on.
            await self._drop(session, slot, decision.due_at, "refused by the send gate")
            return 0
        try:
            message = await self.bot.send_message(
                session.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        except TelegramError as error:
            if chat_gone(error):
                self._gone_chats.add(session.chat_id)
            if surely_not_sent(error) and not isinstance(error, BadRequest | Forbidden):
                await self.repo.unclaim(session.id, slot.key)
                log.info(
                    "session %d: %s not sent (%s); retrying",
                    session.id,
                    slot.key,
                    type(error).__name__,
                )
                return None
            if surely_not_sent(error):
                await self._drop(session, slot, decision.due_at, f"not delivered: {error}")
            else:
                log.warning(
                    "session %d: %s outcome unknown (%s); counted as sent",
                    session.id,
                    slot.key,
                    type(error).__name__,
                )
            return 0
        await self.repo.confirm(
            session.id, slot.key, slot.kind, message.message_id, self.clock.now()
        )
        return 1

    async def _render(
        self, session: Session, slot: Slot, state: SessionState, plan: Plan
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        """The text and buttons of a proactive message."""
        if slot.kind is SlotKind.CHECKIN:
            return texts.checkin_message(session, slot.key)
        if slot.kind is SlotKind.BREAK:
            tz = zone(await self.service.timezone_of(session.user_id))
            return texts.break_message(session, state.wall(plan.break_end(slot.offset)), tz), None
        return texts.back_message(session), None

    async def send_summary(self, session_id: int) -> int:
        """Send a session's summary if it is pending; 1 if this call sent it."""
        session = await self.repo.get_session(session_id)
        if session is None:
            return 0
        view = await self.service.summary(session)
        tz = zone(await self.service.timezone_of(session.user_id))
        text, markup = texts.summary_message(view, tz)
        if not await self.repo.claim_summary(session_id, self.clock.now()):
            return 0
        try:
            message = await self.bot.send_message(
                session.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        except TelegramError as error:
            now = self.clock.now()
            if isinstance(error, BadRequest | Forbidden | ChatMigrated):
                if chat_gone(error):
                    self._gone_chats.add(session.chat_id)
                await self.repo.drop(
                    session.id, SUMMARY_SLOT, SUMMARY_SLOT, now, now, f"rejected: {error}"
                )
            elif surely_not_sent(error):
                # Not delivered for sure (flood wait, no connection): back to pending,
                # tried again shortly.
                await self.repo.release_summary(session.id, now, now + SUMMARY_RETRY)
                self.arm(now + SUMMARY_RETRY)
            else:
                log.warning(
                    "session %d: summary outcome unknown (%s); not resent",
                    session.id,
                    type(error).__name__,
                )
            return 0
        await self.repo.confirm(
            session.id, SUMMARY_SLOT, SUMMARY_SLOT, message.message_id, self.clock.now()
        )
        await self.close_card(session)
        return 1

    async def close_card(self, session: Session) -> None:
        """Show an ended session's start card as ended, without buttons (best effort)."""
        if session.card_message_id is None:
            return
        tz_name = await self.service.timezone_of(session.user_id)
        card = texts.start_card(session, zone(tz_name), tz_name, checkins=False)
        try:
            await self.bot.edit_message_text(
                card, session.chat_id, session.card_message_id, parse_mode=ParseMode.HTML
            )
        except TelegramError as error:
            log.debug("card of session %d not updated: %s", session.id, error)
