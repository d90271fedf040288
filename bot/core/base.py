"""What every use case shares: storage, the limits, the clock, the per-session locks, and the
glue between a stored session and the policy's view of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from bot.core.changes import IGNORE_CHANGES, SessionChanges
from bot.core.clock import Clock
from nudges import (
    Delivery,
    Limits,
    Plan,
    SessionState,
    Wait,
    decide,
    make_plan,
)
from nudges import limits as product
from storage import SUMMARY_SLOT, DeliveryRecord, Session, Storage

__all__ = ["ServiceBase", "SessionDefaults"]


@dataclass(frozen=True)
class SessionDefaults:
    """How a new session is shaped when the user does not say."""

    minutes: int = product.DEFAULT_FOCUS_MINUTES
    block_minutes: int = product.DEFAULT_BLOCK_MINUTES
    break_minutes: int = product.DEFAULT_BREAK_MINUTES
    checkins: bool = True


class ServiceBase:
    """State and glue the use cases share (each concern is a class of its own on top)."""

    def __init__(
        self,
        store: Storage,
        limits: Limits,
        clock: Clock,
        defaults: SessionDefaults | None = None,
        changes: SessionChanges = IGNORE_CHANGES,
    ) -> None:
        self.store = store
        # The port every change is told to (the wiring sets the Telegram one once the
        # dispatcher it drives exists).
        self.changes = changes
        self.limits = limits
        self.clock = clock
        self.defaults = defaults or SessionDefaults()
        # One lock per session in use, dropped when its last holder leaves: memory stays
        # proportional to the sessions being worked on, not to the sessions running.
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}
        self._days: dict[int, tuple[str, tzinfo, frozenset[date]]] = {}
        self._ends: dict[int, int] = {}  # sessions ended, per user: see completed_days

    @asynccontextmanager
    async def locked(self, session_id: int) -> AsyncIterator[None]:
        """Hold a session still: the dispatcher holds it from decision to confirmed send, and
        every change (pause, resume, extend, stop, erase) waits for it, so a message never
        goes out after a pause or a stop that the user already saw confirmed."""
        lock, users = self._locks.get(session_id, (asyncio.Lock(), 0))
        self._locks[session_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[session_id]
            if users <= 1:
                del self._locks[session_id]
            else:
                self._locks[session_id] = (lock, users - 1)

    def limits_for(self, session: Session) -> Limits:
        """The limits under the time scale the session was started with, and with the
        check-in spacing it learnt then (``nudges.companion.cadence_minutes``)."""
        update: dict[str, float] = {}
        if session.time_scale != self.limits.time_scale:
            update["time_scale"] = session.time_scale
        if session.checkin_minutes is not None:
            update["checkin_interval_minutes"] = session.checkin_minutes
        return self.limits.model_copy(update=update) if update else self.limits

    def state_of(self, session: Session, records: list[DeliveryRecord]) -> SessionState:
        """The policy's view of a session."""
        return SessionState(
            started_at=session.started_at,
            planned_minutes=session.planned_minutes,
            block_minutes=session.block_minutes,
            break_minutes=session.break_minutes,
            checkins=session.checkins,
            paused_at=session.paused_at,
            paused=session.paused,
            ended=not session.running,
            deliveries={
                r.slot: Delivery(r.status, r.at, r.answer, r.answer_reason, r.answer_active)
                for r in records
                if r.slot != SUMMARY_SLOT
            },
            start_energy=session.start_energy,
            settled_blocks=session.settled_blocks,
        )

    def policy_view(
        self, session: Session, records: list[DeliveryRecord]
    ) -> tuple[SessionState, Plan, Limits]:
        """The session's policy state, plan and limits, given its recorded deliveries."""
        limits = self.limits_for(session)
        state = self.state_of(session, records)
        return state, make_plan(state, limits), limits

    async def load_state(self, session: Session) -> tuple[SessionState, Plan, Limits]:
        """The session's policy state, plan and limits, from storage."""
        return self.policy_view(session, await self.store.deliveries.deliveries(session.id))

    def schedule(
        self, state: SessionState, plan: Plan, limits: Limits, now: datetime
    ) -> tuple[datetime | None, datetime]:
        """(planned end, next time to look) for a running session."""
        planned_end = None if state.paused_at is not None else state.wall(plan.total)
        decision = decide(state, limits, now)
        next_due = decision.until if isinstance(decision, Wait) else now
        return planned_end, next_due

    async def defaults_for(self, user_id: int) -> SessionDefaults:
        """The operator's defaults, overridden by what the user chose in /settings."""
        user = await self.store.users.get_user(user_id)
        d = self.defaults
        if user is None:
            return d
        return SessionDefaults(
            minutes=user.default_minutes or d.minutes,
            block_minutes=user.block_minutes or d.block_minutes,
            break_minutes=user.break_minutes or d.break_minutes,
            checkins=not user.quiet,
        )

    async def timezone_of(self, user_id: int) -> str:
        """The user's timezone name (UTC until they set one)."""
        user = await self.store.users.get_user(user_id)
        return user.timezone if user else "UTC"
