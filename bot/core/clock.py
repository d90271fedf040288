"""The one place that reads real time. Everything else is handed a Clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "Resyncable", "SystemClock"]


class Clock(Protocol):
    """Something that tells the current time, aware and in UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


@runtime_checkable
class Resyncable(Protocol):
    """A clock that may have drifted from the wall clock and can take it again."""

    def resync(self) -> timedelta:
        """Take the wall clock's time again; how far it had moved (0 when it had not)."""
        ...


def _wall() -> datetime:
    return datetime.now(UTC)


def _elapsed() -> float:
    """Seconds that really passed, sleep included, whatever the wall clock does.

    CLOCK_BOOTTIME counts a suspended laptop's sleep (CLOCK_MONOTONIC does not) and, like it,
    is never stepped: an NTP step or a ``date -s`` moves only the wall clock.
    """
    if _BOOTTIME is None:  # not Linux: the monotonic clock is the best there is
        return time.monotonic()
    return time.clock_gettime(_BOOTTIME)


_BOOTTIME: int | None = getattr(time, "CLOCK_BOOTTIME", None)


class SystemClock:
    """The real clock: the wall clock read at the start, then moved on by real elapsed time.

    Why not the wall clock itself: every time the bot keeps (a session's start, its messages'
    due times, the scheduler's jobs) is a wall-clock instant, so a wall clock stepped an hour
    back would leave every running session silent for an hour, and one stepped an hour forward
    (an NTP correction: no time passed) would end them all at once as if the bot had been
    down. Counted from the boot clock, the session keeps its rhythm through a step, and a
    sleep or a frozen process still counts as the time that passed (what fell due meanwhile
    is dropped, never sent in a burst). The step is taken over by :meth:`resync`, called when
    no session is running (see ``Dispatcher``), or at the next start.
    """

    def __init__(
        self,
        wall: Callable[[], datetime] = _wall,
        elapsed: Callable[[], float] = _elapsed,
    ) -> None:
        """``wall`` and ``elapsed`` are for tests: the wall clock and a never-stepped one."""
        self._wall = wall
        self._elapsed = elapsed
        self._anchor = wall()
        self._base = elapsed()

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return self._anchor + timedelta(seconds=self._elapsed() - self._base)

    def resync(self) -> timedelta:
        """Take the wall clock's time again; how far it had moved from ours (0: in step).

        Re-anchoring a clock that is in step would only add rounding: a difference under a
        second is left alone.
        """
        step = self._wall() - self.now()
        if abs(step) < timedelta(seconds=1):
            return timedelta(0)
        self._anchor = self._wall()
        self._base = self._elapsed()
        return step
