"""A person's own records in SQLite: filtered /history, correct, delete, undo a cancellation,
and the labels behind /stats and a bare /focus.

Every change is one operation (one savepoint, one commit) conditional on the session being the
user's and ended: a forged button, another person's id or a running session changes nothing.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from nudges import limits as product
from storage.models import (
    Correction,
    HistoryQuery,
    Outcome,
    Session,
    SessionFact,
    label_key,
    to_ms,
)
from storage.ports import RecordStore
from storage.sqlite.shared import (
    _SESSION_COLUMNS,
    Aggregate,
    _event,
    _fetch_session,
    _one,
    _session,
)

__all__ = ["SqliteRecords"]


def _like(word: str) -> str:
    """A LIKE pattern that matches ``word`` literally anywhere."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqliteRecords(Aggregate, RecordStore):
    """The owner's reads and changes of single sessions."""

    async def find_history(
        self, user_id: int, query: HistoryQuery, offset: int, limit: int
    ) -> tuple[list[Session], int]:
        """A page of the user's sessions matching ``query``, newest first, and the count."""
        where = ["user_id = ?"]
        params: list[Any] = [user_id]
        if query.since is not None:
            where.append("started_at >= ?")
            params.append(to_ms(query.since))
        for word in query.label_words:
            # SQLite's LIKE folds ASCII case only; the words and labels are compared folded.
            where.append("lower(label) LIKE ? ESCAPE '\\'")
            params.append(_like(word.lower()))
        if query.outcome is not None:
            where.append("outcome = ? AND cancelled = 0")
            params.append(query.outcome.value)
        condition = " AND ".join(where)

        def op(c: sqlite3.Connection) -> tuple[list[Any], int]:
            (count,) = _one(c, f"SELECT count(*) FROM sessions WHERE {condition}", params)
            rows = c.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE {condition} "
                "ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
            return rows, int(count)

        rows, count = await self._run_in_thread(op)
        return [_session(r) for r in rows], count

    async def correct(
        self, session_id: int, user_id: int, correction: Correction, now: datetime
    ) -> Session | None:
        """Apply a correction to an ended session of this user, recorded as one ``edit``
        event per field changed; None if it is not theirs, not ended, or nothing changes."""

        def op(c: sqlite3.Connection) -> Session | None:
            session = _fetch_session(c, session_id)
            if session is None or session.user_id != user_id or session.running:
                return None
            sets: list[str] = []
            params: list[Any] = []
            edits: list[str] = []
            if correction.focused_minutes is not None:
                minutes = correction.focused_minutes
                before = session.focused_minutes()
                if round(before * 10) != round(minutes * 10):
                    # Stored as real milliseconds, like the bot's own measurement.
                    sets.append("focused_ms = ?")
                    params.append(round(minutes * 60_000 / session.time_scale))
                    edits.append(f"focused {before:.1f}→{minutes:.1f} min")
                completed = minutes >= session.planned_minutes
                outcome = Outcome.COMPLETED if completed else Outcome.ENDED_EARLY
                if outcome is not session.outcome:
                    sets.append("outcome = ?")
                    params.append(outcome.value)
                    edits.append(f"outcome {session.outcome}→{outcome.value}")
                # The person says real focus happened: a stray cancellation no longer fits.
                if session.cancelled and minutes >= product.STRAY_SESSION_MINUTES:
                    sets.append("cancelled = 0")
                    edits.append("counted again")
            if correction.clear_label and session.label is not None:
                sets.append("label = NULL")
                edits.append("label removed")
            elif correction.label is not None and correction.label != session.label:
                sets.append("label = ?")
                params.append(correction.label)
                edits.append("label")  # the label itself is in the row, not in the log
            if correction.score is not None and correction.score != session.score:
                sets.append("score = ?, scored_at = ?")
                params += [correction.score, to_ms(now)]
                edits.append(f"score {session.score or '–'}→{correction.score}")
            if not sets:
                return None
            c.execute(f"UPDATE sessions SET {', '.join(sets)} WHERE id = ?", [*params, session_id])
            for edit in edits:
                _event(c, session_id, "edit", now, edit)
            return _fetch_session(c, session_id)

        return await self._run(op)

    async def delete_session(self, session_id: int, user_id: int) -> bool:
        """Remove an ended session of this user with its events and deliveries, at once."""

        def op(c: sqlite3.Connection) -> bool:
            # Explicit rather than left to ON DELETE CASCADE alone: one operation, one commit.
            owned = _one(
                c,
                "SELECT 1 FROM sessions WHERE id = ? AND user_id = ? AND ended_at IS NOT NULL",
                (session_id, user_id),
            )
            if owned is None:
                return False
            c.execute("DELETE FROM events WHERE session_id = ?", (session_id,))
            c.execute("DELETE FROM deliveries WHERE session_id = ?", (session_id,))
            c.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            return True

        return await self._run(op)

    async def restore(self, session_id: int, user_id: int, now: datetime) -> Session | None:
        """Count a cancelled session again, unless a later session of the user started."""

        def op(c: sqlite3.Connection) -> Session | None:
            cursor = c.execute(
                "UPDATE sessions SET cancelled = 0 WHERE id = ? AND user_id = ? AND cancelled = 1 "
                "AND NOT EXISTS (SELECT 1 FROM sessions later WHERE later.user_id = ? "
                "AND later.id > ?)",
                (session_id, user_id, user_id, session_id),
            )
            if cursor.rowcount != 1:
                return None
            _event(c, session_id, "restored", now, "undo")
            return _fetch_session(c, session_id)

        return await self._run(op)

    async def labelled_facts(
        self, user_id: int, since: datetime | None, until: datetime
    ) -> list[tuple[str, SessionFact]]:
        """(label, fact) of the user's labelled, counted ended sessions started in
        [since, until), oldest first."""

        def op(c: sqlite3.Connection) -> list[tuple[str, SessionFact]]:
            rows = c.execute(
                "SELECT label, started_at, planned_minutes, "
                "coalesce(focused_ms * time_scale, 0) / 60000.0, outcome = 'completed', "
                "interruptions, score, 1 FROM sessions "
                "WHERE user_id = ? AND started_at >= ? AND started_at < ? "
                "AND ended_at IS NOT NULL AND cancelled = 0 AND label IS NOT NULL "
                "ORDER BY started_at",
                (user_id, 0 if since is None else to_ms(since), to_ms(until)),
            )
            return [(r[0], SessionFact._make(r[1:])) for r in rows]

        return await self._run_in_thread(op)

    async def recent_labels(self, user_id: int, limit: int) -> list[tuple[str, int, int]]:
        """The user's latest distinct labels (case and spacing aside), newest first, each with
        the planned minutes and the id of its last session."""

        def op(c: sqlite3.Connection) -> list[tuple[str, int, int]]:
            rows = c.execute(
                "SELECT label, planned_minutes, id FROM sessions WHERE user_id = ? "
                "AND label IS NOT NULL AND cancelled = 0 ORDER BY started_at DESC, id DESC "
                "LIMIT 200",
                (user_id,),
            )
            seen: dict[str, tuple[str, int, int]] = {}
            for label, planned, session_id in rows:
                seen.setdefault(label_key(label), (label, planned, session_id))
                if len(seen) == limit:
                    break
            return list(seen.values())

        return await self._look(op)
