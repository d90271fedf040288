"""Focus sessions as use cases: start, pause, resume, extend, stop, finish, score.

No Telegram here: handlers and the dispatcher call these and render what they return. The
policy (``nudges``) decides; storage records; this module joins the two and keeps each
session's ``next_due_at`` — the row the dispatcher wakes up for — in step with every change.
What the person reads (``bot.core.views``) and their own records (``bot.core.account``) are
classes of their own; :class:`FocusService` is all of them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from bot.core.account import AccountUseCases
from bot.core.base import ServiceBase, SessionDefaults
from bot.core.changes import SessionChange
from bot.core.companion import CompanionUseCases
from bot.core.onboarding import ZoneUseCases
from bot.core.records import RecordUseCases
from bot.core.routine import RoutineUseCases
from bot.core.views import InsightViews, StatusView, SummaryView
from nudges import (
    DeliveryStatus,
    Finish,
    PauseExpired,
    Plan,
    SessionState,
    SlotKind,
    make_plan,
)
from nudges import limits as product
from nudges.lifecycle import (
    Ending,
    abandoned,
    breaks_behind,
    extension_room,
    finished,
    is_stray,
    pause_expiry,
    resumed_pauses,
    settled,
    stopped,
)
from storage import DeliveryRecord, EndedBy, Outcome, Session

__all__ = [
    "ExtendResult",
    "Extended",
    "FocusService",
    "NotRunning",
    "NoteResult",
    "ScoreResult",
    "ServiceBase",
    "SessionDefaults",
    "StatusView",
    "SummaryView",
    "TooLong",
]


@dataclass(frozen=True)
class Extended:
    """The session, longer."""

    session: Session


@dataclass(frozen=True)
class TooLong:
    """Refused: past the total; ``room`` minutes may still be added."""

    room: int


@dataclass(frozen=True)
class NotRunning:
    """The session is not running (any more)."""


ExtendResult = Extended | TooLong | NotRunning


class NoteResult(enum.Enum):
    """How an attempt to keep a note went."""

    SAVED = "saved"
    REPLACED = "replaced"
    TOO_LONG = "too_long"
    NOT_FOUND = "not_found"


class ScoreResult(enum.Enum):
    """How an attempt to score went."""

    SCORED = "scored"
    REPLACED = "replaced"
    NOT_FOUND = "not_found"


class FocusService(
    InsightViews, AccountUseCases, CompanionUseCases, RecordUseCases, ZoneUseCases, RoutineUseCases
):
    """The use cases of the bot over storage, the nudge policy and a clock."""

    async def start(
        self,
        user_id: int,
        chat_id: int,
        minutes: int | None,
        label: str | None,
        owner_name: str | None = None,
    ) -> Session:
        """Start a session; raises ActiveSessionExists when one runs in this chat."""
        now = self.clock.now()
        d = await self.defaults_for(user_id)
        if d.checkins and not await self.checkins_allowed(user_id):  # quiet hours
            d = replace(d, checkins=False)
        state = SessionState(
            started_at=now,
            planned_minutes=minutes or d.minutes,
            block_minutes=d.block_minutes,
            break_minutes=d.break_minutes,
            checkins=d.checkins,
        )
        # The check-in spacing learnt from the person's answers and scores (fixed for the
        # session, like its shape).
        checkin_minutes = await self.cadence_for(user_id) if d.checkins else None
        limits = self.limits
        if checkin_minutes is not None:
            limits = limits.model_copy(update={"checkin_interval_minutes": checkin_minutes})
        plan = make_plan(state, limits)
        planned_end, next_due = self.schedule(state, plan, limits, now)
        assert planned_end is not None  # noqa: S101 - a new session is not paused
        session = await self.store.sessions.start_session(
            user_id=user_id,
            chat_id=chat_id,
            label=label,
            planned_minutes=state.planned_minutes,
            block_minutes=d.block_minutes,
            break_minutes=d.break_minutes,
            checkins=d.checkins,
            time_scale=self.limits.time_scale,
            now=now,
            planned_end_at=planned_end,
            next_due_at=next_due,
            # Only groups need it (to say whose session a message is about).
            owner_name=owner_name if chat_id < 0 else None,
            checkin_minutes=checkin_minutes,
        )
        # Armed before the card is sent: if it cannot be, the session still runs on schedule.
        await self.changes.session_changed(SessionChange(session, card=False))
        return session

    async def active(self, user_id: int, chat_id: int) -> Session | None:
        """The user's running session in this chat."""
        return await self.store.sessions.active_session(user_id, chat_id)

    async def get(self, session_id: int) -> Session | None:
        """A session by id (running or ended)."""
        return await self.store.sessions.get_session(session_id)

    async def has_checkins(self, session: Session, *, new: bool = False) -> bool:
        """Whether the session's plan holds any check-in (quiet or short sessions don't).

        ``new``: the session was just started, so nothing was delivered yet (no read).
        """
        records = [] if new else await self.store.deliveries.deliveries(session.id)
        _, plan, _ = self.policy_view(session, records)
        return any(slot.kind is SlotKind.CHECKIN for slot in plan.slots)

    async def set_card(self, session_id: int, message_id: int) -> None:
        """Remember the start card, so its buttons can follow the session."""
        await self.store.sessions.set_card(session_id, message_id)

    async def pause(self, session: Session) -> Session | None:
        """Pause; None when the session is not running or already paused."""
        async with self.locked(session.id):
            fresh = await self.store.sessions.get_session(session.id)
            if fresh is None or not fresh.running or fresh.paused_at is not None:
                return None
            now = self.clock.now()
            expires = pause_expiry(now, self.limits_for(fresh))
            paused = await self.store.sessions.pause(fresh.id, now, expires)
        return await self._changed(paused)

    async def resume(self, session: Session) -> Session | None:
        """Resume; None when the session is not paused."""
        async with self.locked(session.id):
            fresh, records = await self.store.sessions.session_and_deliveries(session.id)
            if fresh is None or not fresh.running or fresh.paused_at is None:
                return None
            now = self.clock.now()
            state, _, _ = self.policy_view(fresh, records)
            resumed = fresh.model_copy(
                update={"paused_at": None, "paused": resumed_pauses(state, now)}
            )
            state, plan, limits = self.policy_view(resumed, records)
            planned_end, next_due = self.schedule(state, plan, limits, now)
            if planned_end is None:
                return None
            changed = await self.store.sessions.resume(fresh, now, planned_end, next_due)
        return await self._changed(changed)

    async def extend(self, session: Session, minutes: int) -> ExtendResult:
        """Add planned focus, up to the total's maximum (``nudges.limits``)."""
        async with self.locked(session.id):
            fresh, records = await self.store.sessions.session_and_deliveries(session.id)
            if fresh is None or not fresh.running:
                return NotRunning()
            room = extension_room(fresh.planned_minutes, product.MAX_TOTAL_MINUTES)
            if minutes > room:
                return TooLong(room)
            now = self.clock.now()
            current, before, limits = self.policy_view(fresh, records)
            # The blocks behind keep their lengths; only those ahead may be stretched.
            behind = settled(before, current, limits, now)
            longer = fresh.model_copy(
                update={
                    "planned_minutes": fresh.planned_minutes + minutes,
                    "settled_blocks": behind,
                }
            )
            state, plan, limits = self.policy_view(longer, records)
            reason = "extension: this break would have started in the past"
            drops = [
                (slot.key, slot.kind, due_at, reason)
                for slot, due_at in breaks_behind(before, plan, state, now)
            ]
            records = records + [
                DeliveryRecord(
                    session_id=fresh.id,
                    slot=key,
                    kind=kind,
                    status=DeliveryStatus.DROPPED,
                    due_at=due_at,
                    at=now,
                    message_id=None,
                    reason=why,
                )
                for key, kind, due_at, why in drops
            ]
            state, plan, limits = self.policy_view(longer, records)
            planned_end, next_due = self.schedule(state, plan, limits, now)
            changed = await self.store.sessions.extend(
                fresh.id, minutes, now, planned_end, next_due, drops=drops, settled_blocks=behind
            )
        changed = await self._changed(changed)
        return NotRunning() if changed is None else Extended(changed)

    async def replan(self, session: Session, minutes: int) -> Session | None:
        """Make a session that just started (nothing sent yet, never paused or extended)
        ``minutes`` long: the start card's suggested length. None when it is too late."""
        if minutes not in product.FOCUS_MINUTES:
            return None
        async with self.locked(session.id):
            fresh, records = await self.store.sessions.session_and_deliveries(session.id)
            if fresh is None or not fresh.running or records or fresh.paused_at is not None:
                return None
            now = self.clock.now()
            state, plan, limits = self.policy_view(
                fresh.model_copy(update={"planned_minutes": minutes}), records
            )
            planned_end, next_due = self.schedule(state, plan, limits, now)
            if planned_end is None:
                return None
            changed = await self.store.sessions.replan(
                fresh.id, minutes, now, planned_end, next_due
            )
        return await self._changed(changed)

    async def stop(self, session: Session) -> Session | None:
        """End a session now (``/stop``); None if it had already ended. Its summary follows
        (through the port)."""
        async with self.locked(session.id):
            fresh = await self.store.sessions.get_session(session.id)
            if fresh is None or not fresh.running:
                return None
            now = self.clock.now()
            state, plan, limits = await self.load_state(fresh)
            ending = stopped(state, plan, limits, now)
            by = EndedBy.TIME if ending.completed else EndedBy.STOP
            ended = await self._end(fresh, ending, now, ended_by=by)
        if ended is not None:
            await self.changes.session_changed(SessionChange(ended, card=False, summary=True))
        return ended

    async def abandon(self, session_id: int, reason: str) -> Session | None:
        """End a session quietly, without a summary: its chat can no longer be reached."""
        async with self.locked(session_id):
            fresh = await self.store.sessions.get_session(session_id)
            if fresh is None or not fresh.running:
                return None
            now = self.clock.now()
            state, plan, _ = await self.load_state(fresh)
            return await self._end(
                fresh, abandoned(state, plan, now), now, summary=reason, ended_by=EndedBy.GONE
            )

    async def finish(
        self, session: Session, state: SessionState, plan: Plan, decision: Finish | PauseExpired
    ) -> Session | None:
        """End a session the policy says is over (time up, or paused too long).

        The caller (the dispatcher) holds the session's lock, decided on fresh state, and
        sends the summary itself.
        """
        ending = finished(state, plan, decision)
        by = EndedBy.TIME if isinstance(decision, Finish) else EndedBy.PAUSE_LIMIT
        return await self._end(
            session, ending, self.clock.now(), version=session.version, ended_by=by
        )

    async def _end(
        self,
        session: Session,
        ending: Ending,
        now: datetime,
        *,
        summary: str | None = None,
        version: int | None = None,
        ended_by: EndedBy | None = None,
    ) -> Session | None:
        """Record an ending (the one place that does), and keep the streak days in step."""
        return self._ended(
            await self.store.sessions.end_session(
                session.id,
                ended_at=ending.ended_at,
                focused=ending.focused,
                breaks_taken=ending.breaks_taken,
                outcome=Outcome.COMPLETED if ending.completed else Outcome.ENDED_EARLY,
                late=ending.late,
                now=now,
                version=version,
                summary=summary,
                ended_by=ended_by,
                cancelled=is_stray(ending, session.time_scale),
            )
        )

    async def _changed(self, session: Session | None) -> Session | None:
        """Tell the port about a committed change (nothing when nothing changed)."""
        if session is not None:
            await self.changes.session_changed(SessionChange(session))
        return session

    async def interruption(self, session: Session, detail: str) -> bool:
        """Count an interruption (the 😵 Distracted button)."""
        return await self.store.sessions.add_interruption(session.id, self.clock.now(), detail)

    async def score(
        self, session_id: int, user_id: int, score: int
    ) -> tuple[ScoreResult, int | None]:
        """Score an ended session of this user (any time later): (result, previous score)."""
        done, previous = await self.store.sessions.set_score(
            session_id, user_id, score, self.clock.now()
        )
        if not done:
            return ScoreResult.NOT_FOUND, None
        return (ScoreResult.SCORED if previous is None else ScoreResult.REPLACED), previous

    async def note_target(self, chat_id: int, message_id: int) -> Session | None:
        """The ended session a reply to this message is a note for (its summary, or the
        answer to its score), if any."""
        session_id = await self.store.notes.target(chat_id, message_id)
        return None if session_id is None else await self.store.sessions.get_session(session_id)

    async def remember_note_target(self, chat_id: int, message_id: int, session_id: int) -> None:
        """A reply to this message (a score's answer) will be a note for the session."""
        await self.store.notes.remember_target(chat_id, message_id, session_id)

    async def save_note(self, session: Session, user_id: int, note: str) -> NoteResult:
        """Keep the person's note of an ended session of theirs (their words, trimmed)."""
        text = note.strip()
        if len(text) > product.NOTE_MAX_CHARS:
            return NoteResult.TOO_LONG
        if not text or session.user_id != user_id:
            return NoteResult.NOT_FOUND
        done, replaced = await self.store.notes.set_note(session.id, user_id, text)
        if not done:
            return NoteResult.NOT_FOUND
        return NoteResult.REPLACED if replaced else NoteResult.SAVED

    async def scorable(self, user_id: int, chat_id: int) -> Session | None:
        """The session a plain ``1``-``5`` reply scores, if any."""
        return await self.store.sessions.scorable_session(
            user_id, chat_id, self.clock.now() - product.SCORE_REPLY_WINDOW
        )
