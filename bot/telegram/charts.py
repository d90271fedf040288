"""The /stats chart: a PNG rendered in memory from ``Stats``, no display and no pyplot.

A ``Figure`` with its own Agg canvas is built per call and dropped after, so nothing global
(pyplot's figure registry, the active backend) is touched and nothing piles up across calls.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Literal

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from bot.core.insights import Stats

__all__ = ["Panel", "chart_panels", "goal_days", "render_stats_chart", "stats_figure"]

Panel = Literal["days", "hours"]

_SIZE_INCHES = (10.0, 6.0)
_DPI = 100  # 1000 x 600 px
_BAR = "#4C72B0"
_TODAY = "#DD8452"
_TEXT = "#333333"
_GRID = "#DDDDDD"
_MET = "#55A868"
"""A day that reached the daily goal (today's bar keeps an orange edge then)."""
_GOAL = "#C44E52"

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # not %a: no locale surprises
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_MAX_DAY_BARS = 62
"""Beyond this many days (``all``), bars are whole weeks instead of days."""

_MAX_TICK_LABELS = 15
_WEEKDAY_LABELS_UP_TO = 14
"""Day labels are ``Mon 9`` up to this many days, ``9 Mar`` beyond."""
_VALUE_LABELS_UP_TO = 10
"""Bars are labelled with their minutes when there are at most this many; beyond, only
today's bar and the tallest one are."""

_MIN_SLOTS = 7
"""The x axis is at least this many bars wide, so one day (``all`` on a first day) is a bar
of the usual width at the right, not a block half the chart wide."""

_Y_TICKS = 5
_LABEL_ROOM = 1.15
"""Headroom above the top gridline for the value labels over the tallest bar."""

_BUSY_DAY = 3
"""A day with this many sessions makes the hour-of-day panel worth showing."""

_BUSY_WEEK = 5
"""As many sessions in the week period do too."""


def chart_panels(stats: Stats) -> list[Panel]:
    """Which panels the chart has, top to bottom; empty when there is nothing to draw.

    ``days``: a bar per local day of the period (per week beyond 62 days). ``today`` gets
    ``hours`` (minutes by local start hour) instead, one bar being no chart. A second
    ``hours`` panel is added when one day had 3+ sessions or the week had 5+ (for ``today``
    the single panel already is that).
    """
    if stats.focused_minutes <= 0:
        return []
    if stats.period == "today":
        return ["hours"]
    busy = max(stats.daily_sessions, default=0) >= _BUSY_DAY or (
        stats.period == "week" and stats.sessions >= _BUSY_WEEK
    )
    return ["days", "hours"] if busy else ["days"]


def goal_days(daily: Sequence[tuple[date, float]], goal_minutes: int | None) -> list[bool] | None:
    """Which days of ``daily`` met the daily goal, in its order; None without a goal.

    The day bars show it (a line at the goal's height, the days that met it in green). Bars
    of whole weeks (beyond 62 days) and the hour bars of ``today`` get a line of text
    instead: a day's goal drawn across a week's or an hour's bar would mislead.
    """
    if goal_minutes is None:
        return None
    return [minutes >= goal_minutes for _, minutes in daily]


def render_stats_chart(stats: Stats, title: str, goal_minutes: int | None = None) -> bytes | None:
    """A 1000x600 PNG of the period's focused minutes (see ``chart_panels``); None if none.

    ``goal_minutes``: the daily goal, drawn as a line across the day bars with the days that
    met it marked (see ``goal_days``); the hour panel has no line, a day's goal being no
    hour's.
    """
    fig = stats_figure(stats, title, goal_minutes)
    if fig is None:
        return None
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    fig.clear()  # break the figure's reference cycles now rather than at the next gc
    return buffer.getvalue()


def stats_figure(stats: Stats, title: str, goal_minutes: int | None = None) -> Figure | None:
    """The chart's figure, drawn but not rendered (the tests read its axes); None if empty."""
    panels = chart_panels(stats)
    if not panels:
        return None
    fig = Figure(figsize=_SIZE_INCHES, dpi=_DPI)
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=15, color=_TEXT, fontweight="bold", y=0.975)
    # Fixed margins: every label here has a known shape, and a constrained layout would
    # add half again to the render time (about 0.36 s instead of 0.24 s here).
    fig.subplots_adjust(left=0.07, right=0.985, top=0.87, bottom=0.07, hspace=0.45)
    for index, panel in enumerate(panels, start=1):
        ax = fig.add_subplot(len(panels), 1, index)
        if panel == "days":
            _draw_days(ax, stats.daily, goal_minutes)
        else:
            _draw_hours(ax, stats.by_hour)
            if stats.period == "today" and goal_minutes is not None:
                _note_goal_today(ax, goal_minutes, stats.focused_minutes)
    return fig


