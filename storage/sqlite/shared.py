"""What the SQLite aggregates share: the connection and its three ways of running an
operation, the column lists, rows made into models, and the statements several use.

Each public operation is one function given a connection (``storage.sqlite.db.Database``):
every write, and the reads of one session or user, run right on the event loop, without a
hand-off to another thread (writes share one commit per turn of the loop); reads of many rows
(a user's history, /stats, an export) run on aiosqlite's thread, which never writes. Inline,
an operation runs to its end without yielding, so no operation sees another's half-done work.
Every state change of a session is a conditional UPDATE (``WHERE ended_at IS NULL`` ...), so a
stale button, a race between a handler and the dispatcher, or a retry after a restart changes
nothing.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from nudges.policy import SlotKind
from storage.models import (
    DeliveryRecord,
    EndedBy,
    Outcome,
    Reschedule,
    Session,
    from_ms,
    to_ms,
)
from storage.sqlite.db import Database

__all__ = ["Aggregate"]

T = TypeVar("T")

_SESSION_COLUMNS = (
    "id, user_id, chat_id, label, planned_minutes, block_minutes, break_minutes, checkins, "
    "time_scale, started_at, planned_end_at, paused_at, paused_ms, ended_at, focused_ms, "
    "breaks_taken, outcome, late_summary, interruptions, score, scored_at, next_due_at, "
    "card_message_id, version, owner_name, start_energy, checkin_minutes, "
    "settled_blocks, note, ended_by, cancelled"
)
_DELIVERY_COLUMNS = (
    "session_id, slot, kind, status, due_at, at, message_id, reason, "
    "answer, answer_reason, answered_at, answer_active_ms"
)


class Aggregate:
    """The base of each aggregate: the process's connection, and how an operation runs."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A write: ``fn`` is atomic (its own savepoint of the turn's transaction, see
        ``Database.run``) and this returns once it is committed."""
        return await self._db.run(fn)

    async def _look(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A short read: inline, without the write lock."""
        return await self._db.run(fn, write=False)

    async def _run_in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """For operations that may take long (many rows): off the event loop."""
        return await self._db.run_in_thread(fn)

    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        """One statement, written (``_run``); the number of rows it changed."""

        def op(c: sqlite3.Connection) -> int:
            return c.execute(sql, params).rowcount

        return await self._run(op)


def _opt_ms(value: datetime | None) -> int | None:
    return None if value is None else to_ms(value)


def _ceil_ms(value: datetime | None) -> int | None:
    """A due time rounded *up* to the millisecond: rounded down, a session would be due a
    few microseconds before the policy agrees, and the dispatcher would spin on it."""
    return None if value is None else math.ceil(value.timestamp() * 1000)


def _opt_dt(value: int | None) -> datetime | None:
    return None if value is None else from_ms(value)


def _session(row: Sequence[Any]) -> Session:
    return Session(
        id=row[0],
        user_id=row[1],
        chat_id=row[2],
        label=row[3],
        planned_minutes=row[4],
        block_minutes=row[5],
        break_minutes=row[6],
        checkins=bool(row[7]),
        time_scale=row[8],
        started_at=from_ms(row[9]),
        planned_end_at=_opt_dt(row[10]),
        paused_at=_opt_dt(row[11]),
        paused=timedelta(milliseconds=row[12]),
        ended_at=_opt_dt(row[13]),
        focused=None if row[14] is None else timedelta(milliseconds=row[14]),
        breaks_taken=row[15],
        outcome=None if row[16] is None else Outcome(row[16]),
        late_summary=bool(row[17]),
        interruptions=row[18],
        score=row[19],
        scored_at=_opt_dt(row[20]),
        next_due_at=_opt_dt(row[21]),
        card_message_id=row[22],
        version=row[23],
        owner_name=row[24],
        start_energy=row[25],
        checkin_minutes=row[26],
        settled_blocks=_blocks(row[27]),
        note=row[28],
        ended_by=None if row[29] is None else EndedBy(row[29]),
        cancelled=bool(row[30]),
    )


def _blocks(value: str | None) -> tuple[int, ...]:
    """``settled_blocks`` as stored ("25,25") back to minutes."""
    return () if not value else tuple(int(part) for part in value.split(","))


def _delivery(row: Sequence[Any]) -> DeliveryRecord:
    return DeliveryRecord(
        session_id=row[0],
        slot=row[1],
        kind=row[2],
        status=row[3],
        due_at=from_ms(row[4]),
        at=from_ms(row[5]),
        message_id=row[6],
        reason=row[7],
        answer=row[8],
        answer_reason=row[9],
        answered_at=_opt_dt(row[10]),
        answer_active=None if row[11] is None else timedelta(milliseconds=row[11]),
    )


# --- statements shared by several operations ------------------------------------------------


def _one(c: sqlite3.Connection, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
    row = c.execute(sql, params).fetchone()
    return row


def _event(
    c: sqlite3.Connection, session_id: int, kind: str, at: datetime, detail: str | None = None
) -> None:
    c.execute(
        "INSERT INTO events (session_id, kind, at, detail) VALUES (?, ?, ?, ?)",
        (session_id, kind, to_ms(at), detail),
    )


def _fetch_session(c: sqlite3.Connection, session_id: int) -> Session | None:
    row = _one(c, f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
    return None if row is None else _session(row)


def _insert_user(c: sqlite3.Connection, user_id: int, now: datetime) -> None:
    c.execute(
        "INSERT INTO users (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
        (user_id, to_ms(now)),
    )


def _fetch_deliveries(c: sqlite3.Connection, session_id: int) -> list[DeliveryRecord]:
    rows = c.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE session_id = ?", (session_id,)
    ).fetchall()
    return [_delivery(r) for r in rows]


def _reschedule(c: sqlite3.Connection, session_id: int, plan: Reschedule) -> bool:
    version, planned_end_at, next_due_at = plan
    cursor = c.execute(
        "UPDATE sessions SET planned_end_at = ?, next_due_at = ? "
        "WHERE id = ? AND ended_at IS NULL AND version = ?",
        (_opt_ms(planned_end_at), _ceil_ms(next_due_at), session_id, version),
    )
    return cursor.rowcount == 1


def _drop(
    c: sqlite3.Connection,
    session_id: int,
    slot: str,
    kind: SlotKind,
    due_at: datetime,
    now: datetime,
    reason: str,
) -> None:
    cursor = c.execute(
        "INSERT INTO deliveries (session_id, slot, kind, status, due_at, at, reason) "
        "VALUES (?, ?, ?, 'dropped', ?, ?, ?) ON CONFLICT (session_id, slot) DO UPDATE "
        "SET status = 'dropped', at = excluded.at, reason = excluded.reason "
        "WHERE status IN ('sending', 'pending')",
        (session_id, slot, kind, to_ms(due_at), to_ms(now), reason),
    )
    if cursor.rowcount == 1:  # not when the slot had already been sent
        _event(c, session_id, "skipped", now, f"{slot}: {reason}")
