"""When a reminder to start, or a weekly review, is due: pure rules over local times.

Everything is computed in the person's zone (``zoneinfo``) and returned as aware UTC. Nothing
here reads a clock: ``now`` is passed in.

Daylight saving, the two awkward days a year:

- spring forward: a local time inside the gap (02:30 when clocks jump from 02:00 to 03:00)
  does not exist; that day's reminder goes at the first valid local time after the gap
  (03:00), once;
- fall back: a local time that happens twice (01:30 when clocks go from 02:00 back to 01:00)
  is taken at its first occurrence, once (the day's row is unique, so the second can't be).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from nudges import limits as product

__all__ = [
    "DAY_MINUTES",
    "Occurrence",
    "QuietWindow",
    "ReminderRule",
    "ReviewRule",
    "local_instant",
    "next_reminder",
    "next_review",
    "week_key",
]

DAY_MINUTES = 24 * 60
"""Minutes in a day: a local time of day is a minute in 0..1439."""

_SEARCH_DAYS = 8  # a week and a day: every weekday rule has an occurrence in it


def _check_minute(minute: int) -> None:
    if type(minute) is not int or not 0 <= minute < DAY_MINUTES:
        raise ValueError(f"minute of the day {minute!r} is outside 0..{DAY_MINUTES - 1}")


@dataclass(frozen=True, slots=True)
class QuietWindow:
    """Quiet hours, e.g. 22:00-07:00 (``start`` included, ``end`` not; may cross midnight)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        """Valid by construction: two minutes of the day, not the same one."""
        _check_minute(self.start)
        _check_minute(self.end)
        if self.start == self.end:
            raise ValueError("quiet hours need a start and an end that differ")

    def __contains__(self, minute: object) -> bool:
        """Whether a local minute of the day falls inside the window."""
        if type(minute) is not int:
            return False
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def holds(self, moment: datetime, tz: tzinfo) -> bool:
        """Whether the instant ``moment`` is inside the window, in the zone ``tz``."""
        local = moment.astimezone(tz)
        return local.hour * 60 + local.minute in self


@dataclass(frozen=True, slots=True)
class ReminderRule:
    """A daily reminder at a local minute, every day or on weekdays only."""

    minute: int
    weekdays_only: bool = False

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check_minute(self.minute)

    def applies(self, day: date) -> bool:
        """Whether the rule has a reminder on ``day``."""
        return not self.weekdays_only or day.weekday() < 5


@dataclass(frozen=True, slots=True)
class ReviewRule:
    """The weekly review: a weekday (Monday 0) and a local minute."""

    weekday: int = product.DEFAULT_REVIEW_WEEKDAY
    minute: int = product.DEFAULT_REVIEW_MINUTE

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check_minute(self.minute)
        if type(self.weekday) is not int or not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday {self.weekday!r} is outside 0..6")

    def moved_out_of(self, quiet: QuietWindow | None) -> int:
        """The review's minute, moved to the end of the quiet hours if it falls in them."""
        return quiet.end if quiet is not None and self.minute in quiet else self.minute


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One due reminder or review: the local day it belongs to and its instant in UTC."""

    day: date
    at: datetime


def local_instant(day: date, minute: int, tz: tzinfo) -> datetime:
    """The UTC instant of local ``day`` at ``minute`` in ``tz``.

    A local time in a spring-forward gap gives the first valid local time after it (the
    instant of the change); a local time that happens twice gives its first occurrence.
    """
    _check_minute(minute)
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=1 reads the wall time with the offset after the change (an instant
    # before it), fold=0 with the offset before (an instant after it). The change is in
    # between; find it to the second.
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = first
    if low > high:
        low, high = high, low
    offset_before = low.astimezone(tz).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0) if high.microsecond else high


def next_reminder(
    rule: ReminderRule,
    tz: tzinfo,
    quiet: QuietWindow | None,
    now: datetime,
    *,
    after_day: date | None = None,
) -> Occurrence | None:
    """The next reminder due at or after ``now``, on a day after ``after_day`` (the last day
    already handled); None when there can be none (the time is inside quiet hours).
    """
    if quiet is not None and rule.minute in quiet:
        return None
    return _next(rule.applies, rule.minute, tz, now, after_day)


def next_review(
    rule: ReviewRule,
    tz: tzinfo,
    quiet: QuietWindow | None,
    now: datetime,
    *,
    after_day: date | None = None,
) -> Occurrence:
    """The next weekly review due at or after ``now``, on a day after ``after_day``; its
    time moved out of quiet hours."""
    found = _next(
        lambda day: day.weekday() == rule.weekday, rule.moved_out_of(quiet), tz, now, after_day
    )
    assert found is not None  # noqa: S101 - every weekday comes within 8 days
    return found


def _next(
    applies: Callable[[date], bool], minute: int, tz: tzinfo, now: datetime, after_day: date | None
) -> Occurrence | None:
    if now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    today = now.astimezone(tz).date()
    first = today if after_day is None else max(today, after_day + timedelta(days=1))
    for step in range(_SEARCH_DAYS + 1):
        day = first + timedelta(days=step)
        if not applies(day):
            continue
        at = local_instant(day, minute, tz)
        if at >= now:
            return Occurrence(day, at)
    return None


def week_key(day: date) -> str:
    """The ISO week a day belongs to, as the weekly review's row is keyed: ``2026-W11``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
