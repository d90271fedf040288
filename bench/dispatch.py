"""Dispatch rate: N running sessions all due at once, the rate limiter off.

The sessions are seeded straight into storage (as ``/focus`` would have stored them, each
with its first check-in due at the same instant D), the real Application is initialised on
the file, and ``Dispatcher.run_due()`` is timed from the moment the clock reads D — as if the
dispatcher's job had fired on time. A run handles at most ``batch * max_batches`` sessions and
re-arms itself at once when more are due, so the run is repeated until the backlog is gone,
as the job would be. Lateness is the transport's receive time minus D.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.offline.local_api import OutgoingMessage
from bot.telegram.app import close_application, open_application
from bot.telegram.dispatcher import DispatchReport

from .common import (
    ForgetfulBotApi,
    OffsetClock,
    create_database,
    local_application,
    percentile,
    seed_running_sessions,
)

__all__ = ["DispatchResult", "run_dispatch"]


@dataclass
class DispatchResult:
    """What one dispatch run measured."""

    sessions: int
    sent: int
    dropped: int
    seconds: float
    runs: int
    lateness_s: list[float] = field(repr=False)
    reasons: dict[str, int]

    @property
    def per_s(self) -> float:
        """Proactive messages handed to the transport per second."""
        return self.sent / self.seconds if self.seconds else 0.0

    def lateness_p(self, q: float) -> float:
        """Lateness percentile, seconds."""
        return percentile(self.lateness_s, q)


async def run_dispatch(database: Path, sessions: int) -> DispatchResult:
    """Seed ``sessions`` sessions due at one instant and time the dispatcher through them."""
    await create_database(database)
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    seed_running_sessions(database, [due] * sessions)

    clock = OffsetClock()
    received: list[datetime] = []

    def on_outgoing(change: str, _msg: OutgoingMessage) -> None:
        if change == "send":
            received.append(clock.now())

    api = ForgetfulBotApi(clock=clock.now, on_outgoing=on_outgoing)
    app = local_application(database, api, clock, rate_limiter=False)
    await open_application(app)
    try:
        dispatcher = app.bot_data.dispatcher
        assert dispatcher is not None  # noqa: S101 - post_init built it
        total = DispatchReport()
        runs = 0
        clock.start_at(due)
        started = time.perf_counter()
        while True:
            report = await dispatcher.run_due()
            runs += 1
            total.sent += report.sent
            total.dropped += report.dropped
            for reason, count in report.reasons.items():
                total.reasons[reason] = total.reasons.get(reason, 0) + count
            if report.sessions < dispatcher.batch * dispatcher.max_batches:
                break
        seconds = time.perf_counter() - started
    finally:
        await close_application(app)
    return DispatchResult(
        sessions=sessions,
        sent=total.sent,
        dropped=total.dropped,
        seconds=seconds,
        runs=runs,
        lateness_s=[(at - due).total_seconds() for at in received],
        reasons=total.reasons,
    )
