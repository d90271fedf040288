"""What /stats and the end-of-session summary say about a user's own sessions.

Pure functions: no Telegram, no I/O, ``now`` passed in. Every datetime inside is aware UTC;
the user's zone (``tz``) is used only to find local days and local hours.

Choices, so the numbers are predictable:

* Periods are rolling spans of whole local days ending with today: ``today`` is the user's
  local day, ``week`` the last 7 local days including today, ``month`` the last 30. ``all``
  has no start. Every period ends where tomorrow (local) begins.
* A session belongs to the local day, hour and weekday in which it *started*, all of its
  focused minutes included (a session from 23:30 to 00:20 counts for the first day).
* Streak days are local days with at least one completed session, taken from all-time
  completed starts, not just the period's.
* "Not rated is not a low score": unscored sessions are left out of every score average.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

from bot.core.timefmt import LocalTimes, local_date, local_times
from storage.models import SessionFact, to_ms

__all__ = [
    "INSIGHT_MIN_SCORED",
    "Period",
    "Stats",
    "compute_stats",
    "ordinal",
    "period_bounds",
    "session_insight",
    "streak",
]

Period = Literal["today", "week", "month", "all"]

_PERIOD_DAYS: dict[Period, int] = {"today": 1, "week": 7, "month": 30}

INSIGHT_MIN_SCORED = 5
"""Scored sessions in the period before /stats offers any insight."""

_MIN_GROUP = 2
"""Each side of a comparison needs at least this many sessions carrying the measured value."""

_MIN_SCORE_DIFF = 0.5
"""A score difference (1-5 scale) worth mentioning."""

_MIN_RATE_DIFF = 0.15
"""A completion-rate difference (15 percentage points) worth mentioning."""

_SCORE_RANGE = 4.0
"""Scores run 1-5; differences are divided by this to compare them with rate differences."""

LONG_MINUTES = 45
"""Planned minutes above this make a "long" session."""

_MORNING = range(5, 12)  # local start 05:00-11:59
_EVENING = range(17, 24)  # local start 17:00-23:59

_EPS = 1e-9  # so that 4.5 - 4.0 style differences meet their threshold despite float noise

_PEAKS = 3


def _check_aware(moment: datetime) -> None:
    if moment.utcoffset() is None:
        raise ValueError("naive datetime given to insights")


def _day_start(day: date, tz: tzinfo) -> datetime:
    """The first instant of a local day, as aware UTC.

    ``fold=0`` makes a midnight skipped by a DST jump resolve to the first instant that
    exists that day, and an ambiguous midnight to its earlier occurrence.
    """
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def period_bounds(period: Period, now: datetime, tz: tzinfo) -> tuple[datetime | None, datetime]:
    """The period as ``[start, end)`` in aware UTC; ``start`` is None for ``all``.

    Rolling whole local days ending with today: ``today`` = 1 day, ``week`` = 7, ``month`` = 30.
    ``end`` is the start of tomorrow in the user's zone, so a whole local day is always in.
    Days are counted on the calendar, so a week across a DST change is 7 local days long
    even when it is 167 or 169 hours.
    """
    _check_aware(now)
    today = local_date(now, tz)
    end = _day_start(today + timedelta(days=1), tz)
    if period == "all":
        return None, end
    first = today - timedelta(days=_PERIOD_DAYS[period] - 1)
    return _day_start(first, tz), end


@dataclass(frozen=True)
class Stats:
    """The numbers /stats shows for one period (minutes are nominal focused minutes)."""

    period: Period
    sessions: int
    completed: int
    completion_rate: float | None
    """0..1; None without sessions."""
    focused_minutes: float
    average_minutes: float | None
    """Focused minutes per session; None without sessions."""
    average_score: float | None
    """Mean of the scored sessions only; None when none is scored."""
    unscored: int
    average_interruptions: float | None
    """Per session; None without sessions."""
    estimate_accuracy: float | None
    """Total focused / total planned minutes; None when nothing was planned."""
    peak_hours: list[tuple[int, float]]
    """Up to 3 (local start hour, focused minutes), most first, earlier hour on a tie."""
    peak_weekdays: list[tuple[int, float]]
    """Up to 3 (local weekday, Monday=0, focused minutes), most first, earlier day on a tie."""
    current_streak: int
    best_streak: int
    daily: list[tuple[date, float]]
    """Focused minutes per local day of the period, oldest first, empty days included."""
    daily_sessions: list[int]
    """Sessions started on each day of ``daily``, in the same order."""
    by_hour: list[float]
    """Focused minutes by local start hour, 24 entries."""
    insights: list[str]
    """0-2 sentences about the user's own data."""
    insights_needed: int
    """More scored sessions needed to unlock insights; 0 once unlocked."""


