"""A backstop for the scheduler's jobs, on the event loop's monotonic clock.

Why: PTB's JobQueue (APScheduler 3) keeps a job's time as a wall-clock instant and compares it
with the wall clock when its timer fires. When the wall clock steps back an hour (an NTP
correction, a ``date -s``), a job armed before the step would then wait out the hour: the
dispatcher would stall and every session fall silent. The event loop's own timers run on the
monotonic clock, which is never stepped; so each arming also sets one such timer, a little
after the job should have run, and a job found still waiting then is armed again at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from telegram.ext import ContextTypes, JobQueue

from bot.core.clock import Clock

__all__ = ["BACKSTOP_SLACK", "Backstop", "OneJob"]

log = logging.getLogger(__name__)

BACKSTOP_SLACK = 2.0
"""Seconds after its due time that a job still waiting is taken as stalled by a clock step
(the scheduler itself fires within milliseconds: two seconds leaves room for a busy loop).
Less when a message's late window is shorter (a scaled time in tests): see ``slack``."""


class Backstop:
    """Watches one job (by its fixed id): armed again if it has not run when it should have."""

    def __init__(
        self,
        job_queue: JobQueue[ContextTypes.DEFAULT_TYPE],
        job_id: str,
        rearm: Callable[[], None],
        *,
        slack: float = BACKSTOP_SLACK,
    ) -> None:
        """``rearm``: arm the job to run now (called only when it stalled); ``slack``: how
        many seconds late a run may be before it counts as stalled."""
        self.job_queue = job_queue
        self.job_id = job_id
        self.rearm = rearm
        self.slack = slack
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, delay: float) -> None:
        """The job was (re)armed to run in ``delay`` seconds: look again a little after."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # armed before the loop runs: post_init arms it again
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(delay + self.slack, self._check)

    def _check(self) -> None:
        self._timer = None
        scheduler = self.job_queue.scheduler
        # A date job is removed the moment it fires: still there means it is still waiting.
        if not scheduler.running or scheduler.get_job(self.job_id) is None:
            return
        log.warning(
            "job %s had not run %.1f s after it was due (the wall clock stepped back?): "
            "running it now",
            self.job_id,
            self.slack,
        )
        self.rearm()


class OneJob:
    """A job with a fixed id, armed at the soonest time anyone asks for, on PTB's JobQueue,
    with a ``Backstop``: the sessions' dispatcher and the reminders' each have one.

    There is only ever one such job: each arming replaces it, and asking for a later time
    than the one armed changes nothing. ``fired`` forgets the armed time when a run begins
    (its end arms the next).
    """

    def __init__(
        self,
        job_queue: JobQueue[ContextTypes.DEFAULT_TYPE] | None,
        job_id: str,
        clock: Clock,
        callback: Callable[[ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]],
        *,
        slack: float = BACKSTOP_SLACK,
    ) -> None:
        self.job_queue = job_queue
        self.job_id = job_id
        self.clock = clock
        self.callback = callback
        self.armed_at: datetime | None = None
        self.backstop = (
            None if job_queue is None else Backstop(job_queue, job_id, self._now, slack=slack)
        )

    def arm(self, when: datetime | None) -> None:
        """Make sure the job runs no later than ``when``."""
        if when is None or self.job_queue is None:
            return
        armed = self.armed_at is not None and self.armed_at <= when
        if armed and self.job_queue.scheduler.get_job(self.job_id) is not None:
            return
        delay = max(0.0, (when - self.clock.now()).total_seconds())
        self.armed_at = when
        self.job_queue.run_once(
            self.callback,
            when=delay,
            name=self.job_id,
            job_kwargs={
                "id": self.job_id,
                "replace_existing": True,
                # However late the job runs, it runs: lateness is judged per message (by the
                # policy, by the reminders' window), which drops what is too late instead of
                # sending a burst, never by the scheduler.
                "misfire_grace_time": None,
                "coalesce": True,
                # Re-armed from inside its own run (a backlog: "again, now"), the job fires
                # while that run is finishing. With APScheduler's default of one instance it
                # would be skipped, and a date job skipped is gone: the job would stop. The
                # runs' own lock keeps them one at a time anyway.
                "max_instances": 2,
            },
        )
        if self.backstop is not None:
            self.backstop.watch(delay)

    def fired(self) -> None:
        """A run begins: what it leaves due, its end arms again."""
        self.armed_at = None

    def _now(self) -> None:
        """The job stalled (the wall clock stepped back): run it now."""
        self.armed_at = None
        self.arm(self.clock.now())
