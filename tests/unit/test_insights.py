"""Tests of ``bot/core/insights.py`` with hand-computed numbers, mostly in Europe/Berlin.

Berlin is UTC+1 until 2026-03-29 02:00 local, when clocks jump to 03:00 (UTC+2), and back on
2026-10-25 03:00 -> 02:00. Every time below is written in local wall-clock time with
``berlin(...)`` and converted to aware UTC before it reaches the code under test, so the code
only ever sees UTC, as in production.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest

from bot.core.insights import (
    Period,
    Stats,
    compute_stats,
    ordinal,
    period_bounds,
    session_insight,
    tally,
)
from bot.core.service import FocusService
from bot.core.timefmt import LocalTimes, zone
from nudges import Limits
from storage import open_storage
from storage.models import SessionFact
from tests.support.fakes import FakeClock

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def local(tz: tzinfo, y: int, mo: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    """A local wall-clock time as aware UTC."""
    return datetime(y, mo, d, h, mi, tzinfo=tz).astimezone(UTC)


def berlin(mo: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    """A 2026 Berlin wall-clock time as aware UTC."""
    return local(BERLIN, 2026, mo, d, h, mi)


def fact(
    start: datetime,
    planned: int = 25,
    focused: float | None = None,
    *,
    completed: bool = True,
    interruptions: int = 0,
    score: int | None = None,
    labelled: bool = False,
) -> SessionFact:
    """An ended session; focused defaults to the planned minutes."""
    minutes = planned if focused is None else focused
    return SessionFact.of(
        started_at=start,
        planned_minutes=planned,
        focused_minutes=minutes,
        completed=completed,
        interruptions=interruptions,
        score=score,
        labelled=labelled,
    )


# --- the main fixture: one week in Berlin (UTC+1), "now" Thu 2026-03-12 20:00 local ---------

NOW = berlin(3, 12, 20, 0)  # = 19:00 UTC

WEEK = [
    #     local start         planned focused  completed  interr score   labelled
    fact(berlin(3, 6, 9, 0), 25, 25, completed=True, interruptions=0, score=5, labelled=True),
    # 00:30 local on Sat 7 March is 23:30 UTC on Fri 6 March: it belongs to Saturday.
    fact(berlin(3, 7, 0, 30), 50, 40, completed=False, interruptions=2, score=2),
    fact(berlin(3, 7, 10, 0), 25, 25, completed=True, interruptions=1, score=None),
    fact(berlin(3, 9, 8, 0), 50, 50, completed=True, interruptions=0, score=4, labelled=True),
    fact(berlin(3, 9, 14, 0), 25, 10, completed=False, interruptions=3, score=None),
    fact(berlin(3, 9, 20, 0), 25, 25, completed=True, interruptions=1, score=3, labelled=True),
    fact(berlin(3, 10, 9, 30), 60, 60, completed=True, interruptions=0, score=4, labelled=True),
    fact(berlin(3, 11, 19, 0), 25, 20, completed=False, interruptions=2, score=2),
    fact(berlin(3, 12, 8, 15), 25, 25, completed=True, interruptions=0, score=5),
    fact(berlin(3, 12, 9, 0), 30, 30, completed=True, interruptions=1, score=None, labelled=True),
]

# Completed starts of all time: the week's completed ones (6, 7, 9, 10, 12 March; none on
# the 11th) and an older run of 4 days, 20-23 February.
ALL_COMPLETED = [f.started_at for f in WEEK if f.completed] + [
    berlin(2, 20, 9),
    berlin(2, 21, 9),
    berlin(2, 22, 9),
    berlin(2, 23, 9),
]


@pytest.fixture
def week_stats() -> Stats:
    return compute_stats(WEEK, ALL_COMPLETED, "week", NOW, BERLIN)


def test_week_totals(week_stats: Stats) -> None:
    s = week_stats
    assert s.period == "week"
    assert s.sessions == 10
    # completed: #1 #3 #4 #6 #7 #9 #10 = 7 of 10
    assert s.completed == 7
    assert s.completion_rate == pytest.approx(0.7)
    # 25 + 40 + 25 + 50 + 10 + 25 + 60 + 20 + 25 + 30 = 310
    assert s.focused_minutes == pytest.approx(310)
    assert s.average_minutes == pytest.approx(31.0)  # 310 / 10
    # scored: 5 2 4 3 4 2 5 -> 25 / 7; three unscored (#3 #5 #10) are not zeros
    assert s.average_score == pytest.approx(25 / 7)
    assert s.unscored == 3
    # interruptions 0+2+1+0+3+1+0+2+0+1 = 10 over 10 sessions
    assert s.average_interruptions == pytest.approx(1.0)
    # planned 25+50+25+50+25+25+60+25+25+30 = 340; 310 / 340
    assert s.estimate_accuracy == pytest.approx(310 / 340)


def test_week_peaks_and_buckets(week_stats: Stats) -> None:
    s = week_stats
    # by local start hour: 00 -> 40 (#2); 08 -> 50 + 25 = 75; 09 -> 25 + 60 + 30 = 115;
    # 10 -> 25; 14 -> 10; 19 -> 20; 20 -> 25
    expected_hours = [0.0] * 24
    for hour, minutes in {0: 40, 8: 75, 9: 115, 10: 25, 14: 10, 19: 20, 20: 25}.items():
        expected_hours[hour] = minutes
    assert s.by_hour == pytest.approx(expected_hours)
    assert s.peak_hours == [(9, 115), (8, 75), (0, 40)]
    # weekdays: Mon 50+10+25 = 85, Tue 60, Wed 20, Thu 25+30 = 55, Fri 25, Sat 40+25 = 65
    assert s.peak_weekdays == [(0, 85), (5, 65), (1, 60)]
    # 7 local days, Fri 6 .. Thu 12 March, Sunday empty; they add up to 310
    assert s.daily == [
        (date(2026, 3, 6), 25),
        (date(2026, 3, 7), 65),
        (date(2026, 3, 8), 0),
        (date(2026, 3, 9), 85),
        (date(2026, 3, 10), 60),
        (date(2026, 3, 11), 20),
        (date(2026, 3, 12), 55),
    ]
    assert s.daily_sessions == [1, 2, 0, 3, 1, 1, 2]


def test_week_streaks(week_stats: Stats) -> None:
    # Today (12th) has a completed session, the 11th none: current 1.
    # Runs: 20-23 Feb = 4, 6-7 Mar = 2, 9-10 Mar = 2, 12 Mar = 1 -> best 4, across the gaps.
    assert week_stats.current_streak == 1
    assert week_stats.best_streak == 4


def test_week_insights_rank_the_two_largest_effects(week_stats: Stats) -> None:
    # 7 scored >= 5: unlocked.
    # morning scored: 5 (09:00) 4 (08:00) 4 (09:30) 5 (08:15) = 4.5; evening: 3 (20:00)
    #   2 (19:00) = 2.5 -> diff 2.0, effect 2.0 / 4 = 0.5
    # labelled: #1 #4 #6 #7 #10 all completed = 100%; unlabelled: #3 #9 of 5 = 40%
    #   -> 60 points, effect 0.6
    # planned > 45 scored: 2 4 4 = 3.33; <= 45: 5 3 2 5 = 3.75 -> 0.42 < 0.5, not shown
    assert week_stats.insights == [
        "Sessions with a label are completed more often: 100% vs 40%.",
        "Your morning sessions score 2.0 higher than your evening ones.",
    ]
    assert week_stats.insights_needed == 0


def test_other_periods_ignore_facts_outside_them() -> None:
    today = compute_stats(WEEK, ALL_COMPLETED, "today", NOW, BERLIN)
    # only #9 (25) and #10 (30) started on Thu 12 March
    assert today.sessions == 2
    assert today.focused_minutes == pytest.approx(55)
    assert today.daily == [(date(2026, 3, 12), 55)]
    assert today.daily_sessions == [2]
    # 1 scored today (#9): 4 more needed, no insights
    assert today.insights == []
    assert today.insights_needed == 4
    # streaks are all-time, whatever the period
    assert (today.current_streak, today.best_streak) == (1, 4)


def test_all_period_days_run_from_the_first_session_to_today() -> None:
    stats = compute_stats(WEEK, ALL_COMPLETED, "all", NOW, BERLIN)
    assert stats.sessions == 10
    assert stats.daily[0] == (date(2026, 3, 6), 25)
    assert stats.daily[-1] == (date(2026, 3, 12), 55)
    assert len(stats.daily) == 7


def test_empty_period() -> None:
    stats = compute_stats([], [], "month", NOW, BERLIN)
    assert stats.sessions == 0
    assert stats.completed == 0
    assert stats.completion_rate is None
    assert stats.focused_minutes == 0
    assert stats.average_minutes is None
    assert stats.average_score is None
    assert stats.unscored == 0
    assert stats.average_interruptions is None
    assert stats.estimate_accuracy is None
    assert stats.peak_hours == []
    assert stats.peak_weekdays == []
    assert (stats.current_streak, stats.best_streak) == (0, 0)
    # 30 local days, 11 Feb .. 12 Mar, all zero
    assert len(stats.daily) == 30
    assert stats.daily[0] == (date(2026, 2, 11), 0)
    assert stats.daily[-1] == (date(2026, 3, 12), 0)
    assert stats.by_hour == [0.0] * 24
    assert stats.insights == []
    assert stats.insights_needed == 5


def test_peak_ties_go_to_the_earlier_hour_and_day() -> None:
    # 30 minutes at 10:00 Mon 9, 08:00 Tue 10, 15:00 Wed 11, 09:00 Thu 12; 10 at 07:00 Tue 10
    facts = [
        fact(berlin(3, 9, 10), 30),
        fact(berlin(3, 10, 8), 30),
        fact(berlin(3, 11, 15), 30),
        fact(berlin(3, 12, 9), 30),
        fact(berlin(3, 10, 7), 10),
    ]
    stats = compute_stats(facts, [], "week", NOW, BERLIN)
    # hours 8, 9, 10, 15 tie at 30: the three earliest
    assert stats.peak_hours == [(8, 30), (9, 30), (10, 30)]
    # Tue 30 + 10 = 40 first; Mon, Wed, Thu tie at 30: Mon and Wed
    assert stats.peak_weekdays == [(1, 40), (0, 30), (2, 30)]


# --- "not rated is not a low score" ---------------------------------------------------------


def test_unscored_sessions_are_not_low_scores() -> None:
    facts = [
        fact(berlin(3, 12, 9), score=5),
        fact(berlin(3, 12, 10), score=None),
        fact(berlin(3, 12, 11), score=None),
        fact(berlin(3, 12, 12), score=1),
    ]
    stats = compute_stats(facts, [], "today", NOW, BERLIN)
    # (5 + 1) / 2 = 3.0, not (5 + 0 + 0 + 1) / 4 = 1.5
    assert stats.average_score == pytest.approx(3.0)
    assert stats.unscored == 2
    # two scored: three more before insights
    assert stats.insights_needed == 3


# --- time zone edges --------------------------------------------------------------------------


def test_late_evening_session_counts_for_its_local_day() -> None:
    # New York is UTC-5 on 4 March: 23:30 local on Wed 4 March is 04:30 UTC on Thu 5 March.
    start = local(NEW_YORK, 2026, 3, 4, 23, 30)
    assert start.date() == date(2026, 3, 5)  # the UTC date differs
    now = local(NEW_YORK, 2026, 3, 5, 12)
    stats = compute_stats([fact(start, 40)], [start], "week", now, NEW_YORK)
    assert stats.daily[-2:] == [(date(2026, 3, 4), 40), (date(2026, 3, 5), 0)]
    assert stats.by_hour[23] == 40
    assert stats.peak_weekdays == [(2, 40)]  # Wednesday
    # the completed day was yesterday: the streak is still alive
    assert stats.current_streak == 1


def test_just_after_midnight_in_berlin_is_the_next_local_day() -> None:
    # 00:30 local Sat 7 March = 23:30 UTC Fri 6 March (from the main fixture)
    start = WEEK[1].started_at
    assert start == datetime(2026, 3, 6, 23, 30, tzinfo=UTC)
    stats = compute_stats([WEEK[1]], [], "week", NOW, BERLIN)
    assert dict(stats.daily)[date(2026, 3, 7)] == 40
    assert dict(stats.daily)[date(2026, 3, 6)] == 0
    assert stats.by_hour[0] == 40


# Berlin springs forward on Sun 29 March 2026 at 02:00 local (01:00 UTC).
DST_NOW = berlin(3, 31, 12)  # Tue 31 March, UTC+2


def test_week_across_the_spring_dst_change() -> None:
    facts = [
        # 01:30 local on the 29th, still UTC+1: 00:30 UTC
        fact(berlin(3, 29, 1, 30), 20),
        # 03:30 local on the 29th, already UTC+2: 01:30 UTC, one real hour after the first
        fact(berlin(3, 29, 3, 30), 30),
        # 00:30 local on the 30th (UTC+2) = 22:30 UTC on the 29th: belongs to the 30th
        fact(berlin(3, 30, 0, 30), 15),
        # 23:30 local on Tue 24th (UTC+1) = 22:30 UTC, just before the week starts
        fact(berlin(3, 24, 23, 30), 99),
        # 00:10 local on Wed 25th = 23:10 UTC on the 24th: the first day of the week
        fact(berlin(3, 25, 0, 10), 10),
    ]
    assert facts[0].started_at == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert facts[1].started_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert facts[2].started_at == datetime(2026, 3, 29, 22, 30, tzinfo=UTC)
    stats = compute_stats(facts, [], "week", DST_NOW, BERLIN)
    # 7 local days, Wed 25 .. Tue 31, each once; the 24th's session is outside
    assert stats.daily == [
        (date(2026, 3, 25), 10),
        (date(2026, 3, 26), 0),
        (date(2026, 3, 27), 0),
        (date(2026, 3, 28), 0),
        (date(2026, 3, 29), 50),  # 20 + 30
        (date(2026, 3, 30), 15),
        (date(2026, 3, 31), 0),
    ]
    assert stats.sessions == 4
    assert stats.focused_minutes == pytest.approx(75)  # 10 + 20 + 30 + 15
    # hours by local wall clock: 00 -> 10 + 15, 01 -> 20 (CET), 03 -> 30 (CEST); no 02:00
    assert stats.by_hour[0] == 25
    assert stats.by_hour[1] == 20
    assert stats.by_hour[2] == 0
    assert stats.by_hour[3] == 30
    assert stats.peak_weekdays == [(6, 50), (0, 15), (2, 10)]  # Sun, Mon, Wed


@pytest.mark.parametrize(
    ("now", "first", "hours"),
    [
        # spring: 7 local days that are 167 real hours long
        (berlin(3, 31, 12), date(2026, 3, 25), 167),
        # autumn (back to UTC+1 on Sun 25 October): 169 hours
        (berlin(10, 27, 12), date(2026, 10, 21), 169),
        # no change: 168
        (berlin(3, 12, 20), date(2026, 3, 6), 168),
    ],
)
def test_week_is_seven_local_days_whatever_dst_does(now: datetime, first: date, hours: int) -> None:
    start, end = period_bounds("week", now, BERLIN)
    assert start is not None
    assert end - start == timedelta(hours=hours)
    assert start == local(BERLIN, first.year, first.month, first.day, 0)  # local midnight
    days = [d for d, _ in compute_stats([], [], "week", now, BERLIN).daily]
    assert days == [first + timedelta(days=i) for i in range(7)]


# --- period bounds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "start"),
    [
        # today = local Thu 12 March from 00:00 (UTC+1 -> 23:00 UTC the day before)
        ("today", datetime(2026, 3, 11, 23, tzinfo=UTC)),
        # the last 7 local days: from Fri 6 March 00:00 local
        ("week", datetime(2026, 3, 5, 23, tzinfo=UTC)),
        # the last 30 local days: 12 March - 29 days = 11 February
        ("month", datetime(2026, 2, 10, 23, tzinfo=UTC)),
        ("all", None),
    ],
)
def test_period_bounds(period: Period, start: datetime | None) -> None:
    # every period ends where local Fri 13 March begins: 23:00 UTC on the 12th
    assert period_bounds(period, NOW, BERLIN) == (start, datetime(2026, 3, 12, 23, tzinfo=UTC))


def test_period_bounds_follow_the_local_day_not_the_utc_one() -> None:
    # 00:30 local on Thu 12 March is 23:30 UTC on Wed 11: "today" is still Thursday
    just_after_midnight = berlin(3, 12, 0, 30)
    assert just_after_midnight.date() == date(2026, 3, 11)
    thursday = (datetime(2026, 3, 11, 23, tzinfo=UTC), datetime(2026, 3, 12, 23, tzinfo=UTC))
    assert period_bounds("today", just_after_midnight, BERLIN) == thursday
    # and the week is Fri 6 .. Thu 12, not Thu 5 .. Wed 11
    start, _ = period_bounds("week", just_after_midnight, BERLIN)
    assert start == datetime(2026, 3, 5, 23, tzinfo=UTC)


def test_period_bounds_are_utc() -> None:
    start, end = period_bounds("week", NOW, BERLIN)
    assert start is not None
    assert start.utcoffset() == timedelta(0)
    assert end.utcoffset() == timedelta(0)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        period_bounds("today", datetime(2026, 3, 12, 20), BERLIN)  # noqa: DTZ001


# --- streaks ----------------------------------------------------------------------------------


def test_streak_across_local_midnight() -> None:
    # 23:50 Tue 10 March and 00:10 Wed 11 March local are 22:50 and 23:10 UTC on the 10th:
    # one UTC day, but two consecutive local days.
    starts = [berlin(3, 10, 23, 50), berlin(3, 11, 0, 10)]
    assert {s.date() for s in starts} == {date(2026, 3, 10)}
    stats = compute_stats([], starts, "today", berlin(3, 11, 12), BERLIN)
    assert (stats.current_streak, stats.best_streak) == (2, 2)


def test_streak_alive_when_today_has_none_but_yesterday_has() -> None:
    # completed on the 9th and 10th; now is the 11th with nothing yet
    starts = [berlin(3, 9, 9), berlin(3, 10, 9)]
    stats = compute_stats([], starts, "week", berlin(3, 11, 18), BERLIN)
    assert stats.current_streak == 2
    # a day later, with nothing on the 11th either, it has broken; the best stays
    later = compute_stats([], starts, "week", berlin(3, 12, 18), BERLIN)
    assert (later.current_streak, later.best_streak) == (0, 2)


def test_best_streak_over_a_gap() -> None:
    # 1-3 March (3 days), gap on the 4th, 5-6 March (2 days, up to today)
    starts = [berlin(3, d, 9) for d in (1, 2, 3, 5, 6)] + [berlin(3, 2, 15)]  # twice on the 2nd
    stats = compute_stats([], starts, "week", berlin(3, 6, 20), BERLIN)
    assert (stats.current_streak, stats.best_streak) == (2, 3)


# --- insights ---------------------------------------------------------------------------------


def today_at(hour: int) -> datetime:
    return berlin(3, 12, hour)


def stats_of(facts: list[SessionFact]) -> Stats:
    return compute_stats(facts, [], "today", NOW, BERLIN)


def test_insights_need_five_scored_sessions() -> None:
    # A huge morning/evening gap, but only 4 scored (the unscored one does not count).
    facts = [
        fact(today_at(8), score=5),
        fact(today_at(9), score=5),
        fact(today_at(18), score=1),
        fact(today_at(19), score=1),
        fact(today_at(10), score=None),
    ]
    stats = stats_of(facts)
    assert stats.insights == []
    assert stats.insights_needed == 1  # 5 - 4
    assert stats_of([*facts, fact(today_at(11), score=5)]).insights == [
        # morning 5 5 5 = 5.0, evening 1 1 = 1.0
        "Your morning sessions score 4.0 higher than your evening ones."
    ]


def test_evening_better_than_morning() -> None:
    # evening 5 5 4 = 4.67, morning 3 3 = 3.0 -> 1.67, shown as 1.7
    facts = [
        fact(today_at(17), score=5),
        fact(today_at(18), score=5),
        fact(today_at(19), score=4),
        fact(today_at(5), score=3),
        fact(today_at(11), score=3),
    ]
    assert stats_of(facts).insights == [
        "Your evening sessions score 1.7 higher than your morning ones."
    ]


@pytest.mark.parametrize(
    ("evening", "expected"),
    [
        # morning 4 4 = 4.0, evening 4 3 = 3.5: exactly 0.5 is enough
        ([4, 3], ["Your morning sessions score 0.5 higher than your evening ones."]),
        # evening 4 4 -> no difference at all
        ([4, 4], []),
        # a single evening session is too few to compare
        ([1], []),
    ],
)
def test_morning_evening_threshold(evening: list[int], expected: list[str]) -> None:
    facts = [fact(today_at(8), score=4), fact(today_at(9), score=4)]
    facts += [fact(today_at(20 + i), score=s) for i, s in enumerate(evening)]
    facts += [fact(today_at(13), score=4), fact(today_at(14), score=4)]  # neither: midday
    assert stats_of(facts).insights == expected


def test_small_score_difference_is_not_an_insight() -> None:
    # morning 4 4 3 = 3.67, evening 4 3 = 3.5 -> 0.17 < 0.5; everything else equal
    facts = [
        fact(today_at(8), score=4),
        fact(today_at(9), score=4),
        fact(today_at(10), score=3),
        fact(today_at(18), score=4),
        fact(today_at(19), score=3),
    ]
    stats = stats_of(facts)
    assert stats.insights == []
    assert stats.insights_needed == 0


def test_labelled_sessions_completed_more_often() -> None:
    # all at 13:00-15:00 and 25 planned minutes, so only the label comparison applies
    facts = [
        fact(today_at(13), score=4, labelled=True, completed=True),
        fact(today_at(14), score=4, labelled=True, completed=True),
        fact(today_at(15), score=4, labelled=True, completed=True),
        fact(today_at(13), score=4, labelled=True, completed=False),
        fact(today_at(14), score=4, labelled=False, completed=True),
        fact(today_at(15), score=4, labelled=False, completed=False),
    ]
    # labelled 3 / 4 = 75%, unlabelled 1 / 2 = 50%: 25 points >= 15
    assert stats_of(facts).insights == [
        "Sessions with a label are completed more often: 75% vs 50%."
    ]


@pytest.mark.parametrize(
    ("unlabelled", "expected"),
    [
        # labelled 1 / 3 = 33%, unlabelled 3 / 3 = 100%
        ([True, True, True], ["Sessions without a label are completed more often: 100% vs 33%."]),
        # 33% vs 1 / 3 = 33%: nothing
        ([True, False, False], []),
    ],
)
def test_unlabelled_sessions_completed_more_often(
    unlabelled: list[bool], expected: list[str]
) -> None:
    facts = [
        fact(today_at(13), score=4, labelled=True, completed=True),
        fact(today_at(14), score=4, labelled=True, completed=False),
        fact(today_at(15), score=4, labelled=True, completed=False),
    ]
    facts += [fact(today_at(13), score=4, completed=c) for c in unlabelled]
    assert stats_of(facts).insights == expected


def test_label_difference_under_fifteen_points_is_not_shown() -> None:
    # labelled 4 / 5 = 80%, unlabelled 2 / 3 = 66.7%: 13.3 points < 15
    facts = [fact(today_at(13), score=4, labelled=True, completed=i < 4) for i in range(5)]
    facts += [fact(today_at(14), score=4, completed=i < 2) for i in range(3)]
    assert stats_of(facts).insights == []


def test_scores_drop_after_45_minutes() -> None:
    # planned > 45: 3 3 4 = 3.33; <= 45 (45 itself is short): 4 5 4 = 4.33 -> diff 1.0
    facts = [
        fact(today_at(13), 50, score=3),
        fact(today_at(14), 60, score=3),
        fact(today_at(15), 90, score=4),
        fact(today_at(13), 45, score=4),
        fact(today_at(14), 25, score=5),
        fact(today_at(15), 30, score=4),
    ]
    assert stats_of(facts).insights == ["After 45 minutes your scores drop: 3.3 vs 4.3."]


def test_long_sessions_score_higher() -> None:
    # long 5 5 = 5.0, short 3 4 3 = 3.33
    facts = [
        fact(today_at(13), 50, score=5),
        fact(today_at(14), 60, score=5),
        fact(today_at(13), 25, score=3),
        fact(today_at(14), 25, score=4),
        fact(today_at(15), 25, score=3),
    ]
    assert stats_of(facts).insights == ["Your sessions over 45 minutes score higher: 5.0 vs 3.3."]


def test_two_largest_of_three_and_ties_keep_the_listed_order() -> None:
    facts = [
        fact(today_at(8), 25, score=5, completed=True, labelled=True),
        fact(today_at(9), 25, score=5, completed=True, labelled=True),
        fact(today_at(19), 25, score=3, completed=True),
        fact(today_at(20), 25, score=3, completed=True),
        fact(today_at(13), 60, score=1, completed=False),
        fact(today_at(14), 60, score=1, completed=False),
    ]
    # length: long 1 1 = 1.0 vs short 5 5 3 3 = 4.0 -> 3.0 / 4 = 0.75
    # morning 5 5 vs evening 3 3 -> 2.0 / 4 = 0.5
    # label: 2 / 2 = 100% vs 2 / 4 = 50% -> 0.5, a tie with morning, listed after it: dropped
    assert stats_of(facts).insights == [
        "After 45 minutes your scores drop: 1.0 vs 4.0.",
        "Your morning sessions score 2.0 higher than your evening ones.",
    ]


# --- session_insight --------------------------------------------------------------------------

S_NOW = berlin(3, 12, 18)  # Thu 12 March 18:00 local


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (101, "101st"),
        (111, "111th"),
    ],
)
def test_ordinal(n: int, text: str) -> None:
    assert ordinal(n) == text


def test_third_completed_session_today() -> None:
    earlier = [
        fact(berlin(3, 12, 9), interruptions=2),
        fact(berlin(3, 12, 11), interruptions=2),
        fact(berlin(3, 12, 13), completed=False, interruptions=2),  # not completed: not counted
    ]
    # the ordinal wins over "no interruptions" (which the data supports too)
    this = fact(berlin(3, 12, 15), interruptions=0)
    assert session_insight(this, earlier, S_NOW, BERLIN) == "3rd completed session today"
    more = [*earlier, fact(berlin(3, 12, 14))]
    assert session_insight(this, more, S_NOW, BERLIN) == "4th completed session today"


def test_no_ordinal_for_an_unfinished_session_or_yesterdays_sessions() -> None:
    # 23:50 yesterday is 22:50 UTC on the 11th: not today
    earlier = [fact(berlin(3, 11, 23, 50), interruptions=1), fact(berlin(3, 12, 9))]
    this = fact(berlin(3, 12, 15), interruptions=1)
    assert session_insight(this, earlier, S_NOW, BERLIN) is None  # 1 earlier today, 2 in all
    both_today = [fact(berlin(3, 12, 8)), fact(berlin(3, 12, 9))]
    unfinished = fact(berlin(3, 12, 15), completed=False, interruptions=1)
    assert session_insight(unfinished, both_today, S_NOW, BERLIN) is None


WEEK_EARLIER = [
    # this week (6-12 March), every one interrupted, none completed today
    fact(berlin(3, 6, 10), interruptions=1),
    fact(berlin(3, 9, 10), interruptions=3),
    fact(berlin(3, 11, 10), interruptions=1),
    # 8 local days ago: outside the week, so its 0 does not matter
    fact(berlin(3, 4, 10), interruptions=0),
]


def test_no_interruptions_best_this_week() -> None:
    this = fact(berlin(3, 12, 15), interruptions=0)
    assert session_insight(this, WEEK_EARLIER, S_NOW, BERLIN) == (
        "No interruptions — your best this week"
    )


@pytest.mark.parametrize(
    "earlier",
    [
        # one earlier session this week was uninterrupted too
        [*WEEK_EARLIER, fact(berlin(3, 10, 10), interruptions=0)],
        # only 2 sessions this week
        WEEK_EARLIER[1:],
    ],
)
def test_no_interruptions_needs_every_week_session_interrupted(
    earlier: list[SessionFact],
) -> None:
    # all 25 minutes, like every earlier one: no length line either
    this = fact(berlin(3, 12, 15), interruptions=0)
    assert session_insight(this, earlier, S_NOW, BERLIN) is None


AVERAGE_EARLIER = [
    fact(berlin(3, 9, 10), 20, interruptions=1),
    fact(berlin(3, 10, 10), 25, interruptions=1),
    fact(berlin(3, 11, 10), 30, interruptions=1),
]  # average (20 + 25 + 30) / 3 = 25


@pytest.mark.parametrize(
    ("focused", "expected"),
    [
        (28, "12% longer than your average"),  # 28 / 25 = 1.12
        (20, "20% shorter than your average"),  # 20 / 25 = 0.80
        (27.5, "10% longer than your average"),  # 27.5 / 25 = 1.10: just enough
        (27, None),  # 27 / 25 = 1.08: under 10%
        (23, None),  # 23 / 25 = 0.92
    ],
)
def test_length_against_the_average(focused: float, expected: str | None) -> None:
    this = fact(berlin(3, 12, 15), 30, focused, interruptions=2)
    assert session_insight(this, AVERAGE_EARLIER, S_NOW, BERLIN) == expected


def test_length_needs_three_earlier_sessions_that_started_before() -> None:
    this = fact(berlin(3, 12, 15), 30, 28, interruptions=2)
    # a session that started after this one is not "earlier"
    later = fact(berlin(3, 12, 16), 10, interruptions=1)
    assert session_insight(this, [*AVERAGE_EARLIER[:2], later], S_NOW, BERLIN) is None
    assert session_insight(this, [], S_NOW, BERLIN) is None


# --- LocalTimes: the integer shortcut /stats uses must agree with astimezone -----------------


def _agrees(times: LocalTimes, tz: tzinfo, ms: int) -> bool:
    local = datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz)
    shifted = times.local_ms(ms)
    return (
        LocalTimes.date_of(LocalTimes.day_number(shifted)),
        LocalTimes.hour(shifted),
        LocalTimes.weekday(shifted),
    ) == (local.date(), local.hour, local.weekday())


@pytest.mark.parametrize(
    "name",
    [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Adelaide",  # +10:30 / +9:30: changes in the middle of a UTC hour
        "Australia/Lord_Howe",  # a 30-minute DST shift
        "Asia/Kathmandu",  # +5:45, no DST
        "America/Santiago",
        "Pacific/Chatham",  # +13:45 / +12:45
        "UTC",
    ],
)
def test_local_times_agree_minute_by_minute_around_every_change(name: str) -> None:
    tz = ZoneInfo(name)
    times = LocalTimes(tz)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    # Find each offset change of 2025-2026 day by day, then check every minute of the two
    # UTC days around it, and the exact milliseconds either side of it.
    day = timedelta(days=1)
    checked = 0
    moment = start
    while moment < datetime(2027, 1, 1, tzinfo=UTC):
        if moment.astimezone(tz).utcoffset() != (moment + day).astimezone(tz).utcoffset():
            first = int(moment.timestamp() * 1000)
            for minute in range(0, 2 * 24 * 60):
                assert _agrees(times, tz, first + minute * 60_000), (name, minute)
                checked += 1
        moment += day
    for ms in range(int(start.timestamp() * 1000), int(start.timestamp() * 1000) + 10**12, 10**9):
        assert _agrees(times, tz, ms)
    if name != "UTC" and name != "Asia/Kathmandu":
        assert checked >= 4 * 24 * 60  # two changes a year, two years
    else:
        assert checked == 0


def test_local_times_agree_in_every_zone_at_random_instants() -> None:
    rng = random.Random(20261123)
    base = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
    for name in sorted(available_timezones())[::7]:
        tz = ZoneInfo(name)
        times = LocalTimes(tz)
        for _ in range(40):
            assert _agrees(times, tz, base + rng.randrange(3 * 365 * 86_400_000)), name


# --- /stats adds up in SQLite: it must count exactly what the Python tally counts ------------


def _random_sessions(rng: random.Random, count: int, start: datetime) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(count):
        began = int(start.timestamp() * 1000) + rng.randrange(400 * 86_400_000)
        planned = rng.choice([5, 25, 45, 46, 60, 90, 180])
        focused = None if rng.random() < 0.05 else rng.randrange(0, planned * 60_000 + 1)
        rows.append(
            (
                1,
                1000 + i,  # a chat per session: the one-running-per-chat rule is not in play
                rng.choice([None, "write", "read the paper"]),
                planned,
                began,
                began + planned * 60_000,
                focused,
                rng.choice(["completed", "ended_early"]),
                rng.randrange(4),
                rng.choice([None, 1, 2, 3, 4, 5]),
                rng.choice([1.0, 1.0, 60.0]),
            )
        )
    return rows


@pytest.mark.parametrize(
    "zone_name",
    ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "-03:30"],
)
async def test_sql_tally_equals_the_python_tally(tmp_path: Path, zone_name: str) -> None:
    store = await open_storage(tmp_path / "tally.db")
    try:
        await store.users.ensure_user(1, datetime(2024, 1, 1, tzinfo=UTC))
        rows = _random_sessions(random.Random(zone_name), 600, datetime(2025, 1, 1, tzinfo=UTC))
        await store.connection.executemany(
            "INSERT INTO sessions (user_id, chat_id, label, planned_minutes, block_minutes, "
            "break_minutes, started_at, ended_at, focused_ms, outcome, interruptions, score, "
            "time_scale) VALUES (?, ?, ?, ?, 25, 5, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        await store.connection.commit()
        service = FocusService(store, Limits(), FakeClock(datetime(2026, 3, 1, tzinfo=UTC)))
        tz = zone(zone_name)
        until = datetime(2026, 3, 1, tzinfo=UTC)
        for since in (
            None,
            datetime(2025, 3, 30, 1, tzinfo=UTC),
            datetime(2025, 10, 26, tzinfo=UTC),
        ):
            from_sql = await service._tally(1, since, until, tz)
            facts = await store.reports.session_facts(1, since, until)
            expected = tally(facts, tz)
            assert from_sql.sessions == expected.sessions == len(facts) > 0
            for name in (
                "completed",
                "planned",
                "interruptions",
                "scored",
                "score_sum",
                "hour_scores",
                "labelled",
                "unlabelled",
                "long_scores",
                "short_scores",
            ):
                assert getattr(from_sql, name) == getattr(expected, name), (name, since)
            assert from_sql.focused == pytest.approx(expected.focused)
            assert from_sql.by_hour == pytest.approx(expected.by_hour)
            assert from_sql.by_day.keys() == expected.by_day.keys()
            for day, (count, minutes) in expected.by_day.items():
                assert from_sql.by_day[day][0] == count
                assert from_sql.by_day[day][1] == pytest.approx(minutes)
    finally:
        await store.close()
