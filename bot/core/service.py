"""Focus sessions as use cases: start, pause, resume, extend, stop, finish, score, views.

No Telegram here: handlers and the dispatcher call these and render what they return. The
policy (``nudges``) decides; the repository records; this module joins the two and keeps each
session's ``next_due_at`` — the row the dispatcher wakes up for — in step with every change.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from bot.core.changes import IGNORE_CHANGES, SessionChange, SessionChanges
from bot.core.clock import Clock
from bot.core.export import sessions_csv, sessions_json
from bot.core.insights import (
    LONG_MINUTES,
    Period,
    Stats,
    Tally,
    period_bounds,
    session_insight,
    stats_from_tally,
    streak,
    tally,
)
from bot.core.timefmt import local_date, local_times, zone
from nudges import (
    Delivery,
    DeliveryStatus,
    Finish,
    Limits,
    PauseExpired,
    Plan,
    SessionState,
    SlotKind,
    Wait,
    decide,
    make_plan,
)
from nudges.lifecycle import (
    Ending,
    abandoned,
    breaks_behind,
    extension_room,
    finished,
    pause_expiry,
    resumed_pauses,
    stopped,
)
from storage import SUMMARY_SLOT, DeliveryRecord, Outcome, Session, Storage, User
from storage.models import to_ms

__all__ = [
    "MAX_TOTAL_MINUTES",
    "ExtendResult",
    "Extended",
    "FocusService",
    "NotRunning",
    "ScoreResult",
    "SessionDefaults",
    "StatusView",
    "SummaryView",
]

MAX_TOTAL_MINUTES = 180
"""A session, extensions included, never plans more focus than this."""

SCORE_WINDOW = timedelta(hours=24)
"""A plain reply ``1``-``5`` scores a session that ended at most this long ago."""

_STREAK_HORIZON = timedelta(days=800)
_DAYS_KEPT = 10_000
"""Users whose streak days are kept in memory (up to ~800 dates each); the oldest go first."""


@dataclass(frozen=True)
class SessionDefaults:
    """How a new session is shaped when the user does not say."""

    minutes: int = 25
    block_minutes: int = 25
    break_minutes: int = 5
    checkins: bool = True


@dataclass(frozen=True)
class StatusView:
    """What /status shows."""

    session: Session
    left: timedelta  # nominal time left (focus and breaks), frozen while paused
    total: timedelta  # nominal length of the whole plan
    focused: timedelta  # nominal focus done so far
    messages_used: int
    messages_max: int
    next_break_at: datetime | None
    in_break_until: datetime | None


@dataclass(frozen=True)
class SummaryView:
    """What the end-of-session summary shows."""

    session: Session
    planned_minutes: int
    focused_minutes: int
    earlier_sessions: int
    average_minutes: float | None  # the user's average before this one, from 3 sessions on
    streak_days: int
    insight: str | None = None  # e.g. "3rd completed session today"


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

__all__ += ["TooLong"]


class ScoreResult(enum.Enum):
    """How an attempt to score went."""

    SCORED = "scored"
    REPLACED = "replaced"
    NOT_FOUND = "not_found"


class FocusService:
    """The use cases of the bot over a repository, the nudge policy and a clock."""

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

    # --- policy glue --------------------------------------------------------------------

    def limits_for(self, session: Session) -> Limits:
        """The limits under the time scale the session was started with."""
        if session.time_scale == self.limits.time_scale:
            return self.limits
        return self.limits.model_copy(update={"time_scale": session.time_scale})

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
                r.slot: Delivery(r.status, r.at) for r in records if r.slot != SUMMARY_SLOT
            },
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

    # --- use cases ----------------------------------------------------------------------

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
        state = SessionState(
            started_at=now,
            planned_minutes=minutes or d.minutes,
            block_minutes=d.block_minutes,
            break_minutes=d.break_minutes,
            checkins=d.checkins,
        )
        plan = make_plan(state, self.limits)
        planned_end, next_due = self.schedule(state, plan, self.limits, now)
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
        )
        # Armed before the card is sent: if it cannot be, the session still runs on schedule.
        await self.changes.session_changed(SessionChange(session, card=False))
        return session

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

    async def settings_of(self, user_id: int) -> tuple[User, SessionDefaults]:
        """The user (created if new) and the session shape they get."""
        user = await self.store.users.ensure_user(user_id, self.clock.now())
        return user, await self.defaults_for(user_id)

    async def update_settings(self, user_id: int, **settings: object) -> User:
        """Store some of the user's settings (already validated by the caller)."""
        return await self.store.users.update_user(user_id, self.clock.now(), **settings)

    async def history(self, user_id: int, page: int, per_page: int) -> tuple[list[Session], int]:
        """A page of the user's sessions, newest first, and the total count."""
        return await self.store.reports.history(user_id, max(0, page) * per_page, per_page)

    async def export(self, user_id: int) -> tuple[bytes, bytes, int] | None:
        """The user's data as (CSV, JSON, session count); None when there is nothing."""
        sessions, events = await self.store.reports.export_rows(user_id)
        if not sessions:
            return None
        tz_name = await self.timezone_of(user_id)
        tz = zone(tz_name)
        return (
            sessions_csv(sessions, tz),
            sessions_json(user_id, tz_name, sessions, events, tz, self.clock.now()),
            len(sessions),
        )

    async def erase(self, user_id: int) -> int:
        """Delete everything stored about the user; returns how many sessions went.

        Running sessions are held still first, so no message to them is mid-flight.
        """
        running = await self.store.sessions.running_session_ids(user_id)
        async with AsyncExitStack() as stack:
            for session_id in sorted(running):
                await stack.enter_async_context(self.locked(session_id))
            erased = await self.store.users.delete_user(user_id)
            self._days.pop(user_id, None)  # after: a /stats meanwhile may have kept them again
            self._ends.pop(user_id, None)
            return erased

    async def register(self, user_id: int) -> None:
        """Remember a user on first contact (/start)."""
        await self.store.users.ensure_user(user_id, self.clock.now())

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
        """Add planned focus, up to the 180-minute total."""
        async with self.locked(session.id):
            fresh, records = await self.store.sessions.session_and_deliveries(session.id)
            if fresh is None or not fresh.running:
                return NotRunning()
            room = extension_room(fresh.planned_minutes, MAX_TOTAL_MINUTES)
            if minutes > room:
                return TooLong(room)
            now = self.clock.now()
            _, before, _ = self.policy_view(fresh, records)
            longer = fresh.model_copy(update={"planned_minutes": fresh.planned_minutes + minutes})
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
                fresh.id, minutes, now, planned_end, next_due, drops=drops
            )
        changed = await self._changed(changed)
        return NotRunning() if changed is None else Extended(changed)

    async def stop(self, session: Session) -> Session | None:
        """End a session now (``/stop``); None if it had already ended. Its summary follows
        (through the port)."""
        async with self.locked(session.id):
            fresh = await self.store.sessions.get_session(session.id)
            if fresh is None or not fresh.running:
                return None
            now = self.clock.now()
            state, plan, limits = await self.load_state(fresh)
            ended = await self._end(fresh, stopped(state, plan, limits, now), now)
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
            return await self._end(fresh, abandoned(state, plan, now), now, summary=reason)

    async def finish(
        self, session: Session, state: SessionState, plan: Plan, decision: Finish | PauseExpired
    ) -> Session | None:
        """End a session the policy says is over (time up, or paused too long).

        The caller (the dispatcher) holds the session's lock, decided on fresh state, and
        sends the summary itself.
        """
        ending = finished(state, plan, decision)
        return await self._end(session, ending, self.clock.now(), version=session.version)

    async def _end(
        self,
        session: Session,
        ending: Ending,
        now: datetime,
        *,
        summary: str | None = None,
        version: int | None = None,
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

    async def scorable(self, user_id: int, chat_id: int) -> Session | None:
        """The session a plain ``1``-``5`` reply scores, if any."""
        return await self.store.sessions.scorable_session(
            user_id, chat_id, self.clock.now() - SCORE_WINDOW
        )

    # --- views --------------------------------------------------------------------------

    async def status(self, session: Session) -> StatusView:
        """Time left, progress, messages used, next break."""
        return self._status(session, await self.store.deliveries.deliveries(session.id))

    async def status_in(self, user_id: int, chat_id: int) -> StatusView | None:
        """The status of the user's running session in this chat (one read); None if none."""
        session, records = await self.store.sessions.active_session_and_deliveries(user_id, chat_id)
        return None if session is None else self._status(session, records)

    def _status(self, session: Session, records: list[DeliveryRecord]) -> StatusView:
        now = self.clock.now()
        state, plan, limits = self.policy_view(session, records)
        active = min(state.active_at(now), plan.total)
        scale = session.time_scale
        next_break = next((start for start, _ in plan.breaks if start > active), None)
        in_break = next((end for start, end in plan.breaks if start <= active < end), None)
        paused = state.paused_at is not None
        return StatusView(
            session=session,
            left=(plan.total - active) * scale,
            total=plan.total * scale,
            focused=plan.focused(active) * scale,
            messages_used=len(state.counted()),
            messages_max=limits.max_messages,
            next_break_at=None if next_break is None or paused else state.wall(next_break),
            in_break_until=None if in_break is None or paused else state.wall(in_break),
        )

    async def summary(self, session: Session) -> SummaryView:
        """The numbers of an ended session's summary."""
        count, average_ms = await self.store.reports.earlier_focus(session.user_id, session.id)
        tz = zone(await self.timezone_of(session.user_id))
        now = self.clock.now()
        days = await self.completed_days(session.user_id, tz, now)
        average = average_ms / 60000 if count >= 3 else None
        return SummaryView(
            session=session,
            planned_minutes=session.planned_minutes,
            focused_minutes=round(session.focused_minutes()),
            earlier_sessions=count,
            # Under a minute on average (a few started and stopped at once): no comparison.
            average_minutes=average if average is not None and average >= 1 else None,
            streak_days=streak(days, local_date(now, tz)),
            insight=await self._insight(session, tz, now),
        )

    async def _insight(self, session: Session, tz: tzinfo, now: datetime) -> str | None:
        """The one per-session insight the user's recent data supports, if any."""
        facts = await self.store.reports.session_facts(
            session.user_id, now - timedelta(days=8), now + timedelta(seconds=1), few=True
        )
        this = next((f for f in facts if f.started_at == session.started_at), None)
        if this is None:
            return None
        insight = session_insight(this, [f for f in facts if f is not this], now, tz)
        # The comparison with the average has its own line in the summary already.
        if insight is not None and insight.endswith("than your average"):
            return None
        return insight

    async def stats(self, user_id: int, period: Period) -> Stats:
        """The user's numbers for /stats, in their timezone."""
        tz = zone(await self.timezone_of(user_id))
        now = self.clock.now()
        since, until = period_bounds(period, now, tz)
        days = await self.completed_days(user_id, tz, now)
        return stats_from_tally(await self._tally(user_id, since, until, tz), days, period, now, tz)

    async def _tally(
        self, user_id: int, since: datetime | None, until: datetime, tz: tzinfo
    ) -> Tally:
        """The period's sessions counted by SQLite, in the user's local days and hours."""
        first = since if since is not None else await self.store.reports.first_start(user_id)
        if first is None or first >= until:
            return tally((), tz)
        offsets = local_times(tz).segments(to_ms(first), to_ms(until))
        totals = await self.store.reports.stats_aggregates(
            user_id, since, until, offsets, LONG_MINUTES
        )
        whole, labelled = totals.summed(), totals.labelled
        hours = {row.hour: row for row in totals.hours}
        return Tally(
            sessions=int(whole.sessions),
            completed=int(whole.completed),
            focused=float(whole.focused),
            planned=int(whole.planned),
            interruptions=int(whole.interruptions),
            scored=int(whole.scored),
            score_sum=int(whole.score_sum),
            by_day={row.day: (row.sessions, row.focused) for row in totals.days},
            by_hour=[hours[h].focused if h in hours else 0.0 for h in range(24)],
            hour_scores=[
                (int(hours[h].scored), int(hours[h].score_sum)) if h in hours else (0, 0)
                for h in range(24)
            ],
            labelled=(labelled.sessions, int(labelled.completed)),
            unlabelled=(
                int(whole.sessions) - labelled.sessions,
                int(whole.completed) - int(labelled.completed),
            ),
            long_scores=(int(whole.long_scored), int(whole.long_score_sum)),
            short_scores=(int(whole.scored) - int(whole.long_scored), int(whole.short_score_sum)),
        )

    async def completed_days(self, user_id: int, tz: tzinfo, now: datetime) -> frozenset[date]:
        """The local days on which the user completed a session (for streaks), last 800 days.

        Kept per user: reading and converting two years of starts was most of a /stats
        "week" and of every summary (measured, BENCHMARKS.md), and the set changes only when
        one of the user's sessions completes (its day is added here) or the user is erased
        (forgotten), or when the timezone changes (part of the key).
        """
        key = str(tz)
        kept = self._days.get(user_id)
        if kept is None or kept[0] != key:
            ends = self._ends.get(user_id, 0)
            starts = await self.store.reports.completed_starts(user_id, now - _STREAK_HORIZON)
            kept = (key, tz, frozenset(local_date(start, tz) for start in starts))
            if self._ends.get(user_id, 0) != ends:
                return kept[2]  # a session ended during the read: use it, keep nothing
            self._days[user_id] = kept
            if len(self._days) > _DAYS_KEPT:
                del self._days[next(iter(self._days))]
        horizon = local_date(now - _STREAK_HORIZON, tz)
        days = kept[2]
        return (
            days
            if min(days, default=horizon) >= horizon
            else frozenset(d for d in days if d >= horizon)
        )

    def _ended(self, ended: Session | None) -> Session | None:
        """Add a completed session's day to its user's kept streak days; pass it on."""
        if ended is not None:
            # Counted, so that a read of the days that began before this end is not kept.
            self._ends[ended.user_id] = self._ends.get(ended.user_id, 0) + 1
            if len(self._ends) > _DAYS_KEPT:
                del self._ends[next(iter(self._ends))]
        if ended is not None and ended.outcome is Outcome.COMPLETED:
            kept = self._days.get(ended.user_id)
            if kept is not None:
                key, tz, days = kept
                self._days[ended.user_id] = (key, tz, days | {local_date(ended.started_at, tz)})
        return ended

    async def timezone_of(self, user_id: int) -> str:
        """The user's timezone name (UTC until they set one)."""
        user = await self.store.users.get_user(user_id)
        return user.timezone if user else "UTC"
