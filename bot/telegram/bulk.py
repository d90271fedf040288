"""File sends off the update slots: one job per person at a time, a few jobs at once.

An /export's two documents and a /stats chart wait in the rate limiter's bulk lane, behind
every answer and proactive message (``bot.telegram.ratelimit``): seconds, when many people export at
once. A handler that waited for them kept one of ``bot.telegram.ordering``'s 8 update slots all that
time: 200 people exporting at once held all 8, and someone else's /help waited 23.9 s for one.
So the handler hands the work to ``BulkJobs`` and returns; the files follow from a task.

- One job per person at a time: a second /export while the first is still on its way is
  refused (the handler says so), so nobody can line up more than one job's files.
- ``BULK_RUNNING`` jobs at once; the others wait their turn holding only a closure. Jobs build
  their files themselves, so memory holds at most that many jobs' files.
- ``stop`` (as the Application stops): jobs not yet started are dropped, and so is any handed
  in from then on; running ones get ``STOP_GRACE`` seconds, then are cancelled — before storage
  closes, since a job reads it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import Any

__all__ = ["BULK_RUNNING", "STOP_GRACE", "BulkJobs", "Job", "OnError"]

log = logging.getLogger(__name__)

BULK_RUNNING = 4
"""Jobs at once. Files leave through the bulk lane one at a time anyway (at most 29 a second,
at least one slot in 6 when answers are busy); 4 jobs keep it fed while one builds its files,
and bound the files held in memory to four people's."""

STOP_GRACE = 5.0
"""Seconds a running job gets to finish when the bot stops: its files are already built and
leave at the full rate then (nothing else is sent), unless Telegram asked for a flood wait."""

Job = Callable[[], Coroutine[Any, Any, None]]
"""Builds and sends one person's files (called once, when the job's turn comes)."""

OnError = Callable[[Exception], Awaitable[object]]
"""Where a job's exception goes (the application's error handler)."""


class BulkJobs:
    """Background jobs that send files, one per person, ``running`` at once."""

    def __init__(self, running: int = BULK_RUNNING, *, grace: float = STOP_GRACE) -> None:
        if running < 1:
            raise ValueError("running must be at least 1")
        self._slots = asyncio.Semaphore(running)
        self._grace = grace
        self._jobs: dict[Hashable, asyncio.Task[None]] = {}
        self._started: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.dropped = 0
        """Jobs dropped because the bot stopped before their turn."""

    def busy(self, person: Hashable) -> bool:
        """Whether ``person`` has a job waiting or running."""
        return person in self._jobs

    def submit(self, person: Hashable, job: Job, on_error: OnError) -> bool:
        """Run ``job`` in the background; False (and nothing runs) if ``person`` already has
        one waiting or running. While the bot stops, the job is dropped (True: accepted, as
        an update waiting then is)."""
        if person in self._jobs:
            return False
        if self._stopping:
            self.dropped += 1
            return True
        task = asyncio.create_task(self._run(job, on_error), name="bulk-job")
        self._jobs[person] = task
        task.add_done_callback(lambda done: self._finished(person, done))
        return True

    async def _run(self, job: Job, on_error: OnError) -> None:
        async with self._slots:
            task = asyncio.current_task()
            assert task is not None  # noqa: S101 - submit created it
            self._started.add(task)
            try:
                await job()
            except Exception as error:  # handed to the one error handler, as PTB's tasks do
                await on_error(error)

    def _finished(self, person: Hashable, task: asyncio.Task[None]) -> None:
        """A done callback, so it runs even for a task cancelled before its first step."""
        if task.cancelled() and task not in self._started:
            self.dropped += 1
            log.debug("a bulk job was dropped: the bot is stopping")
        self._started.discard(task)
        if self._jobs.get(person) is task:
            del self._jobs[person]

    async def idle(self) -> None:
        """Wait until every job handed in so far has finished (tests, benchmarks)."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs.values()), return_exceptions=True)

    def start_taking(self) -> None:
        """Take jobs again (an Application started again after a stop)."""
        self._stopping = False

    async def stop(self) -> None:
        """Drop the jobs not started, give the running ones ``grace`` seconds, cancel the
        rest; refuse new ones from now on."""
        self._stopping = True
        running = list(self._started)
        for task in self._jobs.values():
            if task not in self._started:
                task.cancel()
        if running:
            _, late = await asyncio.wait(running, timeout=self._grace)
            for task in late:
                log.warning("a file send was still running at shutdown; cancelled")
                task.cancel()
        await asyncio.gather(*list(self._jobs.values()), return_exceptions=True)
