"""Finding the person's zone from what they answer to "What time is it for you now?".

Pure: ``now`` is passed in. Three kinds of answer:

- a button of a likely local time, which carries a UTC offset (``guesses``);
- a time typed (``14:35``), read against ``now`` as the nearest quarter-hour offset;
- a zone or a city typed (``Europe/Berlin``, ``berlin``, ``New York``), looked up in the
  IANA database.

An offset alone knows nothing of daylight saving, so it becomes a fixed zone: a whole-hour
offset the IANA ``Etc/GMT`` zone for it — whose sign is POSIX's, the inverse of ISO's:
``Etc/GMT-3`` is UTC+03:00 — and any other offset ``+05:30`` as ``/timezone`` stores it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import available_timezones

from nudges import limits as product

__all__ = ["ZoneGuess", "city_zone", "guesses", "offset_from_local_time", "offset_zone"]

_QUARTER = 15  # every offset in use is a whole number of quarter hours


def offset_zone(offset_minutes: int) -> str:
    """The zone to store for a fixed UTC offset (in minutes east of Greenwich).

    ``180`` (UTC+03:00) is ``Etc/GMT-3``: the ``Etc`` zones count west-positive, like POSIX
    TZ strings. ``0`` is ``UTC``; ``330`` is ``+05:30`` (no ``Etc`` zone has half hours).
    """
    if offset_minutes not in product.ZONE_OFFSET_MINUTES:
        raise ValueError(
            f"UTC offset {offset_minutes!r} min is outside {product.ZONE_OFFSET_MINUTES}"
        )
    if offset_minutes == 0:
        return "UTC"
    hours, rest = divmod(abs(offset_minutes), 60)
    east = offset_minutes > 0
    if rest == 0:  # Etc/GMT-14 (UTC+14) to Etc/GMT+12 (UTC-12) all exist
        return f"Etc/GMT{'-' if east else '+'}{hours}"
    return f"{'+' if east else '-'}{hours:02d}:{rest:02d}"


def offset_from_local_time(minute_of_day: int, now: datetime) -> int:
    """The UTC offset (minutes) at which the local time is ``minute_of_day`` at ``now``:
    the nearest quarter hour (a person reads their clock a minute or so late), within the
    offsets in use; across the date line the eastern one (+13 rather than -11)."""
    if now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    utc = now.astimezone(UTC)
    utc_minutes = utc.hour * 60 + utc.minute + utc.second / 60
    east = (minute_of_day - utc_minutes) % (24 * 60)  # 0 <= east < 1440
    quarters = round(east / _QUARTER) * _QUARTER
    if quarters > product.ZONE_OFFSET_MINUTES.high:
        quarters -= 24 * 60
    return quarters


@functools.lru_cache(maxsize=1)
def _cities() -> dict[str, str]:
    """The last part of every IANA name, simplified, to the name (``new york`` →
    ``America/New_York``); a city that several regions share keeps its first, sorted."""
    found: dict[str, str] = {}
    for name in sorted(available_timezones()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/", "posix/", "right/")):
            continue
        found.setdefault(_simple(name.rsplit("/", 1)[1]), name)
    return found


def _simple(text: str) -> str:
    return " ".join(text.replace("_", " ").replace("-", " ").lower().split())


def city_zone(text: str) -> str | None:
    """The IANA zone of a city typed the way people write it (``berlin``, ``New York``,
    ``sao_paulo``); None when no zone is named after it."""
    if not text or len(text) > 64:
        return None
    return _cities().get(_simple(text))


@dataclass(frozen=True, order=True, slots=True)
class ZoneGuess:
    """A button of the question: the local time it shows (``09:40``), the offset it means."""

    label: str
    offset: int  # minutes east of UTC


def guesses(now: datetime) -> list[ZoneGuess]:
    """The question's buttons: the local time now at each of the most common offsets
    (``limits.ZONE_QUESTION_OFFSETS``), in the order of the clock."""
    found: list[ZoneGuess] = []
    for offset in product.ZONE_QUESTION_OFFSETS:
        local = now.astimezone(UTC) + timedelta(minutes=offset)
        found.append(ZoneGuess(local.strftime("%H:%M"), offset))
    return sorted(found)
