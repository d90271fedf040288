"""Deliveries in SQLite: every proactive message and summary, claimed in the database
before it is sent (unique per session and slot), then confirmed or dropped; and the
dispatcher's due work.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from nudges.policy import SlotKind
from storage.models import SUMMARY_SLOT, DeliveryRecord, Reschedule, Session, from_ms, to_ms
from storage.ports import DeliveryStore
from storage.sqlite.shared import (
    _DELIVERY_COLUMNS,
    _SESSION_COLUMNS,
    Aggregate,
    _ceil_ms,
    _delivery,
    _drop,
    _event,
    _fetch_deliveries,
    _one,
    _reschedule,
    _session,
)

__all__ = ["SqliteDeliveries"]

_EVENT_OF_KIND = {
    SlotKind.CHECKIN: "nudge",
    SlotKind.BREAK: "break",
    SlotKind.BACK: "back",
    SlotKind.SUMMARY: "summary",
}


def _still_at(c: sqlite3.Connection, session_id: int, version: int | None) -> bool:
    """Whether the session runs, unpaused, and (if given) still at ``version``."""
    row = _one(
        c,
        "SELECT 1 FROM sessions WHERE id = ? AND ended_at IS NULL AND paused_at IS NULL "
        "AND (? IS NULL OR version = ?)",
        (session_id, version, version),
    )
    return row is not None


class SqliteDeliveries(Aggregate, DeliveryStore):
    """Claims, confirmations and drops of messages, and what is due to be looked at."""

    async def due_sessions(self, now: datetime, limit: int) -> list[Session]:
        """Running sessions whose next look is due, soonest first."""
        return [session for session, _ in await self.due_work(now, limit)]

    async def due_work(
        self, now: datetime, limit: int
    ) -> list[tuple[Session, list[DeliveryRecord]]]:
        """Running sessions whose next look is due, soonest first, each with its recorded
        deliveries: everything a dispatcher pass needs to decide, in one trip."""

        def op(c: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
            sessions = c.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions "
                "WHERE next_due_at IS NOT NULL AND next_due_at <= ? ORDER BY next_due_at LIMIT ?",
                (to_ms(now), limit),
            ).fetchall()
            if not sessions:
                return [], []
            marks = ", ".join("?" * len(sessions))
            deliveries = c.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE session_id IN ({marks})",
                [row[0] for row in sessions],
            ).fetchall()
            return sessions, deliveries

        sessions, deliveries = await self._look(op)
        by_session: dict[int, list[DeliveryRecord]] = {row[0]: [] for row in sessions}
        for row in deliveries:
            by_session[row[0]].append(_delivery(row))
        return [(_session(row), by_session[row[0]]) for row in sessions]

    async def soonest_due(self, exclude: Sequence[int] = ()) -> datetime | None:
        """The earliest time a running session, or a pending summary, must be looked at
        (not counting the sessions in ``exclude``: a dispatcher's sends still in flight)."""
        # Without exclusions, the plain min() (SQLite reads it off the index in one step).
        sessions = "WHERE next_due_at IS NOT NULL"
        pending = "WHERE status = 'pending'"
        if exclude:
            marks = ", ".join("?" * len(exclude))
            sessions += f" AND id NOT IN ({marks})"
            pending += f" AND session_id NOT IN ({marks})"
        (soonest,) = await self._look(
            lambda c: _one(
                c,
                f"SELECT min(t) FROM (SELECT min(next_due_at) AS t FROM sessions {sessions} "
                f"UNION ALL SELECT min(due_at) FROM deliveries {pending})",
                (*exclude, *exclude),
            )
        )
        return None if soonest is None else from_ms(soonest)

    async def deliveries(self, session_id: int) -> list[DeliveryRecord]:
        """Every recorded delivery decision of a session."""
        return await self._look(lambda c: _fetch_deliveries(c, session_id))

    async def claim(
        self,
        session_id: int,
        slot: str,
        kind: SlotKind,
        due_at: datetime,
        now: datetime,
        *,
        max_messages: int,
        min_gap: timedelta,
        version: int | None = None,
    ) -> bool:
        """Claim a proactive message before sending it; False if it may not go out.

        The guardrails are checked again here, against what is recorded, in the claim's own
        transaction: the session runs and is not paused (and, if ``version`` is given, did not
        change since the decision), fewer than ``max_messages`` were claimed, the last one at
        least ``min_gap`` ago, and this slot was never recorded. A claim that is never
        confirmed (the process died mid-send) stays ``sending`` and counts as sent: a message
        is never sent twice, at the cost of one that may be missing.
        """
        gap_ms = min_gap.total_seconds() * 1000

        def op(c: sqlite3.Connection) -> bool:
            if not _still_at(c, session_id, version):
                return False
            used, last = _one(
                c,
                "SELECT count(*), max(at) FROM deliveries WHERE session_id = ? "
                "AND kind != 'summary' AND status IN ('sending', 'sent')",
                (session_id,),
            )
            if used >= max_messages:
                return False
            if last is not None and to_ms(now) - last < gap_ms:
                return False
            cursor = c.execute(
                "INSERT INTO deliveries (session_id, slot, kind, status, due_at, at) "
                "VALUES (?, ?, ?, 'sending', ?, ?) ON CONFLICT DO NOTHING",
                (session_id, slot, kind, to_ms(due_at), to_ms(now)),
            )
            return cursor.rowcount == 1

        return await self._run(op)

    async def unclaim(self, session_id: int, slot: str) -> None:
        """Withdraw a claim whose send surely did not happen, so it can be tried again."""
        await self._write(
            "DELETE FROM deliveries WHERE session_id = ? AND slot = ? AND status = 'sending'",
            (session_id, slot),
        )

    async def claim_summary(self, session_id: int, now: datetime) -> bool:
        """Move a pending summary to ``sending``; False if it is not pending."""
        changed = await self._write(
            "UPDATE deliveries SET status = 'sending', at = ? "
            "WHERE session_id = ? AND slot = ? AND status = 'pending'",
            (to_ms(now), session_id, SUMMARY_SLOT),
        )
        return changed == 1

    async def release_summary(self, session_id: int, now: datetime, retry_at: datetime) -> None:
        """Put a summary whose send failed for sure back to ``pending``, due at ``retry_at``."""
        await self._write(
            "UPDATE deliveries SET status = 'pending', at = ?, due_at = ? "
            "WHERE session_id = ? AND slot = ? AND status = 'sending'",
            (to_ms(now), _ceil_ms(retry_at), session_id, SUMMARY_SLOT),
        )

    async def confirm(
        self,
        session_id: int,
        slot: str,
        kind: SlotKind,
        message_id: int | None,
        now: datetime,
        *,
        then: Reschedule | None = None,
    ) -> bool:
        """Record that a claimed message was delivered, and log it as an event.

        ``then``: also store when to look at the session next (as ``reschedule`` does), in
        the same transaction; the result says whether that was stored (False: the session
        changed since, or ended).
        """

        def op(c: sqlite3.Connection) -> bool:
            cursor = c.execute(
                "UPDATE deliveries SET status = 'sent', at = ?, message_id = ? "
                "WHERE session_id = ? AND slot = ? AND status = 'sending'",
                (to_ms(now), message_id, session_id, slot),
            )
            if cursor.rowcount == 1:
                _event(c, session_id, _EVENT_OF_KIND[kind], now, slot)
            return then is not None and _reschedule(c, session_id, then)

        return await self._run(op)

    async def drop(
        self,
        session_id: int,
        slot: str,
        kind: SlotKind,
        due_at: datetime,
        now: datetime,
        reason: str,
        *,
        version: int | None = None,
    ) -> bool:
        """Record a message as not sent (new, or a claim whose send failed for sure).

        With ``version``: only if the session still runs at that version (the decision to
        drop was made on it); False, and nothing recorded, if not.
        """

        def op(c: sqlite3.Connection) -> bool:
            if version is not None and not _one(
                c,
                "SELECT 1 FROM sessions WHERE id = ? AND ended_at IS NULL AND version = ?",
                (session_id, version),
            ):
                return False
            _drop(c, session_id, slot, kind, due_at, now, reason)
            return True

        return await self._run(op)

    async def pending_summaries(self, now: datetime, limit: int) -> list[int]:
        """Sessions whose summary is due to be sent (a retried one waits for its time)."""
        rows = await self._look(
            lambda c: c.execute(
                "SELECT session_id FROM deliveries WHERE status = 'pending' AND slot = ? "
                "AND due_at <= ? ORDER BY due_at LIMIT ?",
                (SUMMARY_SLOT, to_ms(now), limit),
            ).fetchall()
        )
        return [r[0] for r in rows]
