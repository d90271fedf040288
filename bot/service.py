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

from bot.clock import Clock
from bot.export import sessions_csv, sessions_json
from bot.insights import (
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
from bot.timefmt import local_date, local_times, zone
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
from nudges import limits as product
from storage import SUMMARY_SLOT, DeliveryRecord, Outcome, Repository, Session, User
from storage.models import to_ms

__all__ = [
    "FocusService",
    "ScoreResult",
    "SessionDefaults",
    "StatusView",
    "SummaryView",
]

_STREAK_HORIZON = timedelta(days=800)
_DAYS_KEPT = 10_000
"""Users whose streak days are kept in memory (up to ~800 dates each); the oldest go first."""


@dataclass(frozen=True)
class SessionDefaults:
    """How a new session is shaped when the user does not say."""

    minutes: int = product.DEFAULT_FOCUS_MINUTES
    block_minutes: int = product.DEFAULT_BLOCK_MINUTES
    break_minutes: int = product.DEFAULT_BREAK_MINUTES
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


class ScoreResult(enum.Enum):
    """How an attempt to score went."""

    SCORED = "scored"
    REPLACED = "replaced"
    NOT_FOUND = "not_found"


class FocusService:
    """The use cases of the bot over a repository, the nudge policy and a clock."""

    def __init__(
        self,
        repo: Repository,
        limits: Limits,
        clock: Clock,
        defaults: SessionDefaults | None = None,
    ) -> None:
        self.repo = repo
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
                r.slot: Delivery(DeliveryStatus(r.status), r.at)
                for r in records
                if r.slot != SUMMARY_SLOT
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
        return self.policy_view(session, await self.repo.deliveries(session.id))

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
        return await self.repo.start_session(
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

    async def defaults_for(self, user_id: int) -> SessionDefaults:
        """The operator's defaults, overridden by what the user chose in /settings."""
        user = await self.repo.get_user(user_id)
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
        user = await self.repo.ensure_user(user_id, self.clock.now())
        return user, await self.defaults_for(user_id)

    async def update_settings(self, user_id: int, **settings: object) -> User:
        """Store some of the user's settings (already validated by the caller)."""
        return await self.repo.update_user(user_id, self.clock.now(), **settings)

    async def history(self, user_id: int, page: int, per_page: int) -> tuple[list[Session], int]:
        """A page of the user's sessions, newest first, and the total count."""
        return await self.repo.history(user_id, max(0, page) * per_page, per_page)

    async def export(self, user_id: int) -> tuple[bytes, bytes, int] | None:
        """The user's data as (CSV, JSON, session count); None when there is nothing."""
        sessions, events = await self.repo.export_rows(user_id)
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
        running = await self.repo.running_session_ids(user_id)
        async with AsyncExitStack() as stack:
            for session_id in sorted(running):
                await stack.enter_async_context(self.locked(session_id))
            erased = await self.repo.delete_user(user_id)
            self._days.pop(user_id, None)  # after: a /stats meanwhile may have kept them again
            self._ends.pop(user_id, None)
            return erased

    async def register(self, user_id: int) -> None:
        """Remember a user on first contact (/start)."""
        await self.repo.ensure_user(user_id, self.clock.now())

    async def active(self, user_id: int, chat_id: int) -> Session | None:
        """The user's running session in this chat."""
        return await self.repo.active_session(user_id, chat_id)

    async def get(self, session_id: int) -> Session | None:
        """A session by id (running or ended)."""
        return await self.repo.get_session(session_id)

    async def has_checkins(self, session: Session, *, new: bool = False) -> bool:
        """Whether the session's plan holds any check-in (quiet or short sessions don't).

        ``new``: the session was just started, so nothing was delivered yet (no read).
        """
        records = [] if new else await self.repo.deliveries(session.id)
        _, plan, _ = self.policy_view(session, records)
        return any(slot.kind is SlotKind.CHECKIN for slot in plan.slots)

    async def set_card(self, session_id: int, message_id: int) -> None:
        """Remember the start card, so its buttons can follow the session."""
        await self.repo.set_card(session_id, message_id)

    async def pause(self, session: Session) -> Session | None:
        """Pause; None when the session is not running or already paused."""
        async with self.locked(session.id):
            fresh = await self.repo.get_session(session.id)
            if fresh is None or not fresh.running or fresh.paused_at is not None:
                return None
            now = self.clock.now()
            expires = now + self.limits_for(fresh).pause_limit
            return await self.repo.pause(fresh.id, now, expires)

    async def resume(self, session: Session) -> Session | None:
        """Resume; None when the session is not paused."""
        async with self.locked(session.id):
            fresh, records = await self.repo.session_and_deliveries(session.id)
            if fresh is None or not fresh.running or fresh.paused_at is None:
                return None
            now = self.clock.now()
            resumed = fresh.model_copy(
                update={"paused_at": None, "paused": fresh.paused + (now - fresh.paused_at)}
            )
            state, plan, limits = self.policy_view(resumed, records)
            planned_end, next_due = self.schedule(state, plan, limits, now)
            if planned_end is None:
                return None
            return await self.repo.resume(fresh, now, planned_end, next_due)

    async def extend(self, session: Session, minutes: int) -> Session | int | None:
        """Add planned focus. The longer session; or, past the total's maximum, the minutes
        that may still be added; None when the session is not running."""
        async with self.locked(session.id):
            fresh, records = await self.repo.session_and_deliveries(session.id)
            if fresh is None or not fresh.running:
                return None
            room = max(0, product.MAX_TOTAL_MINUTES - fresh.planned_minutes)
            if minutes > room:
                return room
            now = self.clock.now()
            _, before, _ = self.policy_view(fresh, records)
            planned = {slot.key for slot in before.slots}
            longer = fresh.model_copy(update={"planned_minutes": fresh.planned_minutes + minutes})
            state, plan, limits = self.policy_view(longer, records)
            # A longer plan can put a *new* break behind us (a block that had no break now has
            # one): it did not happen, so close it up rather than announce it late.
            active = state.active_at(now)
            reason = "extension: this break would have started in the past"
            drops = [
                (slot.key, slot.kind.value, state.wall(slot.offset), reason)
                for slot in plan.slots
                if slot.kind is SlotKind.BREAK
                and slot.key not in planned
                and slot.offset < active
                and slot.key not in state.deliveries
            ]
            records = records + [
                DeliveryRecord(
                    session_id=fresh.id,
                    slot=key,
                    kind=kind,
                    status="dropped",
                    due_at=due_at,
                    at=now,
                    message_id=None,
                    reason=why,
                )
                for key, kind, due_at, why in drops
            ]
            state, plan, limits = self.policy_view(longer, records)
            planned_end, next_due = self.schedule(state, plan, limits, now)
            return await self.repo.extend(
                fresh.id, minutes, now, planned_end, next_due, drops=drops
            )

    async def stop(self, session: Session) -> Session | None:
        """End a session now (``/stop``); None if it had already ended."""
        async with self.locked(session.id):
            fresh = await self.repo.get_session(session.id)
            if fresh is None or not fresh.running:
                return None
            now = self.clock.now()
            state, plan, limits = await self.load_state(fresh)
            active = state.active_at(now)
            done = active >= plan.total
            end = state.wall(plan.total) if done else now
            return self._ended(
                await self.repo.end_session(
                    fresh.id,
                    ended_at=end,
                    focused=plan.focused(active),
                    breaks_taken=plan.breaks_started_before(active),
                    outcome=Outcome.COMPLETED if done else Outcome.ENDED_EARLY,
                    # Time ran out while we were down and /stop came first: say so.
                    late=done and now - end > limits.late_window,
                    now=now,
                )
            )

    async def abandon(self, session_id: int, reason: str) -> Session | None:
        """End a session quietly, without a summary: its chat can no longer be reached."""
        async with self.locked(session_id):
            fresh = await self.repo.get_session(session_id)
            if fresh is None or not fresh.running:
                return None
            now = self.clock.now()
            state, plan, _ = await self.load_state(fresh)
            active = state.active_at(now)
            return self._ended(
                await self.repo.end_session(
                    fresh.id,
                    ended_at=now,
                    focused=plan.focused(active),
                    breaks_taken=plan.breaks_started_before(active),
                    outcome=Outcome.ENDED_EARLY,
                    late=False,
                    now=now,
                    summary=reason,
                )
            )

    async def finish(
        self, session: Session, state: SessionState, plan: Plan, decision: Finish | PauseExpired
    ) -> Session | None:
        """End a session the policy says is over (time up, or paused too long).

        The caller (the dispatcher) holds the session's lock and decided on fresh state.
        """
        if isinstance(decision, Finish):
            active, outcome = plan.total, Outcome.COMPLETED
        else:
            active, outcome = state.active_at(decision.at), Outcome.ENDED_EARLY
        return self._ended(
            await self.repo.end_session(
                session.id,
                ended_at=decision.at,
                focused=plan.focused(active),
                breaks_taken=plan.breaks_started_before(active),
                outcome=outcome,
                late=decision.late,
                now=self.clock.now(),
                version=session.version,
            )
        )

    async def interruption(self, session: Session, detail: str) -> bool:
        """Count an interruption (the 😵 Distracted button)."""
        return await self.repo.add_interruption(session.id, self.clock.now(), detail)

    async def score(
        self, session_id: int, user_id: int, score: int
    ) -> tuple[ScoreResult, int | None]:
        """Score an ended session of this user (any time later): (result, previous score)."""
        done, previous = await self.repo.set_score(session_id, user_id, score, self.clock.now())
        if not done:
            return ScoreResult.NOT_FOUND, None
        return (ScoreResult.SCORED if previous is None else ScoreResult.REPLACED), previous

    async def scorable(self, user_id: int, chat_id: int) -> Session | None:
        """The session a plain ``1``-``5`` reply scores, if any."""
        since = self.clock.now() - product.SCORE_REPLY_WINDOW
        return await self.repo.scorable_session(user_id, chat_id, since)

    # --- views --------------------------------------------------------------------------

    async def status(self, session: Session) -> StatusView:
        """Time left, progress, messages used, next break."""
        return self._status(session, await self.repo.deliveries(session.id))

    async def status_in(self, user_id: int, chat_id: int) -> StatusView | None:
        """The status of the user's running session in this chat (one read); None if none."""
        session, records = await self.repo.active_session_and_deliveries(user_id, chat_id)
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
        count, average_ms = await self.repo.earlier_focus(session.user_id, session.id)
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
        facts = await self.repo.session_facts(
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
        first = since if since is not None else await self.repo.first_start(user_id)
        if first is None or first >= until:
            return tally((), tz)
        offsets = local_times(tz).segments(to_ms(first), to_ms(until))
        labelled, by_day, by_hour = await self.repo.stats_aggregates(
            user_id, since, until, offsets, LONG_MINUTES
        )
        sums = [sum(column) for column in zip(*(row[1:] for row in by_day), strict=True)]
        sessions, focused, completed, planned, interruptions, scored, score_sum = (
            sums[:7] or [0] * 7
        )
        long_n, long_sum, short_sum = sums[7:] or [0] * 3
        hours = {hour: row for hour, *row in by_hour}
        return Tally(
            sessions=int(sessions),
            completed=int(completed),
            focused=float(focused),
            planned=int(planned),
            interruptions=int(interruptions),
            scored=int(scored),
            score_sum=int(score_sum),
            by_day={row[0]: (row[1], row[2]) for row in by_day},
            by_hour=[hours[h][0] if h in hours else 0.0 for h in range(24)],
            hour_scores=[
                (int(hours[h][1]), int(hours[h][2])) if h in hours else (0, 0) for h in range(24)
            ],
            labelled=(labelled[0], int(labelled[1])),
            unlabelled=(int(sessions) - labelled[0], int(completed) - int(labelled[1])),
            long_scores=(int(long_n), int(long_sum)),
            short_scores=(int(scored) - int(long_n), int(short_sum)),
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
            starts = await self.repo.completed_starts(user_id, now - _STREAK_HORIZON)
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
        user = await self.repo.get_user(user_id)
        return user.timezone if user else "UTC"
