"""What the person reads: /status, the summary, /stats, and the streak days kept for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from bot.core.base import ServiceBase
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
from bot.core.routine import GoalProgress, goal_after_session
from bot.core.timefmt import local_date, local_times, zone
from nudges import MISSED_REASON, DeliveryStatus, Limits, Plan, SessionState, SlotKind
from nudges import limits as product
from nudges.companion import flow_minutes, flow_spans
from nudges.curve import Friction, SessionStory, Stretch, focus_curve, friction_points
from nudges.planning import PlanAdvice, advise
from storage import DeliveryRecord, EndedBy, Outcome, Session
from storage.models import to_ms

__all__ = ["InsightViews", "StatusView", "SummaryView"]

_STREAK_HORIZON = timedelta(days=800)
_DAYS_KEPT = 10_000
"""Users whose streak days are kept in memory (up to ~800 dates each); the oldest go first."""


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
    # Nominal time from now to next_break_at / in_break_until (what "in 12 min" says).
    next_break_in: timedelta | None = None
    break_ends_in: timedelta | None = None
    breaks_ahead: int = 0  # breaks still to come (the time left includes them)

    @property
    def focus_left(self) -> timedelta:
        """Nominal focus still to do: the plan's focus less what is done (breaks excluded)."""
        return max(timedelta(0), timedelta(minutes=self.session.planned_minutes) - self.focused)


@dataclass(frozen=True)
class SummaryView:
    """What the end-of-session summary shows."""

    session: Session
    planned_minutes: int
    focused_minutes: int
    earlier_sessions: int  # the earlier sessions the average is of (see limits.AVERAGE_*)
    average_minutes: float | None  # their average focus, once enough of them count
    streak_days: int
    insight: str | None = None  # e.g. "3rd completed session today"
    flow_minutes: int = 0  # minutes in flow (nudges.companion)
    breaks_missed: int = 0  # breaks dropped because the bot was down when they were due
    pause_limit_minutes: float | None = None  # set when the pause limit ended the session
    curve: tuple[Stretch, ...] = ()  # one state per 5-minute stretch (nudges.curve)
    friction: tuple[Friction, ...] = ()  # pauses and distractions, in order
    goal: GoalProgress | None = None  # today against the daily goal, if one is set


class InsightViews(ServiceBase):
    """Views over a session and over a person's history."""

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
        ahead = sum(1 for start, _ in plan.breaks if start > active)
        return StatusView(
            session=session,
            left=(plan.total - active) * scale,
            total=plan.total * scale,
            focused=plan.focused(active) * scale,
            messages_used=len(state.counted()),
            messages_max=limits.max_messages,
            next_break_at=None if next_break is None or paused else state.wall(next_break),
            in_break_until=None if in_break is None or paused else state.wall(in_break),
            next_break_in=None if next_break is None or paused else (next_break - active) * scale,
            break_ends_in=None if in_break is None or paused else (in_break - active) * scale,
            breaks_ahead=ahead,
        )

    async def summary(self, session: Session) -> SummaryView:
        """The numbers of an ended session's summary."""
        count, average_ms = await self.store.reports.earlier_focus(
            session.user_id, session.id, completed_of_minutes=product.AVERAGE_MIN_MINUTES
        )
        tz = zone(await self.timezone_of(session.user_id))
        now = self.clock.now()
        days = await self.completed_days(session.user_id, tz, now)
        average = average_ms / 60000 if count >= product.AVERAGE_MIN_SESSIONS else None
        records = await self.store.deliveries.deliveries(session.id)
        missed = sum(
            1
            for r in records
            if r.kind is SlotKind.BREAK
            and r.status is DeliveryStatus.DROPPED
            and (r.reason or "").startswith(MISSED_REASON)
        )
        by_pause = session.ended_by is EndedBy.PAUSE_LIMIT
        story = await self._story(session, records)
        limits = self.limits_for(session)
        return SummaryView(
            session=session,
            planned_minutes=session.planned_minutes,
            focused_minutes=round(session.focused_minutes()),
            earlier_sessions=count,
            # Under a minute on average (a few started and stopped at once): no comparison.
            average_minutes=average if average is not None and average >= 1 else None,
            streak_days=streak(days, local_date(now, tz)),
            insight=await self._insight(session, tz, now),
            flow_minutes=self._flow_minutes(session, records),
            goal=await goal_after_session(self.store, session, tz, now),
            breaks_missed=missed,
            pause_limit_minutes=limits.pause_limit_minutes if by_pause else None,
            curve=()
            if story is None
            else tuple(focus_curve(story, limits.span(product.CURVE_STRETCH_MINUTES))),
            friction=() if story is None else tuple(friction_points(story, session.time_scale)),
        )

    async def _story(self, session: Session, records: list[DeliveryRecord]) -> SessionStory | None:
        """What was recorded about an ended session, for its curve and friction points."""
        if session.ended_at is None:
            return None
        _, plan, _ = self.policy_view(session, records)
        pauses: list[tuple[datetime, datetime]] = []
        distracted: list[datetime] = []
        paused_at: datetime | None = None
        for event in await self.store.reports.events(session.id):
            if event.kind == "paused":
                paused_at = event.at
            elif event.kind == "resumed" and paused_at is not None:
                pauses.append((paused_at, event.at))
                paused_at = None
            elif event.kind == "interruption" and (event.detail or "").startswith("distracted"):
                distracted.append(event.at)
        if paused_at is not None:  # the pause that ended it (the limit, or /stop)
            pauses.append((paused_at, session.ended_at))
        state, plan, limits = self._ended_view(session, records)
        return SessionStory(
            started_at=session.started_at,
            ended_at=session.ended_at,
            pauses=tuple(pauses),
            breaks=plan.breaks,
            distracted=tuple(distracted),
            flow=tuple(flow_spans(state, plan, limits, state.active_at(session.ended_at))),
        )

    def _ended_view(
        self, session: Session, records: list[DeliveryRecord]
    ) -> tuple[SessionState, Plan, Limits]:
        """The policy's view of a session at its end (an ended session is not paused)."""
        state, plan, limits = self.policy_view(session, records)
        if session.ended_at is not None:
            state = state.model_copy(update={"paused_at": None})
        return state, plan, limits

    def _flow_minutes(self, session: Session, records: list[DeliveryRecord]) -> int:
        """Whole minutes the session spent in flow (``nudges.companion``), by its end."""
        state, plan, limits = self._ended_view(session, records)
        at = session.ended_at or self.clock.now()
        return round(flow_minutes(state, plan, limits, state.active_at(at)))

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

    async def plan_advice(self, user_id: int) -> PlanAdvice | None:
        """What the user's own recent sessions suggest for the next one's length."""
        return advise(
            await self.store.reports.recent_lengths(user_id, product.PLAN_HISTORY_SESSIONS)
        )

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
