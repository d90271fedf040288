"""What every figure shares: settings, clocks, a Bot API that forgets, seeding, percentiles."""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.core.clock import Clock
from bot.core.settings import Settings
from bot.offline.local_api import LocalBotApi, LocalRequest, OutgoingMessage
from bot.telegram.app import build_application
from bot.telegram.context import FocusApplication
from nudges import Limits, SessionState, make_plan
from storage import open_storage

__all__ = [
    "BENCH_TOKEN",
    "DURATIONS",
    "FixedClock",
    "ForgetfulBotApi",
    "OffsetClock",
    "PlannedRun",
    "bench_settings",
    "create_database",
    "environment_without_focus",
    "local_application",
    "percentile",
    "rss_kib",
    "seed_running_sessions",
    "to_ms",
    "writer",
]

BENCH_TOKEN = "1:bench"  # noqa: S105 - the in-process API and the stand-in accept any token
DURATIONS = (25, 45, 60, 90)
"""Planned minutes of the seeded running sessions, in turn (the README's example sessions)."""


def to_ms(moment: datetime) -> int:
    """Storage's time format: integer UTC milliseconds (rounded up, as next_due_at is)."""
    return math.ceil(moment.timestamp() * 1000)


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q <= 100) of ``values``; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def rss_kib(pid: int | None = None) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB of process ``pid`` (None: this one), from /proc/<pid>/status."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


class OffsetClock:
    """The real clock, shifted: lets a run start exactly at a due time seeded earlier."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        """Real time plus the offset, aware UTC."""
        return datetime.now(UTC) + self.offset

    def start_at(self, moment: datetime) -> None:
        """From now on, the clock reads ``moment`` plus the real time elapsed since this call."""
        self.offset = moment - datetime.now(UTC)


class FixedClock:
    """A clock that does not move (the memory probe: every session stays inside its window)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        """Always the same moment."""
        return self.moment


class ForgetfulBotApi(LocalBotApi):
    """The in-process Bot API, minus its memory of what was sent.

    Telegram does not live in the bot's process; LocalBotApi keeps every message (and a
    message counter per chat) for tests to read. For figures that send tens of thousands of
    messages, that record would be counted as the bot's memory and would slow its garbage
    collector, so this variant answers exactly as LocalBotApi does but keeps nothing.
    ``on_outgoing`` still sees every message, for the figures that time them.
    """

    def __init__(self, *, clock: Callable[[], datetime], **kwargs: Any) -> None:
        super().__init__(clock=clock, **kwargs)
        self._message_ids = 0

    def _new_message_id(self, chat_id: int) -> int:
        self._message_ids += 1
        return self._message_ids

    def _record(self, msg: OutgoingMessage) -> dict[str, Any]:
        if self._on_outgoing is not None:
            self._on_outgoing("send", msg)
        return self._message_json(msg)


def bench_settings(database: Path, **overrides: Any) -> Settings:
    """Settings of a production bot on ``database``, ignoring any .env or FOCUS_* variable."""
    values: dict[str, Any] = {
        "telegram_bot_token": None,
        "focus_database": database,
        "focus_time_scale": 1.0,
        "focus_allowed_users": frozenset(),
        "focus_default_minutes": 25,
        "focus_block_minutes": 25,
        "focus_break_minutes": 5,
        "log_level": "WARNING",
        **overrides,
    }
    return Settings(_env_file=None, **values)


def local_application(
    database: Path, api: LocalBotApi, clock: Clock, *, rate_limiter: bool
) -> FocusApplication:
    """The real Application over the in-process transport (no sockets)."""
    return build_application(
        bench_settings(database),
        clock=clock,
        request=LocalRequest(api),
        get_updates_request=LocalRequest(api),
        token=BENCH_TOKEN,
        rate_limiter=rate_limiter,
    )


async def create_database(path: Path) -> None:
    """Create ``path`` with the real schema: storage.open_storage runs every migration."""
    store = await open_storage(path)
    await store.close()


@dataclass(frozen=True)
class PlannedRun:
    """Where a session of some planned minutes has its first message, and its end."""

    first_offset: timedelta
    total: timedelta


def _plans() -> dict[int, PlannedRun]:
    """The real policy's plan of each seeded duration (no pause, default limits)."""
    start = datetime(2026, 1, 5, tzinfo=UTC)
    plans = {}
    for minutes in DURATIONS:
        plan = make_plan(SessionState(started_at=start, planned_minutes=minutes), Limits())
        plans[minutes] = PlannedRun(plan.slots[0].offset, plan.total)
    return plans


def seed_running_sessions(
    path: Path, first_due: Iterable[datetime], *, first_user: int = 1_000_000
) -> list[int]:
    """Insert one running session per due time, each its own user and private chat.

    Each session is exactly what ``/focus`` would have stored had it been started so that its
    first message (the check-in at minute 12) falls due at the given time: the same columns,
    its 'started' event, its next_due_at. Plain sqlite3 in one transaction: seeding is not
    what is measured. Returns the user (= chat) ids, in order.
    """
    plans = _plans()
    users: list[tuple[int, int]] = []
    sessions: list[tuple[Any, ...]] = []
    for index, due in enumerate(first_due):
        user_id = first_user + index
        minutes = DURATIONS[index % len(DURATIONS)]
        run = plans[minutes]
        started = due - run.first_offset
        users.append((user_id, to_ms(started)))
        sessions.append(
            (
                user_id,
                user_id,
                "bench" if index % 2 else None,
                minutes,
                to_ms(started),
                to_ms(started + run.total),
                to_ms(due),
            )
        )
    with _writer(path) as db:
        db.executemany("INSERT INTO users (id, created_at) VALUES (?, ?)", users)
        db.executemany(
            "INSERT INTO sessions (user_id, chat_id, label, planned_minutes, block_minutes, "
            "break_minutes, checkins, time_scale, started_at, planned_end_at, next_due_at) "
            "VALUES (?, ?, ?, ?, 25, 5, 1, 1.0, ?, ?, ?)",
            sessions,
        )
        db.execute(
            "INSERT INTO events (session_id, kind, at, detail) "
            "SELECT id, 'started', started_at, planned_minutes || ' min' FROM sessions "
            "WHERE ended_at IS NULL AND user_id >= ?",
            (first_user,),
        )
    return [u for u, _ in users]


class _writer:
    """A plain sqlite3 connection in one transaction, committed and closed on exit."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self.db.close()


def writer(path: Path) -> _writer:
    """A plain sqlite3 transaction on ``path`` (for seeding)."""
    return _writer(path)


def environment_without_focus() -> dict[str, str]:
    """This process's environment without FOCUS_*/TELEGRAM_* (for subprocesses)."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("FOCUS_", "TELEGRAM_", "LOG_"))
    }
