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
import enum
import functools
import logging
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.ext import ContextTypes, JobQueue

from bot.core.clock import Resyncable
from bot.core.service import FocusService
from bot.core.timefmt import zone
from bot.telegram import texts
from bot.telegram.arming import BACKSTOP_SLACK, OneJob
from bot.telegram.awake import Awake
from bot.telegram.chats import edit_following, send_following
from bot.telegram.ratelimit import Lane, NotAdmitted
from nudges import (
    DeliveryStatus,
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
from nudges import limits as product
from storage import SUMMARY_SLOT, CardEdit, DeliveryRecord, Reschedule, Session, StorageError

__all__ = ["DispatchReport", "Dispatcher", "chat_gone", "surely_not_sent"]

log = logging.getLogger(__name__)

JOB_NAME = "focus-dispatch"
SUMMARY_RETRY = timedelta(seconds=30)
"""How long a summary that surely failed, or a session whose step raised, waits to retry."""
STORAGE_RETRY_FIRST = timedelta(seconds=1)
STORAGE_RETRY_MAX = timedelta(seconds=60)
"""While storage refuses writes (a full disk, another program's lock), the dispatcher tries
again after 1 s, then twice as long each time, at most a minute apart: a full disk must not
become a busy loop (or a log storm) that keeps the disk full."""
STALLED_AFTER_S = 1.0
"""Seconds a session's one HTTP request may take before a run stops waiting for it: the
session goes on by itself (bounded by the request's timeouts, PTB's 5 s each to connect,
write and read) while the run sends everyone else's messages and summaries on time."""
_DECISION_HOLDS = timedelta(seconds=1)
"""A decision admitted within this is claimed as decided; one that waited longer in the rate
limiter is decided again first (it may have fallen out of its window): the policy's verdict
cannot change in the moment between deciding and claiming, and a second look per message is
work the dispatch rate pays for."""
_WATCH_S = 0.25  # how often a run looks whether all it still waits for are stalled requests
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
    storage_refused: bool = False
    """Storage refused a write (full disk, lock): the run stopped early, to back off."""

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


class _Outcome(enum.Enum):
    """How a send ended, when not with the session's updated records (see ``_send``)."""

    SETTLED = "settled"
    RETRY = "retry"
    STALE = "stale"


def _record(
    session_id: int, slot: Slot, status: DeliveryStatus, at: datetime, decision: Send | Drop
) -> DeliveryRecord:
    """What storage now holds for ``slot``, as the dispatcher's own copy."""
    return DeliveryRecord(
        session_id=session_id,
        slot=slot.key,
        kind=slot.kind,
        status=status,
        due_at=decision.due_at,
        at=at,
        message_id=None,
        reason=None,
    )


def _on_time(decision: Finish | PauseExpired) -> Finish | PauseExpired:
    """The same ending, not announced as late."""
    if isinstance(decision, Finish):
        return Finish(at=decision.at, late=False)
    return PauseExpired(at=decision.at, late=False)


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
        self.store = service.store
        self.clock = service.clock
        self.bot = bot
        self.batch = batch
        self.max_batches = max_batches
        self._slots = asyncio.Semaphore(concurrency)
        self._run_lock = asyncio.Lock()
        self._gone_chats: set[int] = set()
        self._storage_backoff: timedelta | None = None
        self.awake = Awake(self.clock)
        self.started_at = self.awake.started_at
        """When this process's dispatcher started. A session that ended later, outside a
        stretch the process did not run (``awake``), ended while the bot was up: its summary
        never says "sent late" (see ``_step``)."""
        self._busy: dict[int, asyncio.Task[None]] = {}  # a session's step or summary running
        self._left: set[asyncio.Task[None]] = set()  # stalled ones a run stopped waiting for
        self._in_request: dict[int, float] = {}  # session id -> loop time its request began
        # A stalled run is caught well within a message's late window (a quarter of it).
        slack = min(BACKSTOP_SLACK, service.limits.late_window.total_seconds() / 4)
        self.job = OneJob(job_queue, JOB_NAME, self.clock, self._on_job, slack=slack)
        self._summaries_in_flight: Counter[int] = Counter()

    # --- arming -------------------------------------------------------------------------

    def arm(self, when: datetime | None) -> None:
        """Make sure the dispatcher runs no later than ``when`` (one job: see ``OneJob``)."""
        self.job.arm(when)

    async def _on_job(self, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """The job's callback: run everything that is due."""
        await self.run_due()

    # --- running ------------------------------------------------------------------------

    async def run_due(self) -> DispatchReport:
        """Process every session that is due now, then re-arm at the soonest due time.

        Re-arming happens whatever goes wrong in between: the dispatcher never stops.
        """
        report = DispatchReport()
        self.awake.start()
        async with self._run_lock:
            self.job.fired()
            backlog = False
            try:
                for _ in range(self.max_batches):
                    due = await self.store.deliveries.due_work(self.clock.now(), self.batch)
                    fresh = [(s, r) for s, r in due if s.id not in self._busy]
                    await self._run_all({s.id: self._guarded(s, r, report) for s, r in fresh})
                    report.sessions += len(due)
                    if report.storage_refused:
                        raise StorageError("a step's write was refused")
                    if len(due) < self.batch:
                        break
                else:
                    backlog = True  # let handlers in, then carry on right away
                pending = await self.store.deliveries.pending_summaries(
                    self.clock.now(), self.batch
                )
                await self._run_all(
                    {i: self._guarded_summary(i, report) for i in pending if i not in self._busy}
                )
                await self.repair_cards()
                await self._end_sessions_in_gone_chats()
            except StorageError:
                # Told to the operator by storage (a line a minute at most); nothing half
                # written. What was not done is still due in the file: done on a later run.
                report.storage_refused = True
            finally:
                self.arm(await self._next_run(backlog, report))
        if report.sent or report.dropped or report.finished:
            log.info(
                "dispatch: %d sessions, %d sent, %d dropped, %d finished",
                report.sessions,
                report.sent,
                report.dropped,
                report.finished,
            )
        return report

    async def _next_run(self, backlog: bool, report: DispatchReport) -> datetime | None:
        """When to run again: at once for a backlog, later and later while storage refuses
        writes, else at the soonest due time."""
        now = self.clock.now()
        if report.storage_refused:
            last = self._storage_backoff
            backoff = STORAGE_RETRY_FIRST if last is None else min(2 * last, STORAGE_RETRY_MAX)
            self._storage_backoff = backoff
            return now + backoff
        self._storage_backoff = None
        if backlog:
            return now
        try:
            # Not a session still in its stalled request: it is due (unconfirmed) until that
            # ends, and arms the dispatcher itself then (``_done``).
            soonest = await self.store.deliveries.soonest_due(exclude=tuple(self._busy))
            card_edit = await self._next_card_edit(now)
        except Exception:  # the dispatcher must never stop: look again in a minute
            log.exception("could not read the soonest due time")
            return now + STORAGE_RETRY_MAX
        if soonest is None and isinstance(self.clock, Resyncable):
            # Nothing runs: a wall-clock step the clock has kept out so far (see SystemClock)
            # can be taken over now without moving any session's rhythm.
            step = self.clock.resync()
            if step:
                log.warning("the wall clock moved by %+.0f s; taken over", step.total_seconds())
        return _earliest(soonest, card_edit)

    async def _run_all(self, work: dict[int, Coroutine[Any, Any, None]]) -> None:
        """Run sessions' steps (or summaries) side by side, and wait for them — but not for
        those whose request stalled: a slow send holds up only its own session.

        When all that is left are requests in flight for over ``STALLED_AFTER_S``, the run
        goes on without them; each finishes by itself (at the latest at its HTTP timeout:
        fate unknown, counted as sent) and then arms the dispatcher for what it changed.
        """
        tasks: dict[asyncio.Task[None], int] = {}
        for session_id, step in work.items():
            task = asyncio.create_task(step)
            self._busy[session_id] = task
            task.add_done_callback(functools.partial(self._done, session_id))
            tasks[task] = session_id
        waiting = set(tasks)
        while waiting:
            _, waiting = await asyncio.wait(waiting, timeout=_WATCH_S)
            if waiting and all(self._stalled(tasks[task]) for task in waiting):
                log.warning("%d send(s) stalled: the dispatcher goes on without them", len(waiting))
                self._left.update(waiting)
                return

    def _stalled(self, session_id: int) -> bool:
        started = self._in_request.get(session_id)
        loop = asyncio.get_running_loop()
        return started is not None and loop.time() - started >= STALLED_AFTER_S

    def _done(self, session_id: int, task: asyncio.Task[None]) -> None:
        if self._busy.get(session_id) is task:
            del self._busy[session_id]
        if task in self._left:  # finished after its run went on: look at what it changed
            self._left.discard(task)
            self.arm(self.clock.now())

    async def settled(self) -> None:
        """Wait until no stalled send is left running (tests, shutdown)."""
        while self._busy:
            await asyncio.wait(list(self._busy.values()))

    async def _guarded_summary(self, session_id: int, report: DispatchReport) -> None:
        async with self._slots:
            try:
                report.summaries += await self.send_summary(session_id)
            except StorageError:
                report.storage_refused = True
            except Exception:  # one summary must not stop the others: pending, tried again
                log.exception("summary failed for session %d", session_id)

    async def _guarded(
        self, session: Session, records: list[DeliveryRecord], report: DispatchReport
    ) -> None:
        async with self._slots:
            try:
                await self._step(session, records, report)
            except StorageError:
                # The file refuses writes now: no defer (it would be refused too), no trace;
                # the run stops and backs off, and the session is still due in the file.
                report.storage_refused = True
            except Exception:
                # One broken session must not stop the others; it is looked at again
                # later (unconditionally: a version check here could leave it due forever).
                log.exception("dispatch failed for session %d", session.id)
                await self.store.sessions.defer(session.id, self.clock.now() + SUMMARY_RETRY)

    async def _step(
        self, read: Session, records: list[DeliveryRecord], report: DispatchReport
    ) -> None:
        """Step one session through the policy until it says wait.

        The pass read the session and its deliveries before this took the session's lock, so
        every write below is conditional on the session being as read — running, not paused,
        at the same ``version`` (pause, resume and extend change it) — and a refused write
        reads it again. Under the lock nobody else changes it: what this step writes, it also
        applies to its own copy, and decides the next step on that without reading again. The
        lock is kept until the message decided on is confirmed: no pause, stop or erase slips
        in between.
        """
        session: Session | None = read
        session_id = read.id
        ended: Session | None = None
        async with self.service.locked(session_id):
            for _ in range(_MAX_STEPS):
                if session is None or not session.running:
                    break
                state, plan, limits = self.service.policy_view(session, records)
                now = self.clock.now()
                decision = decide(state, limits, now)
                if isinstance(decision, Idle):
                    break
                if isinstance(decision, Wait):
                    end = None if state.paused_at is not None else state.wall(plan.total)
                    if await self.store.sessions.reschedule(
                        session.id, session.version, end, decision.until
                    ):
                        break
                elif isinstance(decision, Drop):
                    slot = decision.slot
                    if await self.store.deliveries.drop(
                        session.id,
                        slot.key,
                        slot.kind,
                        decision.due_at,
                        now,
                        decision.reason,
                        version=session.version,
                    ):
                        report.count_drop(decision.reason)
                        records = [
                            *records,
                            _record(session.id, slot, DeliveryStatus.DROPPED, now, decision),
                        ]
                        continue
                elif isinstance(decision, Send):
                    outcome = await self._send(session, records, decision, state, plan, report)
                    if outcome is _Outcome.RETRY:  # a passing failure: again soon, in its window
                        await self.store.sessions.defer(session.id, now + limits.late_window / 4)
                        break
                    if isinstance(outcome, list):
                        records = outcome
                        continue
                    if outcome is _Outcome.SETTLED:
                        break
                else:
                    if decision.late and not self.awake.was_down(decision.at, limits.late_window):
                        # The policy judges from now − end; but this process was up and
                        # running when it ended (only slow): not offline, so no "sent late".
                        decision = _on_time(decision)
                    ended = await self.service.finish(session, state, plan, decision)
                    if ended is not None:
                        break
                # The session changed since it was read (or ended): read it again.
                session, records = await self.store.sessions.session_and_deliveries(session_id)
            else:
                log.error("session %d did not settle in %d steps", session_id, _MAX_STEPS)
                await self.store.sessions.defer(session_id, self.clock.now() + SUMMARY_RETRY)
        if ended is not None:
            report.finished += 1
            report.summaries += await self.send_summary(session_id)

    async def _end_sessions_in_gone_chats(self) -> None:
        """End, without a summary, every running session in a chat that refused us for good.

        Done after the run's sessions were stepped, each under its own lock in turn: taking
        other sessions' locks while holding one could deadlock.
        """
        while self._gone_chats:
            chat_id = self._gone_chats.pop()
            for session_id in await self.store.sessions.running_in_chat(chat_id):
                if await self.service.abandon(session_id, "chat unreachable") is not None:
                    log.info("session %d ended quietly: its chat is gone", session_id)

    async def _send(
        self,
        session: Session,
        records: list[DeliveryRecord],
        decision: Send,
        state: SessionState,
        plan: Plan,
        report: DispatchReport,
    ) -> list[DeliveryRecord] | _Outcome:
        """Render, claim, send and confirm one proactive message.

        Returns the session's records with this message's outcome added, to decide the next
        step on; or SETTLED when it was sent and the session's next look stored with the
        confirmation (the usual case: one write for both); RETRY when it surely was not sent
        for a passing reason (no connection, a flood wait: the claim is withdrawn, to try again
        within the window); STALE when the session changed since it was read.
        """
        slot = decision.slot
        limits = self.service.limits_for(session)
        decided_at = self.clock.now()
        text, markup = await self._render(session, slot, state, plan)  # before the claim
        refused = False

        async def admit() -> bool:
            # Reserve, then claim, then send: called once the rate limiter let the request
            # through, right before the HTTP call, so nothing claimed waits in its queue.
            nonlocal refused
            now = self.clock.now()
            waited = now - decided_at > _DECISION_HOLDS
            if waited and decide(state, limits, now) != decision:
                return False  # it waited past its window (or its time): the policy drops it
            refused = not await self.store.deliveries.claim(
                session.id,
                slot.key,
                slot.kind,
                decision.due_at,
                now,
                max_messages=limits.max_messages,
                min_gap=limits.min_gap,
                version=session.version,
            )
            if not refused:
                self._in_request[session.id] = asyncio.get_running_loop().time()
            return not refused

        try:
            _, message_id = await send_following(
                self.bot,
                self.store,
                session.chat_id,
                text,
                markup,
                lane=Lane.PROACTIVE,
                admit=admit,
            )
        except NotAdmitted:
            # Storage refused: the session changed since it was read, or the gate (budget,
            # gap, the slot recorded meanwhile) said no. The next step reads it again and,
            # if it is unchanged, the policy now sees why.
            if refused and await self.store.deliveries.drop(
                session.id,
                slot.key,
                slot.kind,
                decision.due_at,
                self.clock.now(),
                "refused by the send gate",
                version=session.version,
            ):
                report.count_drop("refused by the send gate")
            return _Outcome.STALE
        except TelegramError as error:
            return await self._send_failed(session, records, decision, error)
        finally:
            self._in_request.pop(session.id, None)
        now = self.clock.now()
        records = [*records, _record(session.id, slot, DeliveryStatus.SENT, now, decision)]
        report.sent += 1
        # Decide the next step now, so the usual "wait until ..." is stored with the confirm.
        state, plan, _ = self.service.policy_view(session, records)
        after = decide(state, limits, now)
        then: Reschedule | None = None
        if isinstance(after, Wait):
            end = None if state.paused_at is not None else state.wall(plan.total)
            then = (session.version, end, after.until)
        stored = await self.store.deliveries.confirm(
            session.id, slot.key, slot.kind, message_id, now, then=then
        )
        return _Outcome.SETTLED if stored else records

    async def _send_failed(
        self, session: Session, records: list[DeliveryRecord], decision: Send, error: TelegramError
    ) -> list[DeliveryRecord] | _Outcome:
        slot = decision.slot
        if chat_gone(error):
            self._gone_chats.add(session.chat_id)
        if surely_not_sent(error) and not isinstance(error, BadRequest | Forbidden):
            await self.store.deliveries.unclaim(session.id, slot.key)
            log.info(
                "session %d: %s not sent (%s); retrying",
                session.id,
                slot.key,
                type(error).__name__,
            )
            return _Outcome.RETRY
        now = self.clock.now()
        if surely_not_sent(error):
            await self.store.deliveries.drop(
                session.id, slot.key, slot.kind, decision.due_at, now, f"not delivered: {error}"
            )
            return [*records, _record(session.id, slot, DeliveryStatus.DROPPED, now, decision)]
        log.warning(
            "session %d: %s outcome unknown (%s); counted as sent",
            session.id,
            slot.key,
            type(error).__name__,
        )
        return [*records, _record(session.id, slot, DeliveryStatus.SENDING, now, decision)]

    async def _render(
        self, session: Session, slot: Slot, state: SessionState, plan: Plan
    ) -> tuple[str, str | None]:
        """The text of a proactive message and its buttons (``reply_markup`` JSON)."""
        if slot.kind is SlotKind.CHECKIN:
            return texts.checkin_message(session, slot.key)
        if slot.kind is SlotKind.BREAK:
            tz = zone(await self.service.timezone_of(session.user_id))
            text = texts.break_message(session, state.wall(plan.break_end(slot.offset)), tz)
            # Recovery: when fatigue shows, the break offers to be longer (nudges.companion).
            fatigue = await self.service.break_offer(session, slot, state, plan)
            if fatigue is None:
                return text, None
            offer, keyboard = texts.recovery_offer(session, fatigue)
            return text + offer, keyboard
        return texts.back_message(session), None

    async def send_summary(self, session_id: int, *, lane: Lane = Lane.PROACTIVE) -> int:
        """Send a session's summary if it is pending; 1 if this call sent it. ``lane``:
        ``Lane.ANSWER`` when it answers the person's own /stop or ⏹.

        While it runs, its claim is known to be in flight: the sweep for cut summaries
        (``repair_cards``) leaves it alone, however long the send takes.
        """
        self._summaries_in_flight[session_id] += 1
        try:
            return await self._send_summary(session_id, lane=lane)
        finally:
            self._summaries_in_flight[session_id] -= 1
            if not self._summaries_in_flight[session_id]:
                del self._summaries_in_flight[session_id]

    async def _send_summary(self, session_id: int, *, lane: Lane) -> int:
        """Claim, send and confirm a pending summary (see ``send_summary``)."""
        session = await self.store.sessions.get_session(session_id)
        if session is None:
            return 0
        view = await self.service.summary(session)
        tz = zone(await self.service.timezone_of(session.user_id))
        text, markup = texts.summary_message(view, tz)

        async def admit() -> bool:  # claimed once the rate limiter let it through (see _send)
            claimed = await self.store.deliveries.claim_summary(session_id, self.clock.now())
            if claimed:
                self._in_request[session_id] = asyncio.get_running_loop().time()
            return claimed

        try:
            chat_id, message_id = await send_following(
                self.bot, self.store, session.chat_id, text, markup, lane=lane, admit=admit
            )
        except NotAdmitted:
            return 0
        except TelegramError as error:
            now = self.clock.now()
            if isinstance(error, BadRequest | Forbidden | ChatMigrated):
                if chat_gone(error):
                    self._gone_chats.add(session.chat_id)
                await self.store.deliveries.drop(
                    session.id, SUMMARY_SLOT, SlotKind.SUMMARY, now, now, f"rejected: {error}"
                )
            elif surely_not_sent(error):
                # Not delivered for sure (flood wait, no connection): back to pending,
                # tried again shortly.
                await self.store.deliveries.release_summary(session.id, now, now + SUMMARY_RETRY)
                self.arm(now + SUMMARY_RETRY)
            else:
                log.warning(
                    "session %d: summary outcome unknown (%s); not resent, shown on its card",
                    session.id,
                    type(error).__name__,
                )
                await self._summary_on_card(session, lane=lane)
            return 0
        finally:
            self._in_request.pop(session_id, None)
        await self.store.deliveries.confirm(
            session.id, SUMMARY_SLOT, SlotKind.SUMMARY, message_id, self.clock.now()
        )
        if chat_id != session.chat_id:  # the group became a supergroup: the session followed
            session = await self.store.sessions.get_session(session_id) or session
        # A reply to the summary is the session's note.
        await self.store.notes.remember_target(session.chat_id, message_id, session.id)
        await self.close_card(session, lane=lane)
        return 1

    async def close_card(self, session: Session, *, lane: Lane = Lane.PROACTIVE) -> None:
        """Show an ended session's start card as ended, without buttons (best effort)."""
        if session.card_message_id is None:
            return
        tz_name = await self.service.timezone_of(session.user_id)
        card = texts.start_card(session, zone(tz_name), tz_name, checkins=False)
        try:
            await edit_following(
                self.bot, self.store, session.chat_id, session.card_message_id, card, lane=lane
            )
        except TelegramError as error:
            log.debug("card of session %d not updated: %s", session.id, error)
            if not _edit_refused(error):  # a passing failure: no live buttons left behind
                retry_at = self.clock.now() + product.CARD_EDIT_RETRY
                await self.store.cards.want(session.id, "ended", retry_at, self.clock.now())
                self.arm(retry_at)

    # --- start cards that still have to show something (issue 14) --------------------------

    async def repair_cards(self) -> int:
        """Turn the cards of cut summaries into them, and retry card edits that failed.

        A summary claimed more than ``SUMMARY_SURELY_OVER`` ago and still unconfirmed (a
        crash between claim and confirm: its request is surely over) is never resent; its
        start card becomes the summary instead, once (``storage.cards`` records it done).
        Returns how many cards were edited.
        """
        now = self.clock.now()
        cut = await self.store.cards.adopt_unconfirmed(
            now - product.SUMMARY_SURELY_OVER, now, skip=sorted(self._summaries_in_flight)
        )
        if cut:
            log.warning("%d summaries were cut before their confirmation: shown on cards", cut)
        due = await self.store.cards.due(now, self.batch)
        edited = await asyncio.gather(*(self._guarded_card(edit) for edit in due))
        return sum(edited)

    async def _guarded_card(self, edit: CardEdit) -> int:
        async with self._slots:
            return await self._edit_card(edit)

    async def _summary_on_card(self, session: Session, *, lane: Lane) -> None:
        """The summary's send may or may not have arrived: show it on the card now (an edit
        repeated is still one message), never as a second message."""
        now = self.clock.now()
        await self.store.cards.want(session.id, "summary", now, now)
        edit = await self.store.cards.get(session.id)
        if edit is not None and edit.status == "pending" and edit.shows == "summary":
            await self._edit_card(edit, lane=lane)

    async def _edit_card(self, edit: CardEdit, *, lane: Lane = Lane.PROACTIVE) -> int:
        """Edit one session's start card into what it must show; 1 if done now."""
        cards = self.store.cards
        session = await self.store.sessions.get_session(edit.session_id)
        now = self.clock.now()
        if session is None or session.card_message_id is None:
            await cards.failed(edit.session_id, now, "no card")
            if edit.shows == "summary":
                log.warning(
                    "session %d: summary's fate unknown and no start card to show it on; "
                    "not resent (at most once)",
                    edit.session_id,
                )
            return 0
        tz_name = await self.service.timezone_of(session.user_id)
        markup: str | None = None
        if edit.shows == "summary":
            text, markup = texts.summary_message(await self.service.summary(session), zone(tz_name))
        else:
            text = texts.start_card(session, zone(tz_name), tz_name, checkins=False)
        try:
            chat_id = await edit_following(
                self.bot,
                self.store,
                session.chat_id,
                session.card_message_id,
                text,
                markup,
                lane=lane,
            )
        except TelegramError as error:
            if not _not_modified(error):  # "not modified": it shows it already
                return await self._card_edit_failed(edit, error)
            chat_id = session.chat_id
        await cards.done(edit.session_id, self.clock.now())
        if edit.shows == "summary":
            # A reply to the card is the session's note, as a reply to the summary would be.
            await self.store.notes.remember_target(chat_id, session.card_message_id, session.id)
            log.info("session %d: its summary is shown on its start card", session.id)
        return 1

    async def _card_edit_failed(self, edit: CardEdit, error: TelegramError) -> int:
        """Give a refused edit up; try a passing failure again later, a few times."""
        now = self.clock.now()
        reason = f"{type(error).__name__}: {error}"
        if _edit_refused(error):
            await self.store.cards.failed(edit.session_id, now, reason)
            log.warning("card of session %d not edited: %s", edit.session_id, reason)
            return 0
        retry_at = now + product.CARD_EDIT_RETRY * 2**edit.attempts
        if await self.store.cards.retry(
            edit.session_id, now, retry_at, product.CARD_EDIT_ATTEMPTS, reason
        ):
            self.arm(retry_at)
        else:
            log.warning(
                "card of session %d not edited after %d tries: %s",
                edit.session_id,
                product.CARD_EDIT_ATTEMPTS,
                reason,
            )
        return 0

    async def show_score_on_card(self, session_id: int) -> None:
        """After a score tapped on a card that shows the summary: the card says it (best
        effort: the score is recorded whatever the edit does)."""
        session = await self.store.sessions.get_session(session_id)
        if session is None or session.card_message_id is None or session.score is None:
            return
        tz = zone(await self.service.timezone_of(session.user_id))
        text, markup = texts.summary_message(await self.service.summary(session), tz)
        text += texts.card_score_line(session.score)
        try:
            await edit_following(
                self.bot,
                self.store,
                session.chat_id,
                session.card_message_id,
                text,
                markup,
                lane=Lane.ANSWER,
            )
        except TelegramError as error:
            log.debug("card of session %d does not show its score: %s", session.id, error)

    async def _next_card_edit(self, now: datetime) -> datetime | None:
        """When the cards next need a look; never sooner than a second from now (a summary
        still in flight past ``SUMMARY_SURELY_OVER`` is skipped, not looked at in a loop)."""
        soonest = await self.store.cards.soonest(product.SUMMARY_SURELY_OVER)
        return None if soonest is None else max(soonest, now + _CARD_LOOK_MIN)


_CARD_LOOK_MIN = timedelta(seconds=1)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two optional times."""
    if a is None or b is None:
        return a or b
    return min(a, b)


def _not_modified(error: TelegramError) -> bool:
    """Telegram's answer to an edit that changes nothing: the message shows it already."""
    return isinstance(error, BadRequest) and "message is not modified" in error.message.lower()


def _edit_refused(error: TelegramError) -> bool:
    """Whether an edit failed for good (the message is gone, the chat refuses us): not worth
    another try. Anything else (a 5xx, a timeout, a flood wait) may pass."""
    return isinstance(error, BadRequest | Forbidden | ChatMigrated)
