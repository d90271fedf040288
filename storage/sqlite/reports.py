"""Reports in SQLite: what the user reads back — /stats (added up by SQLite), the session
facts behind a summary's comparison and insight, /history, /export and event logs.

The reads of many rows run on aiosqlite's thread, off the event loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage.models import (
    DayTotals,
    Event,
    HourTotals,
    LabelledTotals,
    Session,
    SessionFact,
    StatsTotals,
    from_ms,
    to_ms,
)
from storage.ports import ReportStore
from storage.sqlite.shared import _SESSION_COLUMNS, Aggregate, _one, _session

__all__ = ["SqliteReports"]


class SqliteReports(Aggregate, ReportStore):
    """The reads behind /stats, summaries, /history and /export."""

    async def earlier_focus(
        self, user_id: int, before_session_id: int, *, completed_of_minutes: int | None = None
    ) -> tuple[int, float]:
        """(count, average focused ms) of the user's ended sessions before this one (read from
        the covering index, inline: a few ms for a user with 10,000 sessions); with
        ``completed_of_minutes``, only the completed ones of at least that much focus."""
        least = None if completed_of_minutes is None else completed_of_minutes * 60000
        count, average = await self._look(
            lambda c: _one(
                c,
                "SELECT count(*), avg(focused_ms * time_scale) FROM sessions "
                "WHERE user_id = ? AND id < ? AND ended_at IS NOT NULL AND cancelled = 0 "
                "AND (? IS NULL OR (outcome = 'completed' AND focused_ms * time_scale >= ?))",
                (user_id, before_session_id, least, least),
            )
        )
        return int(count), float(average or 0.0)

    async def recent_lengths(self, user_id: int, limit: int) -> list[tuple[int, bool]]:
        """(planned minutes, completed) of the user's newest ``limit`` ended sessions, newest
        first (from the covering index, inline: a few rows)."""
        rows = await self._look(
            lambda c: c.execute(
                "SELECT planned_minutes, outcome = 'completed' FROM sessions "
                "WHERE user_id = ? AND ended_at IS NOT NULL "
                "ORDER BY started_at DESC, id DESC LIMIT ?",
                (user_id, limit),
            ).fetchall()
        )
        return [(int(r[0]), bool(r[1])) for r in rows]

    async def completed_starts(self, user_id: int, since: datetime) -> list[datetime]:
        """Start times of the user's completed sessions since ``since``, newest first."""
        rows = await self._run_in_thread(
            lambda c: c.execute(
                "SELECT started_at FROM sessions WHERE user_id = ? AND outcome = 'completed' "
                "AND started_at >= ? AND cancelled = 0 ORDER BY started_at DESC",
                (user_id, to_ms(since)),
            ).fetchall()
        )
        return [from_ms(r[0]) for r in rows]

    async def session_facts(
        self, user_id: int, since: datetime | None, until: datetime, *, few: bool = False
    ) -> list[SessionFact]:
        """The user's ended sessions started in [since, until), oldest first.

        ``few``: the range holds a few sessions (a summary's last 8 days): read inline rather
        than on the thread.
        """

        def op(c: sqlite3.Connection) -> list[SessionFact]:
            rows = c.execute(
                "SELECT started_at, planned_minutes, "
                "coalesce(focused_ms * time_scale, 0) / 60000.0, outcome = 'completed', "
                "interruptions, score, label IS NOT NULL FROM sessions "
                "WHERE user_id = ? AND started_at >= ? AND started_at < ? "
                "AND ended_at IS NOT NULL AND cancelled = 0 ORDER BY started_at",
                (user_id, 0 if since is None else to_ms(since), to_ms(until)),
            )
            return list(map(SessionFact._make, rows))

        return await (self._look(op) if few else self._run_in_thread(op))

    async def first_start(self, user_id: int) -> datetime | None:
        """When the user's first ended session started (None without any)."""
        (first,) = await self._look(
            lambda c: _one(
                c,
                "SELECT min(started_at) FROM sessions WHERE user_id = ? AND ended_at IS NOT NULL "
                "AND cancelled = 0",
                (user_id,),
            )
        )
        return None if first is None else from_ms(first)

    async def stats_aggregates(
        self,
        user_id: int,
        since: datetime | None,
        until: datetime,
        offsets: tuple[Sequence[tuple[int, int]], int],
        long_minutes: int,
    ) -> StatsTotals:
        """What /stats counts over the user's ended sessions started in [since, until), added
        up by SQLite rather than read a row per session: the labelled ones, per local day,
        per local hour (``StatsTotals``).

        ``offsets`` place each start in the user's local time: ([(change at ms, offset ms
        before it)], offset after the last change), from ``LocalTimes.segments``. "Long"
        means planned over ``long_minutes``. The day and hour queries are answered from the
        covering index ``sessions_user_facts``, the labelled count from the partial index
        ``sessions_user_labelled``.
        """
        changes, last = offsets
        params: dict[str, int] = {"user": user_id, "last": last, "long": long_minutes}
        params["since"] = 0 if since is None else to_ms(since)
        params["until"] = to_ms(until)
        arms = []
        for n, (change, before) in enumerate(changes):
            params[f"c{n}"], params[f"o{n}"] = change, before
            arms.append(f"WHEN started_at < :c{n} THEN :o{n}")
        shift = f"CASE {' '.join(arms)} ELSE :last END" if arms else ":last"
        local = f"(started_at + {shift})"
        where = (
            "FROM sessions WHERE user_id = :user AND started_at >= :since "
            "AND started_at < :until AND ended_at IS NOT NULL AND cancelled = 0"
        )
        minutes = "coalesce(focused_ms * time_scale, 0) / 60000.0"

        def op(c: sqlite3.Connection) -> StatsTotals:
            c.execute("BEGIN")  # the three queries see one snapshot of the file
            try:
                return queries(c)
            finally:
                c.rollback()

        def queries(c: sqlite3.Connection) -> StatsTotals:
            days = c.execute(
                f"SELECT {local} / 86400000 AS day, count(*), total({minutes}), "
                "total(outcome = 'completed'), total(planned_minutes), total(interruptions), "
                "count(score), total(score), total(score IS NOT NULL AND planned_minutes > :long), "
                "total(CASE WHEN planned_minutes > :long THEN score END), "
                f"total(CASE WHEN planned_minutes <= :long THEN score END) {where} GROUP BY day",
                params,
            ).fetchall()
            labelled = _one(
                c,
                f"SELECT count(*), total(outcome = 'completed') {where} AND label IS NOT NULL",
                params,
            )
            hours = c.execute(
                f"SELECT {local} / 3600000 % 24 AS hour, total({minutes}), count(score), "
                f"total(score) {where} GROUP BY hour",
                params,
            ).fetchall()
            return StatsTotals(
                LabelledTotals._make(labelled),
                list(map(DayTotals._make, days)),
                list(map(HourTotals._make, hours)),
            )

        return await self._run_in_thread(op)

    async def history(self, user_id: int, offset: int, limit: int) -> tuple[list[Session], int]:
        """A page of the user's sessions, newest first, and how many there are in all."""

        def op(c: sqlite3.Connection) -> tuple[list[Any], int]:
            (count,) = _one(c, "SELECT count(*) FROM sessions WHERE user_id = ?", (user_id,))
            rows = c.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE user_id = ? "
                "ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?",
                (user_id, limit, offset),
            ).fetchall()
            return rows, int(count)

        rows, count = await self._run_in_thread(op)
        return [_session(r) for r in rows], count

    async def export_rows(self, user_id: int) -> tuple[list[Session], list[Event]]:
        """Every session of the user (oldest first) and every event of those sessions."""

        def op(c: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
            sessions = c.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE user_id = ? "
                "ORDER BY started_at, id",
                (user_id,),
            ).fetchall()
            events = c.execute(
                "SELECT e.session_id, e.kind, e.at, e.detail FROM events e "
                "JOIN sessions s ON s.id = e.session_id WHERE s.user_id = ? "
                "ORDER BY e.session_id, e.at, e.id",
                (user_id,),
            ).fetchall()
            return sessions, events

        sessions, events = await self._run_in_thread(op)
        return [_session(r) for r in sessions], [
            Event(session_id=r[0], kind=r[1], at=from_ms(r[2]), detail=r[3]) for r in events
        ]

    async def events(self, session_id: int) -> list[Event]:
        """A session's event log, oldest first."""
        rows = await self._look(
            lambda c: c.execute(
                "SELECT session_id, kind, at, detail FROM events WHERE session_id = ? "
                "ORDER BY at, id",
                (session_id,),
            ).fetchall()
        )
        return [Event(session_id=r[0], kind=r[1], at=from_ms(r[2]), detail=r[3]) for r in rows]