def _style(ax: Axes, heading: str) -> None:
    """The shared clean look: no box, light horizontal grid, whole minutes on the y axis."""
    ax.set_title(heading, loc="left", fontsize=11, color=_TEXT)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color(_GRID)
    ax.tick_params(colors=_TEXT, length=0, labelsize=9)
    ax.grid(axis="y", color=_GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_ylabel("minutes", color=_TEXT, fontsize=9)


def _weekly(daily: Sequence[tuple[date, float]]) -> list[tuple[date, float]]:
    """Daily minutes summed into weeks, each keyed by its Monday."""
    weeks: dict[date, float] = {}
    for day, minutes in daily:
        monday = day - timedelta(days=day.weekday())
        weeks[monday] = weeks.get(monday, 0.0) + minutes
    return sorted(weeks.items())


def _draw_days(ax: Axes, daily: Sequence[tuple[date, float]], goal: int | None) -> None:
    """Bars of focused minutes per local day (or per week for long spans), today highlighted;
    with a daily goal, its line and the days that met it in green."""
    met = goal_days(daily, goal)
    weekly = len(daily) > _MAX_DAY_BARS
    if weekly:
        bars = _weekly(daily)
        labels = [f"{d.day} {_MONTHS[d.month - 1]}" for d, _ in bars]
        heading = "Focused minutes per week"
        colors = [_BAR] * len(bars)
    else:
        bars = list(daily)
        # "Mon 9" reads best for a week; over a month "9 Mar" says which month it is.
        short = len(bars) <= _WEEKDAY_LABELS_UP_TO
        labels = [
            f"{_WEEKDAYS[d.weekday()]} {d.day}" if short else f"{d.day} {_MONTHS[d.month - 1]}"
            for d, _ in bars
        ]
        heading = "Focused minutes per day"
        colors = [_BAR] * (len(bars) - 1) + [_TODAY]  # the last day is today
    positions = list(range(len(bars)))
    values = [minutes for _, minutes in bars]
    edges = ["none"] * len(bars)
    if met is not None and not weekly:
        colors = [_MET if hit else color for hit, color in zip(met, colors, strict=True)]
        if met[-1]:  # today met it: green, and still told apart as today
            edges[-1] = _TODAY
    drawn = ax.bar(positions, values, color=colors, width=0.7, edgecolor=edges, linewidth=2)
    if len(bars) <= _VALUE_LABELS_UP_TO:
        labelled = set(positions)
    else:
        # Too many to label each: today's (the last, weekly bars included) and the tallest.
        labelled = {positions[-1], max(positions, key=lambda i: values[i])}
    ax.bar_label(
        drawn,
        labels=[f"{round(v)}" if v > 0 and i in labelled else "" for i, v in enumerate(values)],
        padding=2,
        fontsize=9,
        color=_TEXT,
    )
    scaled = values
    if met is not None and goal is not None:
        if weekly:
            _note(ax, f"daily goal {goal} min: met on {sum(met)} of {len(met)} days")
        else:
            _draw_goal(ax, goal, sum(met))
            scaled = [*values, goal]  # the axis holds the goal's line too
    _scale_y(ax, scaled)
    step = math.ceil(len(bars) / _MAX_TICK_LABELS)
    # Label from today backwards, so the newest bar always has its date.
    shown = positions[::-1][::step][::-1]
    ax.set_xticks(shown, [labels[i] for i in shown])
    # Padding on the left when there are few bars: today stays at the right edge.
    ax.set_xlim(-0.6 - max(0, _MIN_SLOTS - len(bars)), len(bars) - 0.4)
    _style(ax, heading)


def _draw_goal(ax: Axes, goal: int, met: int) -> None:
    """The goal's dashed line across the bars, and a legend above the panel at the right
    saying what the line and the green bars mean."""
    ax.axhline(goal, color=_GOAL, linestyle="--", linewidth=1.4, zorder=3)
    days = "day" if met == 1 else "days"
    handles = [
        Line2D([], [], color=_GOAL, linestyle="--", linewidth=1.4),
        Patch(facecolor=_MET),
    ]
    ax.legend(
        handles,
        [f"daily goal {goal} min", f"goal met ({met} {days})"],
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=2,
        frameon=False,
        fontsize=9,
        labelcolor=_TEXT,
        borderaxespad=0.2,
    )


def _note_goal_today(ax: Axes, goal: int, done: float) -> None:
    """Today's progress against the goal, over the hour bars (see ``goal_days``)."""
    met = done >= goal
    _note(ax, f"daily goal: {round(done)} of {goal} min" + (" ✓" if met else ""), met=met)


def _note(ax: Axes, text: str, *, met: bool = False) -> None:
    """A line of text above the panel at the right, where the legend would be."""
    ax.text(
        1.0,
        1.02,
        text,
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=9,
        color=_MET if met else _TEXT,
    )


def _draw_hours(ax: Axes, by_hour: Sequence[float]) -> None:
    """Bars of focused minutes by the local hour the sessions started in."""
    values = list(by_hour)
    drawn = ax.bar(range(24), values, color=_BAR, width=0.7)
    ax.bar_label(
        drawn,
        labels=[f"{round(v)}" if v > 0 else "" for v in values],
        padding=2,
        fontsize=8,
        color=_TEXT,
    )
    _scale_y(ax, values)
    ticks = list(range(0, 24, 3))
    ax.set_xticks(ticks, [f"{h:02d}:00" for h in ticks])
    ax.set_xlim(-0.6, 23.6)
    _style(ax, "Focused minutes by hour of day (your time, by start)")


def _scale_y(ax: Axes, values: Sequence[float]) -> None:
    """Whole-minute gridlines up to one at or above the tallest bar, and room for its label.

    Left to autoscaling, a 55-minute bar got gridlines up to 45 and ran past the last one.
    """
    top = max(values, default=0.0)
    ticks = [t for t in MaxNLocator(nbins=_Y_TICKS, integer=True).tick_values(0, top) if t >= 0]
    # tick_values covers the range, so its last tick is at or above the tallest bar
    ceiling = max(ticks[-1], 1.0)
    ax.set_yticks([t for t in ticks if t <= ceiling])
    ax.set_ylim(0, ceiling * _LABEL_ROOM)