_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_EPOCH_WEEKDAY = 3  # 1 January 1970 was a Thursday


@dataclass(frozen=True)
class Tally:
    """What /stats counts over a period's sessions, before any ratio or ranking.

    Made either from the sessions themselves (``tally``) or by SQL aggregates over them
    (``ReportStore.stats_aggregates``, for /stats: one row per local day and hour, not per
    session); ``stats_from_tally`` turns either into ``Stats``.
    """

    sessions: int
    completed: int
    focused: float
    planned: int
    interruptions: int
    scored: int
    score_sum: int
    by_day: dict[int, tuple[int, float]]
    """Local day number (``LocalTimes.day_number``) -> (sessions, focused minutes)."""
    by_hour: list[float]
    """Focused minutes by local start hour, 24 entries."""
    hour_scores: list[tuple[int, int]]
    """By local start hour: (scored sessions, sum of their scores)."""
    labelled: tuple[int, int]
    """Sessions with a label: (count, completed)."""
    unlabelled: tuple[int, int]
    long_scores: tuple[int, int]
    """Scored sessions planned over ``LONG_MINUTES``: (count, sum of scores)."""
    short_scores: tuple[int, int]


def tally(facts: Iterable[SessionFact], tz: tzinfo) -> Tally:
    """Count ``facts`` (all of them: filter first) in the user's local days and hours."""
    to_local = local_times(tz).local_ms
    sessions = completed = interruptions = planned = scored = score_sum = 0
    focused = 0.0
    by_day: dict[int, tuple[int, float]] = {}
    by_hour = [0.0] * 24
    hour_scores = [[0, 0] for _ in range(24)]
    labelled = [0, 0]
    unlabelled = [0, 0]
    long_scores = [0, 0]
    short_scores = [0, 0]
    for started_ms, planned_minutes, minutes, done, interrupted, score, has_label in facts:
        local = to_local(started_ms)
        hour = local // _HOUR_MS % 24
        day = local // _DAY_MS
        count, day_minutes = by_day.get(day, (0, 0.0))
        by_day[day] = (count + 1, day_minutes + minutes)
        by_hour[hour] += minutes
        sessions += 1
        completed += done
        interruptions += interrupted
        planned += planned_minutes
        focused += minutes
        group = labelled if has_label else unlabelled
        group[0] += 1
        group[1] += done
        if score is not None:
            scored += 1
            score_sum += score
            hour_scores[hour][0] += 1
            hour_scores[hour][1] += score
            length = long_scores if planned_minutes > LONG_MINUTES else short_scores
            length[0] += 1
            length[1] += score
    return Tally(
        sessions=sessions,
        completed=completed,
        focused=focused,
        planned=planned,
        interruptions=interruptions,
        scored=scored,
        score_sum=score_sum,
        by_day=by_day,
        by_hour=by_hour,
        hour_scores=[(n, total) for n, total in hour_scores],
        labelled=(labelled[0], labelled[1]),
        unlabelled=(unlabelled[0], unlabelled[1]),
        long_scores=(long_scores[0], long_scores[1]),
        short_scores=(short_scores[0], short_scores[1]),
    )


