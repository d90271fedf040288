"""Time at the edge: the user's timezone, used only to render and to count local days."""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "LocalTimes",
    "clock_time",
    "local_date",
    "local_times",
    "minutes_text",
    "parse_zone",
    "zone",
]

_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$")


def zone(name: str) -> tzinfo:
    """An IANA zone or a fixed offset like ``+02:00``; UTC when the name is unknown."""
    match = _OFFSET.match(name.strip())
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta <= timedelta(hours=14):
            return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def parse_zone(text: str) -> str | None:
    """A timezone the user typed, as we store it: an IANA name or ``+HH:MM``; None if unknown."""
    name = text.strip()
    match = _OFFSET.match(name)
    if match:
        sign, hours, minutes = match.groups()
        if int(hours) > 14 or int(minutes or 0) >= 60:
            return None
        return f"{sign}{int(hours):02d}:{int(minutes or 0):02d}"
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Be forgiving about case: "europe/berlin" is Europe/Berlin, "utc" is UTC.
        if "/" not in name:
            fixed = name.upper()
        else:
            fixed = "/".join(
                "_".join(w[:1].upper() + w[1:] for w in part.split("_")) for part in name.split("/")
            )
        if fixed == name:
            return None
        return parse_zone(fixed)
    return name


_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH_WEEKDAY = 3  # 1 January 1970 was a Thursday
_DAYS_KEPT = 4096  # per zone: ~11 years of days, ~0.5 MB


class LocalTimes:
    """Local day, hour and weekday of many instants in one zone, fast.

    /stats places every session of a period (10,000 for "all") in the user's local days and
    hours; ``datetime.astimezone`` for each cost more than everything else it does. A zone's
    offset changes at most once in a UTC day (twice would need two transitions within 24
    hours, which no zone has), so this asks the zone once per UTC day seen — and, on a day of
    a change, finds the change's millisecond by bisection — then works in integers.
    """

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._days: dict[int, tuple[int, int, int]] = {}  # UTC day -> (change at, before, after)

    def _offset_at(self, ms: int) -> int:
        moment = datetime.fromtimestamp(ms / 1000, UTC).astimezone(self.tz)
        offset = moment.utcoffset()
        return 0 if offset is None else offset // timedelta(milliseconds=1)

    def _day(self, day: int) -> tuple[int, int, int]:
        first, last = day * _DAY_MS, (day + 1) * _DAY_MS - 1
        before, after = self._offset_at(first), self._offset_at(last)
        if before == after:
            return last + 1, before, after
        low, high = first, last  # offset(low) == before, offset(high) == after
        while high - low > 1:
            middle = (low + high) // 2
            if self._offset_at(middle) == before:
                low = middle
            else:
                high = middle
        return high, before, after

    def local_ms(self, utc_ms: int) -> int:
        """The instant as milliseconds of local wall time since 1970-01-01 00:00."""
        day = utc_ms // _DAY_MS
        known = self._days.get(day)
        if known is None:
            if len(self._days) >= _DAYS_KEPT:
                self._days.clear()
            known = self._days[day] = self._day(day)
        change, before, after = known
        return utc_ms + (before if utc_ms < change else after)

    def segments(self, start_ms: int, end_ms: int) -> tuple[list[tuple[int, int]], int]:
        """The zone's offsets over [start_ms, end_ms): ([(change at, offset before)], offset
        after the last change) — what SQL needs to place the instants of that range
        (``CASE WHEN t < change THEN before ... ELSE last END``)."""
        changes: list[tuple[int, int]] = []
        offset: int | None = None
        for day in range(start_ms // _DAY_MS, (max(end_ms, start_ms + 1) - 1) // _DAY_MS + 1):
            self.local_ms(day * _DAY_MS)  # looks the day up
            change, before, after = self._days[day]
            if offset is not None and before != offset:  # changed exactly at midnight UTC
                changes.append((day * _DAY_MS, offset))
            if before != after:
                changes.append((change, before))
            offset = after
        assert offset is not None  # noqa: S101 - the range holds at least one day
        return changes, offset

    @staticmethod
    def day_number(local_ms: int) -> int:
        """Local days since 1970-01-01 (``date.fromordinal(n + EPOCH)`` is the date)."""
        return local_ms // _DAY_MS

    @staticmethod
    def hour(local_ms: int) -> int:
        """Local hour, 0-23."""
        return (local_ms // _HOUR_MS) % 24

    @staticmethod
    def weekday(local_ms: int) -> int:
        """Local weekday, Monday 0."""
        return (local_ms // _DAY_MS + _EPOCH_WEEKDAY) % 7

    @staticmethod
    def date_of(day_number: int) -> date:
        """The date of a ``day_number``."""
        return date.fromordinal(day_number + _EPOCH_ORDINAL)


@functools.lru_cache(maxsize=256)
def local_times(tz: tzinfo) -> LocalTimes:
    """The ``LocalTimes`` of a zone, shared: the days it has looked up stay known (a few
    hundred small tuples per zone and year)."""
    return LocalTimes(tz)


def local_date(moment: datetime, tz: tzinfo) -> date:
    """The user's calendar day at ``moment``."""
    return moment.astimezone(tz).date()


def clock_time(moment: datetime, tz: tzinfo) -> str:
    """``14:05`` in the user's zone."""
    local = moment.astimezone(tz)
    return local.strftime("%H:%M")


def minutes_text(span: timedelta, *, round_up: bool = False) -> str:
    """A duration for people: ``45 min``, ``1 h 30 min``, ``under a minute``.

    ``round_up`` for time left (a countdown shows 9 min until 8 are left), so that time
    left and time done, each rounded its way, add up to the whole.
    """
    seconds = span.total_seconds()
    total = int(-(-seconds // 60)) if round_up else int(seconds // 60)
    if total < 1:
        return "under a minute"
    hours, minutes = divmod(total, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"
