"""What the person answers during a session: start energy, check-in answers and reasons.

The answers are kept on the delivery they were given to (``deliveries.answer`` ...), so the
companion's rules (``nudges.companion``) read them with the deliveries they already read, and
flow is derived from them rather than stored as a flag.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from nudges.companion import Answer, Energy, Reason
from nudges.policy import SlotKind
from storage.models import CompanionTotals, DeliveryRecord, Session, to_ms
from storage.ports import CompanionStore
from storage.sqlite.shared import (
    _DELIVERY_COLUMNS,
    _SESSION_COLUMNS,
    Aggregate,
    _delivery,
    _fetch_deliveries,
    _fetch_session,
    _session,
)

__all__ = ["SqliteCompanion"]

# Which answers a message of each kind takes.
_KIND_OF_ANSWER = {
    Answer.ON_TRACK: SlotKind.CHECKIN,
    Answer.DISTRACTED: SlotKind.CHECKIN,
    Answer.LONGER_BREAK: SlotKind.BREAK,
}


class SqliteCompanion(Aggregate, CompanionStore):
    """Answers, stored on sessions and their deliveries."""

    async def set_energy(self, session_id: int, energy: Energy) -> bool:
        """Set a running session's start energy, until its first check-in went out."""
        return (
            await self._write(
                "UPDATE sessions SET start_energy = ? WHERE id = ? AND ended_at IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM deliveries WHERE session_id = sessions.id "
                "AND kind = 'checkin' AND status IN ('sending', 'sent'))",
                (energy.value, session_id),
            )
            == 1
        )

    async def answer(
        self,
        session_id: int,
        message_id: int,
        answer: Answer,
        active: timedelta,
        now: datetime,
    ) -> tuple[Session | None, list[DeliveryRecord], bool]:
        """Record the first answer to the message ``message_id`` of a running session (a
        check-in's 👍 or 😵, a break message's longer break), bumping the session's version
        so that no decision taken before it is stored after it.

        Returns the session and its deliveries as they are now, and whether this call
        recorded the answer (False: answered before, not such a message, or ended).
        """

        def op(c: sqlite3.Connection) -> tuple[Session | None, list[DeliveryRecord], bool]:
            cursor = c.execute(
                "UPDATE deliveries SET answer = ?, answered_at = ?, answer_active_ms = ? "
                "WHERE session_id = ? AND message_id = ? AND kind = ? AND status = 'sent' "
                "AND answer IS NULL "
                "AND EXISTS (SELECT 1 FROM sessions WHERE id = ? AND ended_at IS NULL)",
                (
                    answer.value,
                    to_ms(now),
                    max(0, round(active.total_seconds() * 1000)),
                    session_id,
                    message_id,
                    _KIND_OF_ANSWER[answer].value,
                    session_id,
                ),
            )
            recorded = cursor.rowcount == 1
            if recorded:
                c.execute("UPDATE sessions SET version = version + 1 WHERE id = ?", (session_id,))
            session = _fetch_session(c, session_id)
            records = [] if session is None else _fetch_deliveries(c, session_id)
            return session, records, recorded

        return await self._run(op)

    async def set_reason(self, session_id: int, message_id: int, reason: Reason) -> bool:
        """Set (or change) the reason of a 😵 answer on a running session's check-in."""
        return (
            await self._write(
                "UPDATE deliveries SET answer_reason = ? WHERE session_id = ? "
                "AND message_id = ? AND answer = 'distracted' "
                "AND EXISTS (SELECT 1 FROM sessions WHERE id = ? AND ended_at IS NULL)",
                (reason.value, session_id, message_id, session_id),
            )
            == 1
        )

    async def answer_history(
        self, user_id: int, answers: int, scores: int
    ) -> tuple[list[Answer], list[int]]:
        """The person's last ``answers`` check-in answers and last ``scores`` scores, oldest
        first (for the learnt cadence and the falling-scores sign)."""

        def op(c: sqlite3.Connection) -> tuple[list[Answer], list[int]]:
            # Newest sessions first along sessions_user_started, so a person with thousands
            # of sessions is read only as far back as the answers asked for.
            given = (
                c.execute(
                    "SELECT d.answer FROM sessions s JOIN deliveries d ON d.session_id = s.id "
                    "WHERE s.user_id = ? AND d.kind = 'checkin' AND d.answer IS NOT NULL "
                    "ORDER BY s.started_at DESC, d.due_at DESC LIMIT ?",
                    (user_id, answers),
                ).fetchall()
                if answers > 0
                else []
            )
            scored = c.execute(
                "SELECT score FROM sessions WHERE user_id = ? AND score IS NOT NULL "
                "ORDER BY started_at DESC LIMIT ?",
                (user_id, scores),
            ).fetchall()
            return [Answer(r[0]) for r in reversed(given)], [r[0] for r in reversed(scored)]

        return await self._look(op)

    async def period_totals(
        self, user_id: int, since: datetime | None, until: datetime
    ) -> CompanionTotals:
        """For /stats: the 😵 reasons, the scores by start energy, and the sessions that may
        hold flow (two 👍 at least), with their deliveries, of the counted ended sessions
        started in [since, until) (a cancelled stray session is left out, as in every figure)."""
        low = -(2**63) if since is None else to_ms(since)
        high = to_ms(until)
        period = (
            "s.user_id = ? AND s.started_at >= ? AND s.started_at < ? AND s.ended_at IS NOT NULL "
            "AND s.cancelled = 0"
        )

        def op(c: sqlite3.Connection) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
            args = (user_id, low, high)
            reasons = c.execute(
                "SELECT coalesce(d.answer_reason, ''), count(*) FROM sessions s "
                f"JOIN deliveries d ON d.session_id = s.id WHERE {period} "
                "AND d.answer = 'distracted' GROUP BY 1 ORDER BY 2 DESC, 1",
                args,
            ).fetchall()
            energies = c.execute(
                "SELECT coalesce(s.start_energy, ''), count(*), avg(s.score) FROM sessions s "
                f"WHERE {period} AND s.score IS NOT NULL GROUP BY 1 ORDER BY 1",
                args,
            ).fetchall()
            flowing = c.execute(
                f"SELECT {', '.join('s.' + name.strip() for name in _SESSION_COLUMNS.split(','))} "
                f"FROM sessions s WHERE {period} AND (SELECT count(*) FROM deliveries d "
                "WHERE d.session_id = s.id AND d.answer = 'ok') >= 2 ORDER BY s.started_at",
                args,
            ).fetchall()
            ids = [row[0] for row in flowing]
            records = []
            for start in range(0, len(ids), 500):  # SQLite's bound variables, a chunk at once
                chunk = ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                records += c.execute(
                    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE session_id IN ({marks})",
                    chunk,
                ).fetchall()
            return reasons, energies, flowing, records

        reasons, energies, flowing, records = await self._run_in_thread(op)
        by_session: dict[int, list[DeliveryRecord]] = {}
        for row in records:
            record = _delivery(row)
            by_session.setdefault(record.session_id, []).append(record)
        sessions = [_session(row) for row in flowing]
        return CompanionTotals(
            reasons=[(Reason(r) if r else None, n) for r, n in reasons],
            energies=[(Energy(e) if e else None, n, float(a)) for e, n, a in energies],
            flowing=[(s, by_session.get(s.id, [])) for s in sessions],
        )

    async def reasons_by_session(self, user_id: int) -> dict[int, list[Reason]]:
        """For /export: each session's 😵 reasons, in the order of its check-ins."""

        def op(c: sqlite3.Connection) -> list[Any]:
            return c.execute(
                "SELECT d.session_id, d.answer_reason FROM sessions s "
                "JOIN deliveries d ON d.session_id = s.id WHERE s.user_id = ? "
                "AND d.answer_reason IS NOT NULL ORDER BY d.session_id, d.due_at",
                (user_id,),
            ).fetchall()

        found: dict[int, list[Reason]] = {}
        for session_id, reason in await self._run_in_thread(op):
            found.setdefault(session_id, []).append(Reason(reason))
        return found
