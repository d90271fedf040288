"""Routines and reminders in SQLite: a person's goal, reminder, quiet hours and weekly review
(one ``routine`` row), and every reminder, question and review as a row of ``reminders``,
claimed before it is sent (unique per person, local day and kind), then confirmed or dropped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage.models import ReminderKind, ReminderRecord, Routine, from_ms, to_ms
from storage.ports import ReminderStore
from storage.sqlite.shared import Aggregate, _ceil_ms, _insert_user, _one, _opt_dt

__all__ = ["ROUTINE_FIELDS", "SqliteReminders"]

_ROUTINE_COLUMNS = (
    "user_id, goal_minutes, remind_minute, remind_weekdays, remind_held, quiet_start, "
    "quiet_end, quiet_checkins, review, review_weekday, review_minute, next_remind_at, "
    "next_review_at, zone_asked, zone_pending"
)
ROUTINE_FIELDS = frozenset(_ROUTINE_COLUMNS.split(", ")[1:])
"""What ``update_routine`` may change (the names are interpolated: only these)."""
_TIMES = frozenset({"next_remind_at", "next_review_at"})

_REMINDER_COLUMNS = (
    "user_id, day, kind, ask, status, due_at, at, message_id, reason, answered_at, session_id"
)

_DAY_MS = 86_400_000


def _routine(row: Sequence[Any]) -> Routine:
    return Routine(
        user_id=row[0],
        goal_minutes=row[1],
        remind_minute=row[2],
        remind_weekdays=bool(row[3]),
        remind_held=bool(row[4]),
        quiet_start=row[5],
        quiet_end=row[6],
        quiet_checkins=bool(row[7]),
        review=bool(row[8]),
        review_weekday=row[9],
        review_minute=row[10],
        next_remind_at=_opt_dt(row[11]),
        next_review_at=_opt_dt(row[12]),
        zone_asked=bool(row[13]),
        zone_pending=bool(row[14]),
    )


def _record(row: Sequence[Any]) -> ReminderRecord:
    return ReminderRecord(
        user_id=row[0],
        day=row[1],
        kind=row[2],
        ask=bool(row[3]),
        status=row[4],
        due_at=from_ms(row[5]),
        at=from_ms(row[6]),
        message_id=row[7],
        reason=row[8],
        answered_at=_opt_dt(row[9]),
        session_id=row[10],
    )


def _fetch(c: sqlite3.Connection, user_id: int) -> Routine:
    row = _one(c, f"SELECT {_ROUTINE_COLUMNS} FROM routine WHERE user_id = ?", (user_id,))
    return Routine(user_id=user_id) if row is None else _routine(row)


class SqliteReminders(Aggregate, ReminderStore):
    """Routine settings, what is due, and the claim → send → confirm of each reminder."""

    async def routine(self, user_id: int) -> Routine:
        """The person's routine (the defaults when they never chose anything)."""
        return await self._look(lambda c: _fetch(c, user_id))

    async def update_routine(self, user_id: int, now: datetime, **fields: object) -> Routine:
        """Change some of a person's routine fields (created with the user if new)."""
        unknown = set(fields) - ROUTINE_FIELDS
        if unknown or not fields:
            raise ValueError(f"not routine fields: {sorted(unknown) or 'none given'}")
        names = sorted(fields)  # from the fixed set above: safe to interpolate
        values: list[object] = []
        for name in names:
            value = fields[name]
            if name in _TIMES:
                if value is not None and not isinstance(value, datetime):
                    raise ValueError(f"{name} must be a datetime or None")
                value = _ceil_ms(value)
            elif isinstance(value, bool):
                value = int(value)
            values.append(value)

        def op(c: sqlite3.Connection) -> Routine:
            _insert_user(c, user_id, now)
            c.execute("INSERT INTO routine (user_id) VALUES (?) ON CONFLICT DO NOTHING", (user_id,))
            assignments = ", ".join(f"{name} = ?" for name in names)
            c.execute(f"UPDATE routine SET {assignments} WHERE user_id = ?", (*values, user_id))
            return _fetch(c, user_id)

        return await self._run(op)

    async def due_routines(self, now: datetime, limit: int) -> list[Routine]:
        """Routines with a reminder or a review due by ``now``, soonest first."""
        ms = to_ms(now)
        rows = await self._look(
            lambda c: c.execute(
                f"SELECT {_ROUTINE_COLUMNS} FROM routine WHERE next_remind_at <= ? "
                f"UNION SELECT {_ROUTINE_COLUMNS} FROM routine WHERE next_review_at <= ? "
                "ORDER BY user_id LIMIT ?",
                (ms, ms, limit),
            ).fetchall()
        )
        return [_routine(r) for r in rows]

    async def soonest_routine(self) -> datetime | None:
        """The earliest time a reminder or a review is due (None: none is scheduled)."""
        (soonest,) = await self._look(
            lambda c: _one(
                c,
                "SELECT min(t) FROM (SELECT min(next_remind_at) AS t FROM routine "
                "UNION ALL SELECT min(next_review_at) FROM routine)",
            )
        )
        return None if soonest is None else from_ms(soonest)

    async def claim_reminder(
        self,
        user_id: int,
        day: str,
        kind: ReminderKind,
        due_at: datetime,
        now: datetime,
        *,
        ask: bool = False,
        day_start: datetime | None = None,
    ) -> str | None:
        """Claim a reminder or review before sending it; None when claimed, else why not.

        Checked again here, in the claim's transaction, against what is recorded: the row
        for this person, day and kind was never written (a restart or a retry can't send it
        twice); and for a reminder, that no session of theirs runs and none started since
        ``day_start`` (the start of their local day).
        """

        def op(c: sqlite3.Connection) -> str | None:
            if kind is ReminderKind.REMIND:
                if _one(
                    c,
                    "SELECT 1 FROM sessions WHERE user_id = ? AND ended_at IS NULL LIMIT 1",
                    (user_id,),
                ):
                    return "a session is running"
                if day_start is not None and _one(
                    c,
                    # A stray session (cancelled: started and stopped within a minute or two)
                    # was no focus: it does not answer today's reminder.
                    "SELECT 1 FROM sessions WHERE user_id = ? AND started_at >= ? "
                    "AND cancelled = 0 LIMIT 1",
                    (user_id, to_ms(day_start)),
                ):
                    return "focused today already"
            cursor = c.execute(
                "INSERT INTO reminders (user_id, day, kind, ask, status, due_at, at) "
                "VALUES (?, ?, ?, ?, 'sending', ?, ?) ON CONFLICT DO NOTHING",
                (user_id, day, kind, int(ask), to_ms(due_at), to_ms(now)),
            )
            return None if cursor.rowcount == 1 else "already handled"

        return await self._run(op)

    async def confirm_reminder(
        self, user_id: int, day: str, kind: ReminderKind, message_id: int | None, now: datetime
    ) -> None:
        """Record that a claimed reminder was delivered."""
        await self._write(
            "UPDATE reminders SET status = 'sent', at = ?, message_id = ? "
            "WHERE user_id = ? AND day = ? AND kind = ? AND status = 'sending'",
            (to_ms(now), message_id, user_id, day, kind),
        )

    async def unclaim_reminder(self, user_id: int, day: str, kind: ReminderKind) -> None:
        """Withdraw a claim whose send surely did not happen, so it can be tried again."""
        await self._write(
            "DELETE FROM reminders WHERE user_id = ? AND day = ? AND kind = ? "
            "AND status = 'sending'",
            (user_id, day, kind),
        )

    async def drop_reminder(
        self,
        user_id: int,
        day: str,
        kind: ReminderKind,
        due_at: datetime,
        now: datetime,
        reason: str,
    ) -> None:
        """Record a reminder as not sent (new, or a claim whose send failed for sure); a sent
        one stays sent."""
        await self._write(
            "INSERT INTO reminders (user_id, day, kind, status, due_at, at, reason) "
            "VALUES (?, ?, ?, 'dropped', ?, ?, ?) ON CONFLICT DO UPDATE "
            "SET status = 'dropped', at = excluded.at, reason = excluded.reason "
            "WHERE status = 'sending'",
            (user_id, day, kind, to_ms(due_at), to_ms(now), reason),
        )

    async def unanswered_in_row(self, user_id: int) -> int:
        """How many of the person's latest sent reminders in a row went unanswered.

        A reminder is answered by a tap on one of its buttons, or by a session started within
        a day of it (the person focused: that is an answer too). The question itself is not
        counted, and nothing before it: answering it answers everything before.
        """

        def op(c: sqlite3.Connection) -> int:
            rows = c.execute(
                "SELECT r.answered_at IS NOT NULL OR EXISTS ("
                "  SELECT 1 FROM sessions s WHERE s.user_id = r.user_id"
                "  AND s.started_at >= r.at AND s.started_at < r.at + ?) "
                "FROM reminders r WHERE r.user_id = ? AND r.kind = 'remind' "
                "AND r.status = 'sent' AND r.ask = 0 ORDER BY r.due_at DESC LIMIT 50",
                (_DAY_MS, user_id),
            ).fetchall()
            count = 0
            for (answered,) in rows:
                if answered:
                    break
                count += 1
            return count

        return await self._look(op)

    async def link_session(self, user_id: int, session_id: int) -> None:
        """Keep on the person's latest sent reminder that its button started ``session_id``."""
        await self._write(
            "UPDATE reminders SET session_id = ? WHERE rowid = (SELECT rowid FROM reminders "
            "WHERE user_id = ? AND kind = 'remind' AND status = 'sent' AND NOT ask "
            "ORDER BY due_at DESC LIMIT 1)",
            (session_id, user_id),
        )

    async def answer_reminders(self, user_id: int, now: datetime) -> int:
        """Mark every unanswered reminder (and question) of the person as answered."""
        return await self._write(
            "UPDATE reminders SET answered_at = ? WHERE user_id = ? AND kind = 'remind' "
            "AND answered_at IS NULL AND status = 'sent'",
            (to_ms(now), user_id),
        )

    async def reminders_of(self, user_id: int) -> list[ReminderRecord]:
        """Every reminder row of the person, oldest first."""
        rows = await self._look(
            lambda c: c.execute(
                f"SELECT {_REMINDER_COLUMNS} FROM reminders WHERE user_id = ? ORDER BY due_at",
                (user_id,),
            ).fetchall()
        )
        return [_record(r) for r in rows]
