"""Tests of ``bot/telegram/charts.py``: real PNGs rendered from realistic stats, checked byte by
byte.

The fixture is two weeks in Europe/Berlin, "now" Sun 2026-03-15 21:00 local, 2-4 sessions
a day at fixed local hours with focused minutes from a fixed formula (no randomness).
"""

from __future__ import annotations

import gc
import io
import struct
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Annotation

from bot.core.insights import Period, Stats, compute_stats
from bot.telegram.charts import chart_panels, goal_days, render_stats_chart, stats_figure
from storage.models import SessionFact

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 15, 21, tzinfo=BERLIN).astimezone(UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BAR_RGB = (0x4C / 255, 0x72 / 255, 0xB0 / 255)


def fact(day: int, hour: int, focused: float, *, planned: int = 25) -> SessionFact:
    """A completed session started on ``day`` March 2026 at ``hour``:00 Berlin time."""
    start = datetime(2026, 3, day, hour, tzinfo=BERLIN).astimezone(UTC)
    return SessionFact.of(
        started_at=start,
        planned_minutes=planned,
        focused_minutes=focused,
        completed=True,
        interruptions=day % 3,
        score=1 + (day + hour) % 5,
        labelled=hour < 12,
    )


def two_weeks() -> list[SessionFact]:
    """2-4 sessions a day from 2 to 15 March; weekends lighter; today (15th) included."""
    facts = []
    for day in range(2, 16):
        weekend = datetime(2026, 3, day, tzinfo=BERLIN).weekday() >= 5
        hours = [10, 16] if weekend else [9, 11, 14, 20][: 3 + day % 2]
        facts += [fact(day, h, 15 + (day * 7 + h * 3) % 36) for h in hours]
    return facts


FACTS = two_weeks()


def stats_for(period: Period, facts: list[SessionFact] = FACTS) -> Stats:
    return compute_stats(facts, [f.started_at for f in facts], period, NOW, BERLIN)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(matplotlib.image.imread(io.BytesIO(data), format="png"))


def bar_pixels(image: np.ndarray) -> int:
    """How many pixels have the bar colour (rendering may blend edges, so a tolerance)."""
    rgb = image[..., :3]
    return int((np.abs(rgb - np.array(BAR_RGB)).max(axis=-1) < 0.02).sum())


def test_fixture_is_what_the_docstring_says() -> None:
    week = stats_for("week")
    # 9-15 March: Mon 9 (odd: 4), Tue 10 (3), Wed 11 (4), Thu 12 (3), Fri 13 (4), Sat, Sun (2)
    assert week.daily_sessions == [4, 3, 4, 3, 4, 2, 2]
    assert week.sessions == 22


def test_week_chart(tmp_path_factory: pytest.TempPathFactory) -> None:
    stats = stats_for("week")
    # one day has 3+ sessions (and the week 5+): the hour-of-day panel is added
    assert chart_panels(stats) == ["days", "hours"]
    data = render_stats_chart(stats, "Focus this week")
    assert data is not None
    assert png_size(data) == (1000, 600)
    assert len(data) < 150_000
    image = decoded(data)
    assert image.shape[:2] == (600, 1000)
    assert bar_pixels(image) > 2_000  # bars were drawn, not just axes
    with open("/tmp/focus_chart_week.png", "wb") as out:  # noqa: S108 - for the lead to look at
        out.write(data)


def test_today_chart_is_by_hour() -> None:
    stats = stats_for("today")
    # Sun 15 March: two sessions, 10:00 and 16:00
    assert stats.sessions == 2
    assert chart_panels(stats) == ["hours"]
    data = render_stats_chart(stats, "Focus today")
    assert data is not None
    assert png_size(data) == (1000, 600)
    assert len(data) < 150_000
    assert bar_pixels(decoded(data)) > 1_000
    with open("/tmp/focus_chart_today.png", "wb") as out:  # noqa: S108 - for the lead to look at
        out.write(data)


@pytest.mark.parametrize("period", ["month", "all"])
def test_longer_periods_render(period: Period) -> None:
    data = render_stats_chart(stats_for(period), "Focus")
    assert data is not None
    assert png_size(data) == (1000, 600)
    assert len(data) < 150_000


def test_long_history_is_drawn_by_week() -> None:
    # one 30-minute session every day for 200 days: 200 daily bars would be unreadable
    start = datetime(2025, 8, 28, 9, tzinfo=BERLIN).astimezone(UTC)
    facts = [
        SessionFact.of(
            started_at=start + timedelta(days=i),
            planned_minutes=30,
            focused_minutes=30,
            completed=True,
            interruptions=0,
            score=None,
            labelled=False,
        )
        for i in range(200)
    ]
    stats = compute_stats(facts, [], "all", NOW, BERLIN)
    assert len(stats.daily) > 62
    data = render_stats_chart(stats, "Focus, all time")
    assert data is not None
    assert png_size(data) == (1000, 600)
    assert len(data) < 150_000


def test_quiet_week_has_one_panel() -> None:
    # two sessions on different days: neither 3 on a day nor 5 in the week
    quiet = [fact(10, 9, 30), fact(12, 14, 20)]
    assert chart_panels(stats_for("week", quiet)) == ["days"]
    # 3 on one day in the month view adds the hour panel
    busy_day = [fact(10, 9, 30), fact(10, 11, 30), fact(10, 14, 30)]
    assert chart_panels(stats_for("month", busy_day)) == ["days", "hours"]
    # 5 in a week, at most 2 a day, adds it for the week but not for the month
    spread = [fact(d, h, 20) for d, h in [(9, 9), (9, 14), (11, 9), (11, 14), (13, 9)]]
    assert chart_panels(stats_for("week", spread)) == ["days", "hours"]
    assert chart_panels(stats_for("month", spread)) == ["days"]


def test_nothing_focused_gives_no_chart() -> None:
    empty = stats_for("week", [])
    assert chart_panels(empty) == []
    assert render_stats_chart(empty, "Focus this week") is None
    # sessions that were stopped at once: zero focused minutes is still nothing to draw
    zero = stats_for("today", [fact(15, 9, 0)])
    assert zero.sessions == 1
    assert render_stats_chart(zero, "Focus today") is None


def live_figures() -> int:
    """Matplotlib figures still reachable after a full collection."""
    gc.collect()
    return sum(isinstance(o, Figure) for o in gc.get_objects())


def test_repeated_renders_leave_no_figure_behind() -> None:
    stats = stats_for("week")
    before = live_figures()
    for _ in range(10):
        assert render_stats_chart(stats, "Focus this week") is not None
    # a cache or registry (pyplot's, or our own) would keep 10 of them alive
    assert live_figures() == before


# --- the axis holds every bar (issue 13, item 11) ---------------------------------------------


def one_day_all() -> Stats:
    """``all`` on a person's first day: one session, 55 minutes, today."""
    return stats_for("all", [fact(15, 9, 55, planned=55)])


def month_with_tall_today() -> Stats:
    """The month as reported: days up to 45 minutes, then today's 55 (top gridline was 45)."""
    facts = [fact(d, 9, 15 + (d * 7) % 31) for d in range(1, 15)] + [fact(15, 9, 55, planned=55)]
    return stats_for("month", facts)


def today_by_hour() -> Stats:
    """Three hours of today, one of them tall: each bar gets its minutes written above it."""
    return stats_for(
        "today", [fact(15, 8, 7, planned=10), fact(15, 11, 89.6, planned=90), fact(15, 16, 25)]
    )


def week_tall_single() -> Stats:
    """One tall day among empty ones: 180 minutes is over any 'usual' axis."""
    return stats_for("week", [fact(11, 9, 90, planned=90), fact(11, 11, 90, planned=90)])


def long_weekly() -> Stats:
    """200 days drawn as weeks, the current week the tallest."""
    start = datetime(2025, 8, 28, 9, tzinfo=BERLIN).astimezone(UTC)
    facts = [
        SessionFact.of(
            started_at=start + timedelta(days=i),
            planned_minutes=30,
            focused_minutes=30 + (i // 190) * 60,
            completed=True,
            interruptions=0,
            score=None,
            labelled=False,
        )
        for i in range(200)
    ]
    return compute_stats(facts, [], "all", NOW, BERLIN)


AWKWARD = {
    "all-one-day": one_day_all,
    "month-tall-today": month_with_tall_today,
    "today-hours": today_by_hour,
    "week-tall-single": week_tall_single,
    "all-weekly": long_weekly,
}

GOALS: dict[str, tuple[str, int]] = {
    # (awkward data, daily goal): the goal's line above every bar, between them, under them
    "all-one-day-goal-above": ("all-one-day", 120),
    "month-goal-between": ("month-tall-today", 40),
    "week-goal-far-above": ("week-tall-single", 245),
    "week-goal-below": ("week-tall-single", 10),
    "today-hours-goal": ("today-hours", 120),
    "all-weekly-goal": ("all-weekly", 60),
}
"""Cases for the goal's line; ``today`` and weekly bars get a note instead (``goal_days``)."""

CASES = {name: (factory, None) for name, factory in AWKWARD.items()} | {
    name: (AWKWARD[data], goal) for name, (data, goal) in GOALS.items()
}


def goal_lines(ax: object) -> list[float]:
    """The heights of the horizontal lines drawn across a panel (the goal's)."""
    assert hasattr(ax, "get_lines")
    return [float(line.get_ydata()[0]) for line in ax.get_lines()]


@pytest.mark.parametrize("case", list(CASES))
def test_axis_holds_every_bar(case: str) -> None:
    factory, goal = CASES[case]
    stats = factory()
    fig = stats_figure(stats, "Focus", goal)
    assert fig is not None
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for ax in fig.axes:
        bars = [p for p in ax.patches if isinstance(p, Rectangle)]
        heights = [p.get_height() for p in bars]
        # the goal's line counts as much as a bar: the axis must reach past it too
        tallest = max(heights + goal_lines(ax))
        low, high = ax.get_ylim()
        gridlines = [t for t in ax.get_yticks() if low <= t <= high]
        assert max(gridlines) >= tallest, (case, gridlines, tallest)
        assert high > tallest
        # no bar wider than a seventh of the axis (one day of `all` was half of it)
        left, right = ax.get_xlim()
        assert max(p.get_width() for p in bars) / (right - left) <= 0.7 / 7 + 1e-9
        # the tallest bar is labelled with its minutes, and every label is inside the axes
        box = ax.get_window_extent(renderer)
        # (bar_label's texts are annotations; a goal note above the panel is a plain text)
        labels = [t for t in ax.texts if t.get_text() and isinstance(t, Annotation)]
        assert f"{round(max(heights))}" in [t.get_text() for t in labels], case
        for label in labels:
            extent = label.get_window_extent(renderer)
            assert extent.y1 <= box.y1 + 0.5 and extent.y0 >= box.y0 - 0.5, (case, label)
    fig.clear()


def test_month_labels_today_and_every_hour_bar() -> None:
    month = stats_figure(month_with_tall_today(), "Focus")
    assert month is not None
    days = month.axes[0]
    # 30 bars are too many to label each; today's is, and it is the last bar
    today_bar = days.patches[-1]
    assert isinstance(today_bar, Rectangle)
    assert today_bar.get_height() == pytest.approx(55)
    assert "55" in [t.get_text() for t in days.texts]
    hours = stats_figure(today_by_hour(), "Focus")
    assert hours is not None
    assert sorted(t.get_text() for t in hours.axes[0].texts if t.get_text()) == ["25", "7", "90"]


@pytest.mark.parametrize("case", list(CASES))
def test_awkward_charts_render(case: str) -> None:
    factory, goal = CASES[case]
    data = render_stats_chart(factory(), "Focus", goal)
    assert data is not None
    assert png_size(data) == (1000, 600)
    with open(f"/tmp/focus_chart_{case}.png", "wb") as out:  # noqa: S108 - for the lead to look at
        out.write(data)


# --- the daily goal on the chart (issue 13, item 1) -------------------------------------------

MET_RGBA = (0x55 / 255, 0xA8 / 255, 0x68 / 255, 1.0)
TODAY_RGBA = (0xDD / 255, 0x84 / 255, 0x52 / 255, 1.0)


def day_bars(fig: Figure) -> list[Rectangle]:
    return [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]


def legend_texts(fig: Figure) -> list[str]:
    legend = fig.axes[0].get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def test_goal_days_are_the_days_at_or_over_the_goal() -> None:
    week = stats_for("week")
    # 9-15 March of the fixture, in minutes: 150, 105, 134, 75, 118, 52, 66
    assert [round(m) for _, m in week.daily] == [150, 105, 134, 75, 118, 52, 66]
    assert goal_days(week.daily, 90) == [True, True, True, False, True, False, False]
    assert goal_days(week.daily, 150) == [True, False, False, False, False, False, False]
    assert goal_days(week.daily, None) is None


def test_week_chart_marks_the_days_that_met_the_goal() -> None:
    fig = stats_figure(stats_for("week"), "Focus", 90)
    assert fig is not None
    bars = day_bars(fig)
    met = [b.get_facecolor() == pytest.approx(MET_RGBA) for b in bars]
    assert met == [True, True, True, False, True, False, False]
    assert bars[-1].get_facecolor() == pytest.approx(TODAY_RGBA)  # today, not met: orange
    assert goal_lines(fig.axes[0]) == [90.0]
    assert legend_texts(fig) == ["daily goal 90 min", "goal met (4 days)"]
    assert goal_lines(fig.axes[1]) == []  # the hour panel: a day's goal is no hour's
    fig.clear()


def test_today_meeting_the_goal_is_green_and_still_today() -> None:
    fig = stats_figure(month_with_tall_today(), "Focus", 55)
    assert fig is not None
    bars = day_bars(fig)
    assert bars[-1].get_height() == pytest.approx(55)
    assert bars[-1].get_facecolor() == pytest.approx(MET_RGBA)
    assert bars[-1].get_edgecolor() == pytest.approx(TODAY_RGBA)
    assert sum(b.get_facecolor() == pytest.approx(MET_RGBA) for b in bars) == 1
    assert legend_texts(fig) == ["daily goal 55 min", "goal met (1 day)"]
    fig.clear()


def test_without_a_goal_the_chart_is_as_before() -> None:
    fig = stats_figure(stats_for("week"), "Focus")
    assert fig is not None
    assert all(b.get_facecolor() != pytest.approx(MET_RGBA) for b in day_bars(fig))
    assert goal_lines(fig.axes[0]) == []
    assert legend_texts(fig) == []
    fig.clear()


def notes(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts if not isinstance(t, Annotation)]


def test_hour_and_week_bars_get_the_goal_as_a_note_not_a_line() -> None:
    today = stats_figure(today_by_hour(), "Focus", 120)  # 7 + 89.6 + 25 = 121.6
    assert today is not None
    assert goal_lines(today.axes[0]) == []
    assert notes(today) == ["daily goal: 122 of 120 min ✓"]
    short = stats_figure(today_by_hour(), "Focus", 150)
    assert short is not None
    assert notes(short) == ["daily goal: 122 of 150 min"]
    weekly = stats_figure(long_weekly(), "Focus", 60)  # 10 days of 90 minutes, 190 of 30
    assert weekly is not None
    assert goal_lines(weekly.axes[0]) == []
    assert notes(weekly) == ["daily goal 60 min: met on 10 of 200 days"]
    for fig in (today, short, weekly):
        fig.clear()
