"""Time at the edge: the user's timezone, used only to render and to count local days."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["clock_time", "local_date", "minutes_text", "parse_zone", "zone"]

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