def compute_stats(
    period_facts: Sequence[SessionFact],
    all_completed_starts: Sequence[datetime],
    period: Period,
    now: datetime,
    tz: tzinfo,
    *,
    completed_days: AbstractSet[date] | None = None,
) -> Stats:
    """Everything /stats shows for ``period``, from the period's sessions and all-time starts.

    The reference: the bot itself has SQLite add the sessions up (``FocusService.stats``,
    ``ReportStore.stats_aggregates``) and passes that ``Tally`` to ``stats_from_tally``; this
    counts the same from session facts in Python (``tally``), and the tests check both.
    Facts that did not start inside ``period_bounds(period, now, tz)`` are ignored, so the
    daily buckets always add up to the totals. ``completed_days``, when given, are the local
    days of ``all_completed_starts`` already worked out (the caller keeps them).
    """
    start, end = period_bounds(period, now, tz)
    start_ms = None if start is None else to_ms(start)
    end_ms = to_ms(end)
    facts = (
        f
        for f in period_facts
        if (start_ms is None or f.started_ms >= start_ms) and f.started_ms < end_ms
    )
    days = (
        completed_days
        if completed_days is not None
        else {local_date(s, tz) for s in all_completed_starts}
    )
    return stats_from_tally(tally(facts, tz), days, period, now, tz)


def stats_from_tally(
    counted: Tally, completed_days: AbstractSet[date], period: Period, now: datetime, tz: tzinfo
) -> Stats:
    """``Stats`` from the period's ``Tally`` and the local days with a completed session."""
    start, _ = period_bounds(period, now, tz)
    today = local_date(now, tz)
    if start is not None:
        first_day = local_date(start, tz)
    else:
        first_day = min((LocalTimes.date_of(d) for d in counted.by_day), default=today)
    first = first_day.toordinal() - LocalTimes.date_of(0).toordinal()
    numbers = range(first, first + (today - first_day).days + 1)
    by_weekday = [0.0] * 7
    for day, (_, minutes) in counted.by_day.items():
        by_weekday[(day + _EPOCH_WEEKDAY) % 7] += minutes
    sessions, focused, scored = counted.sessions, counted.focused, counted.scored
    needed = max(0, INSIGHT_MIN_SCORED - scored)
    return Stats(
        period=period,
        sessions=sessions,
        completed=counted.completed,
        completion_rate=counted.completed / sessions if sessions else None,
        focused_minutes=focused,
        average_minutes=focused / sessions if sessions else None,
        average_score=counted.score_sum / scored if scored else None,
        unscored=sessions - scored,
        average_interruptions=counted.interruptions / sessions if sessions else None,
        estimate_accuracy=focused / counted.planned if counted.planned else None,
        peak_hours=_peaks(counted.by_hour),
        peak_weekdays=_peaks(by_weekday),
        current_streak=streak(completed_days, today),
        best_streak=_best_streak(completed_days),
        daily=[(LocalTimes.date_of(n), counted.by_day.get(n, (0, 0.0))[1]) for n in numbers],
        daily_sessions=[counted.by_day.get(n, (0, 0.0))[0] for n in numbers],
        by_hour=counted.by_hour,
        insights=[] if needed else _insights(counted),
        insights_needed=needed,
    )


def _peaks(totals: Sequence[float]) -> list[tuple[int, float]]:
    """The top buckets with any focus, most first; ``sorted`` is stable, so earlier wins ties."""
    ranked = sorted(((i, v) for i, v in enumerate(totals) if v > 0), key=lambda p: -p[1])
    return ranked[:_PEAKS]


def _best_streak(days: AbstractSet[date]) -> int:
    """The longest run of consecutive days in ``days``."""
    best = 0
    for day in days:
        if day - timedelta(days=1) in days:
            continue  # not the first day of a run
        length = 1
        while day + timedelta(days=length) in days:
            length += 1
        best = max(best, length)
    return best


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items)


def _split(a: tuple[int, int], b: tuple[int, int]) -> tuple[float, float] | None:
    """Average scores of two groups of scored sessions, (count, sum) each, or None when a
    group is too small."""
    if a[0] < _MIN_GROUP or b[0] < _MIN_GROUP:
        return None
    return a[1] / a[0], b[1] / b[0]


