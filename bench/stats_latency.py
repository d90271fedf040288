"""/stats latency: one heavy user in a big database, through ``FocusService``.

The file is created by ``storage.open_storage`` (real schema, every migration), then filled with
plain sqlite3 ``executemany``: ~``users`` users, ``total`` ended sessions spread over the last
two years and inserted in start order (as they would have been), ``heavy`` of them belonging
to one user. ``FocusService.stats`` (what /stats computes before rendering, the chart
excluded) is timed for week, month and all, and ``FocusService.history`` for page 0, on the
production connection (``storage.open_storage``) and the real clock.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.core.clock import SystemClock
from bot.core.insights import Period
from bot.core.service import FocusService
from nudges import Limits
from nudges.limits import HISTORY_PAGE_SIZE
from storage import open_storage

from .common import create_database, percentile, to_ms, writer

__all__ = ["StatsResult", "run_stats"]

HEAVY_USER = 1
_SPAN = timedelta(days=730)
_OUTCOMES = ("completed", "completed", "completed", "completed", "ended_early")


@dataclass
class StatsResult:
    """Timings of each call, in ms, by name (week, month, all, history)."""

    total: int
    heavy: int
    users: int
    seed_s: float
    timings: dict[str, list[float]] = field(repr=False)
    chart_ms: float  # a render of the 'all' chart (excluded from the target)
    first_chart_ms: float  # the first render in the process (matplotlib may load then)

    def p(self, name: str, q: float) -> float:
        """Percentile ``q`` of call ``name``, ms."""
        return percentile(self.timings[name], q)


def _rows(total: int, heavy: int, users: int, now: datetime) -> list[tuple[Any, ...]]:
    """Ended sessions, in start order: ``heavy`` of user 1, the rest spread over ``users``."""
    rng = random.Random(20260309)  # noqa: S311 - reproducible test data, not security
    start_ms, span_ms = to_ms(now - _SPAN), int(_SPAN.total_seconds() * 1000)
    owners = [HEAVY_USER] * heavy + [rng.randrange(2, users + 2) for _ in range(total - heavy)]
    starts = sorted(start_ms + rng.randrange(span_ms - 4 * 3_600_000) for _ in range(total))
    rng.shuffle(owners)
    rows = []
    for user, started in zip(owners, starts, strict=True):
        planned = rng.choice((25, 25, 45, 60, 90))
        outcome = rng.choice(_OUTCOMES)
        share = 1.0 if outcome == "completed" else rng.uniform(0.2, 0.9)
        focused = int(planned * 60_000 * share)
        ended = started + focused + (planned // 25) * 300_000
        score = rng.choice((None, None, 1, 2, 3, 4, 5))
        rows.append(
            (
                user,
                user,
                "write the report" if rng.random() < 0.5 else None,
                planned,
                started,
                ended,
                ended,
                focused,
                planned // 25,
                outcome,
                rng.choice((0, 0, 0, 1, 2)),
                score,
                None if score is None else ended + 60_000,
            )
        )
    return rows


async def _seed(path: Path, total: int, heavy: int, users: int, now: datetime) -> None:
    await create_database(path)
    rows = _rows(total, heavy, users, now)
    created = to_ms(now - _SPAN - timedelta(days=1))
    with writer(path) as db:
        db.executemany(
            "INSERT INTO users (id, created_at) VALUES (?, ?)",
            ((u, created) for u in range(1, users + 2)),
        )
        db.executemany(
            "INSERT INTO sessions (user_id, chat_id, label, planned_minutes, block_minutes, "
            "break_minutes, checkins, time_scale, started_at, planned_end_at, ended_at, "
            "focused_ms, breaks_taken, outcome, interruptions, score, scored_at) "
            "VALUES (?, ?, ?, ?, 25, 5, 1, 1.0, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


async def run_stats(database: Path, total: int, heavy: int, users: int, calls: int) -> StatsResult:
    """Seed the file, then time ``calls`` calls of each query (after one untimed call)."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    await _seed(database, total, heavy, users, now)
    seed_s = time.perf_counter() - started
    store = await open_storage(database)
    service = FocusService(store, Limits(), SystemClock())
    timings: dict[str, list[float]] = {}
    try:
        periods: tuple[Period, ...] = ("week", "month", "all")
        for period in periods:
            timings[period] = await _time(lambda p=period: service.stats(HEAVY_USER, p), calls)
        timings["history"] = await _time(
            lambda: service.history(HEAVY_USER, 0, HISTORY_PAGE_SIZE), calls
        )
        numbers = await service.stats(HEAVY_USER, "all")
        from bot.telegram.charts import render_stats_chart  # matplotlib: only this figure needs it

        chart_ms = []
        for _ in range(2):  # the first may include importing matplotlib
            chart_started = time.perf_counter()
            render_stats_chart(numbers, "Focus, all time")
            chart_ms.append((time.perf_counter() - chart_started) * 1000)
    finally:
        await store.close()
    return StatsResult(total, heavy, users, seed_s, timings, chart_ms[1], chart_ms[0])


async def _time(call: Any, times: int) -> list[float]:
    await call()  # warm: the first call pays for opening pages; it is not the steady state
    durations = []
    for _ in range(times):
        started = time.perf_counter()
        await call()
        durations.append((time.perf_counter() - started) * 1000)
    return durations
