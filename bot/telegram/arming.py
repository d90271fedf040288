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
from collections.abc import Callable

from telegram.ext import ContextTypes, JobQueue

__all__ = ["BACKSTOP_SLACK", "Backstop"]

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
