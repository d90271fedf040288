"""What the person answers during a session: start energy, check-in answers and reasons.

The answers are kept on the delivery they were given to (``deliveries.answer`` ...), so the
companion's rules (``nudges.companion``) read them with the deliveries they already read, and
flow is derived from them rather than stored as a flag.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from nudges.companion import Answer, Energy, Reason
from nudges.policy import SlotKind
from storage.models import DeliveryRecord, Session, to_ms
from storage.ports import CompanionStore
from storage.sqlite.shared import Aggregate, _fetch_deliveries, _fetch_session

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
            given = c.execute(
                "SELECT d.answer FROM deliveries d JOIN sessions s ON s.id = d.session_id "
                "WHERE s.user_id = ? AND d.kind = 'checkin' AND d.answer IS NOT NULL "
                "ORDER BY d.answered_at DESC LIMIT ?",
                (user_id, answers),
            ).fetchall()
            scored = c.execute(
                "SELECT score FROM sessions WHERE user_id = ? AND score IS NOT NULL "
                "ORDER BY started_at DESC LIMIT ?",
                (user_id, scores),
            ).fetchall()
            return [Answer(r[0]) for r in reversed(given)], [r[0] for r in reversed(scored)]

        return await self._look(op)
