"""When the bot was not awake: frozen (SIGSTOP), its event loop blocked, or the machine asleep.

A summary says "Sent late: I was offline…" only when that is true. The dispatcher runs on
time while the process runs (a slow send holds up only its own session), so a session end
the policy finds late was either before this process started, or inside a stretch when the
process did not run. ``Awake`` notices those stretches with a one-second beat on the event
loop: a beat that comes much later than asked (by the loop's monotonic clock) means the
process was frozen or blocked; a beat after which the bot's clock moved much further than the
loop's means the machine slept (the boot clock counts a suspend, the monotonic clock does
not). The second check is made only for the real clock: a test's fake clock jumps on purpose.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timedelta

from bot.core.clock import Clock, Resyncable

__all__ = ["BEAT_S", "GAP_S", "Awake"]

BEAT_S = 1.0
GAP_S = 3.0
"""A stretch counts as "not awake" when a beat is this much later than its second."""
_KEPT = 32  # the stretches remembered (a session's end is looked at within minutes of it)


class Awake:
    """Remembers the recent stretches when the process was not running."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.started_at = clock.now()
        self.gaps: deque[tuple[datetime, datetime]] = deque(maxlen=_KEPT)
        self._handle: asyncio.TimerHandle | None = None
        self._last: tuple[float, datetime] | None = None

    def start(self) -> None:
        """Begin beating (idempotent; needs the running loop)."""
        if self._handle is None:
            loop = asyncio.get_running_loop()
            self._last = (loop.time(), self.clock.now())
            self._handle = loop.call_later(BEAT_S, self.beat)

    def stop(self) -> None:
        """Stop beating."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def beat(self) -> None:
        """One beat: note a stretch the process did not run, then ask for the next."""
        self._catch_up()
        self._handle = asyncio.get_running_loop().call_later(BEAT_S, self.beat)

    def _catch_up(self) -> None:
        """Note the stretch since the last look, if the process did not run through it."""
        now_loop, now = asyncio.get_running_loop().time(), self.clock.now()
        if self._last is not None:
            then_loop, then = self._last
            frozen = now_loop - then_loop - BEAT_S
            slept = (now - then).total_seconds() - (now_loop - then_loop)
            missing = max(frozen, slept if isinstance(self.clock, Resyncable) else 0.0)
            if missing > GAP_S:
                self.gaps.append((now - timedelta(seconds=missing + BEAT_S), now))
        self._last = (now_loop, now)

    def was_down(self, at: datetime, margin: timedelta) -> bool:
        """Whether the bot was not running at ``at`` (or up to ``margin`` after it): before
        this process started, or inside a stretch it did not run (the one just over counts,
        even before its beat has come: the dispatcher may wake first)."""
        if self._handle is not None:
            self._catch_up()
        if at < self.started_at:
            return True
        return any(start - margin <= at <= end for start, end in self.gaps)