def _insights(counted: Tally) -> list[str]:
    """Up to two comparisons from the user's own sessions, the largest effects first.

    Score differences are divided by the score range (4) and rate differences taken as they
    are (0..1), so the two kinds can be ranked against each other; on a tie the candidate
    listed first here wins.
    """
    candidates: list[tuple[float, str]] = []

    def scores_in(hours: range) -> tuple[int, int]:
        picked = [counted.hour_scores[h] for h in hours]
        return sum(n for n, _ in picked), sum(total for _, total in picked)

    morning_scores, evening_scores = scores_in(_MORNING), scores_in(_EVENING)
    daytime = _split(morning_scores, evening_scores)
    if daytime is not None:
        morning, evening = daytime
        diff = abs(morning - evening)
        if diff + _EPS >= _MIN_SCORE_DIFF:
            better, worse = ("morning", "evening") if morning > evening else ("evening", "morning")
            candidates.append(
                (
                    diff / _SCORE_RANGE,
                    f"Your {better} sessions score {diff:.1f} higher than your {worse} ones.",
                )
            )

    (labelled, labelled_done), (unlabelled, unlabelled_done) = counted.labelled, counted.unlabelled
    if labelled >= _MIN_GROUP and unlabelled >= _MIN_GROUP:
        with_label, without = labelled_done / labelled, unlabelled_done / unlabelled
        diff = abs(with_label - without)
        if diff + _EPS >= _MIN_RATE_DIFF:
            which = "with" if with_label > without else "without"
            high, low = max(with_label, without), min(with_label, without)
            candidates.append(
                (
                    diff,
                    f"Sessions {which} a label are completed more often: {high:.0%} vs {low:.0%}.",
                )
            )

    length = _split(counted.long_scores, counted.short_scores)
    if length is not None:
        long, short = length
        diff = abs(long - short)
        if diff + _EPS >= _MIN_SCORE_DIFF:
            text = (
                f"After {LONG_MINUTES} minutes your scores drop: {long:.1f} vs {short:.1f}."
                if long < short
                else f"Your sessions over {LONG_MINUTES} minutes score higher: "
                f"{long:.1f} vs {short:.1f}."
            )
            candidates.append((diff / _SCORE_RANGE, text))

    ranked = sorted(candidates, key=lambda c: -c[0])  # stable: listing order breaks ties
    return [text for _, text in ranked[:2]]


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``12th``, ``13th``, ``21st``..."""
    teens = 10 <= n % 100 <= 20
    suffix = "th" if teens else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


_MIN_EARLIER_TODAY = 2  # completed earlier today before "3rd completed session today"
_MIN_WEEK_SESSIONS = 3  # earlier sessions this week before "your best this week"
_MIN_EARLIER_AVERAGE = 3  # earlier sessions before comparing with the average
_MIN_LENGTH_DIFF = 0.10  # a 10% difference from the average is worth a line


def session_insight(
    fact: SessionFact, earlier: Sequence[SessionFact], now: datetime, tz: tzinfo
) -> str | None:
    """One line for the end-of-session summary, when the user's data supports it.

    In priority order: the ordinal of today's completed sessions (from the 3rd on); no
    interruptions when every one of at least 3 earlier sessions in the last 7 local days had
    some; focused minutes 10% or more off the average of at least 3 earlier sessions.
    ``earlier`` holds the user's other ended sessions; those that did not start before
    ``fact`` are ignored. "Today" and "this week" are the user's local days up to ``now``.
    """
    _check_aware(now)
    before = [e for e in earlier if e.started_at < fact.started_at]
    today = local_date(now, tz)

    if fact.completed and local_date(fact.started_at, tz) == today:
        done_today = sum(e.completed and local_date(e.started_at, tz) == today for e in before)
        if done_today >= _MIN_EARLIER_TODAY:
            return f"{ordinal(done_today + 1)} completed session today"

    if fact.interruptions == 0:
        week_start = _day_start(today - timedelta(days=_PERIOD_DAYS["week"] - 1), tz)
        this_week = [e for e in before if e.started_at >= week_start]
        if len(this_week) >= _MIN_WEEK_SESSIONS and all(e.interruptions for e in this_week):
            return "No interruptions — your best this week"

    if len(before) >= _MIN_EARLIER_AVERAGE:
        average = _mean(e.focused_minutes for e in before)
        if average > 0:
            change = fact.focused_minutes / average - 1
            if abs(change) + _EPS >= _MIN_LENGTH_DIFF:
                word = "longer" if change > 0 else "shorter"
                return f"{abs(change):.0%} {word} than your average"
    return None


def streak(days: AbstractSet[date], today: date) -> int:
    """Consecutive days with a completed session, ending today (or yesterday: still alive)."""
    day = today if today in days else today - timedelta(days=1)
    count = 0
    while day in days:
        count += 1
        day -= timedelta(days=1)
    return count
