"""The repository: every SQL statement of the bot, returning frozen models.

One connection is shared by every coroutine of the process, so each operation runs under one
asyncio lock: a transaction is never interleaved with another coroutine's statements. Every
state change of a session is a conditional UPDATE (``WHERE ended_at IS NULL`` ...), so a stale
button, a race between a handler and the dispatcher, or a retry after a restart changes nothing.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Literal

import aiosqlite

from storage.models import (
    ActiveSessionExists,
    DeliveryRecord,
    Event,
    Outcome,
    Session,
    SessionFact,
    User,
    from_ms,
    to_ms,
)

__all__ = ["SUMMARY_SLOT", "Repository"]

SUMMARY_SLOT = "summary"
_EVENT_OF_KIND = {"checkin": "nudge", "break": "break", "back": "back", "summary": "summary"}

_SESSION_COLUMNS = (
    "id, user_id, chat_id, label, planned_minutes, block_minutes, break_minutes, checkins, "
    "time_scale, started_at, planned_end_at, paused_at, paused_ms, ended_at, focused_ms, "
    "breaks_taken, outcome, late_summary, interruptions, score, scored_at, next_due_at, "
    "card_message_id, version, owner_name"
)


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
    )


_USER_COLUMNS = "id, timezone, created_at, default_minutes, block_minutes, break_minutes, quiet"
USER_SETTINGS = frozenset(
    {"timezone", "default_minutes", "block_minutes", "break_minutes", "quiet"}
)


def _user(row: Sequence[Any]) -> User:
    return User(
        id=row[0],
        timezone=row[1],
        created_at=from_ms(row[2]),
        default_minutes=row[3],
        block_minutes=row[4],
        break_minutes=row[5],
        quiet=bool(row[6]),
    )


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
    )


class Repository:
    """All reads and writes of users, sessions, deliveries and events."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()

    @property
    def connection(self) -> aiosqlite.Connection:
        """The underlying connection (for closing, and for tests that inspect the file)."""
        return self._db

    async def close(self) -> None:
        """Close the connection, waiting for any operation in flight."""
        async with self._lock:
            await self._db.close()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction, exclusive among this process's coroutines."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.rollback()
                raise
            await self._db.commit()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            yield self._db

    async def _event(
        self,
        db: aiosqlite.Connection,
        session_id: int,
        kind: str,
        at: datetime,
        detail: str | None = None,
    ) -> None:
        await db.execute(
            "INSERT INTO events (session_id, kind, at, detail) VALUES (?, ?, ?, ?)",
            (session_id, kind, to_ms(at), detail),
        )

    async def _fetch_session(self, db: aiosqlite.Connection, session_id: int) -> Session | None:
        async with db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?",
            (session_id,),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _session(row)

    # --- users ------------------------------------------------------------------------------

    async def ensure_user(self, user_id: int, now: datetime) -> User:
        """The user, created on first contact."""
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO users (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                (user_id, to_ms(now)),
            )
            async with db.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)
            ) as cursor:
                row = await cursor.fetchone()
        assert row is not None  # noqa: S101 - inserted just above in the same transaction
        return _user(row)

    async def get_user(self, user_id: int) -> User | None:
        """The user, if known."""
        async with (
            self._read() as db,
            db.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else _user(row)

    async def update_user(self, user_id: int, now: datetime, **settings: object) -> User:
        """Change some of a user's settings (``timezone``, ``default_minutes``, ...)."""
        unknown = set(settings) - USER_SETTINGS
        if unknown or not settings:
            raise ValueError(f"not user settings: {sorted(unknown) or 'none given'}")
        names = sorted(settings)  # from the fixed set above: safe to interpolate
        assignments = ", ".join(f"{name} = ?" for name in names)
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO users (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                (user_id, to_ms(now)),
            )
            await db.execute(
                f"UPDATE users SET {assignments} WHERE id = ?",
                (*(settings[n] for n in names), user_id),
            )
            async with db.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)
            ) as cursor:
                row = await cursor.fetchone()
        assert row is not None  # noqa: S101 - upserted just above
        return _user(row)

    async def delete_user(self, user_id: int) -> int:
        """Erase everything stored about a user in one transaction; returns sessions erased.

        Sessions, deliveries and events go with the user row (ON DELETE CASCADE); a running
        session disappears with them, so the dispatcher has nothing left to send.
        """
        async with self._tx() as db:
            async with db.execute(
                "SELECT count(*) FROM sessions WHERE user_id = ?", (user_id,)
            ) as cursor:
                row = await cursor.fetchone()
            await db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            await db.execute("DELETE FROM users WHERE id = ?", (user_id,))
        return int(row[0]) if row else 0

    # --- sessions ---------------------------------------------------------------------------

    async def start_session(
        self,
        *,
        user_id: int,
        chat_id: int,
        label: str | None,
        planned_minutes: int,
        block_minutes: int,
        break_minutes: int,
        checkins: bool,
        time_scale: float,
        now: datetime,
        planned_end_at: datetime,
        next_due_at: datetime,
        owner_name: str | None = None,
    ) -> Session:
        """Insert a running session; raise ActiveSessionExists if one is running in the chat."""
        try:
            async with self._tx() as db:
                await db.execute(
                    "INSERT INTO users (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                    (user_id, to_ms(now)),
                )
                cursor = await db.execute(
                    "INSERT INTO sessions (user_id, chat_id, label, planned_minutes, "
                    "block_minutes, break_minutes, checkins, time_scale, started_at, "
                    "planned_end_at, next_due_at, owner_name) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        user_id,
                        chat_id,
                        label,
                        planned_minutes,
                        block_minutes,
                        break_minutes,
                        int(checkins),
                        time_scale,
                        to_ms(now),
                        to_ms(planned_end_at),
                        _ceil_ms(next_due_at),
                        owner_name[:64] if owner_name else None,
                    ),
                )
                session_id = cursor.lastrowid
                assert session_id is not None  # noqa: S101 - an INSERT always has one
                await self._event(db, session_id, "started", now, f"{planned_minutes} min")
                session = await self._fetch_session(db, session_id)
        except sqlite3.IntegrityError as error:
            if "sessions.user_id, sessions.chat_id" not in str(error):
                raise
            running = await self.active_session(user_id, chat_id)
            raise ActiveSessionExists(running.id if running else 0) from error
        assert session is not None  # noqa: S101
        return session

    async def get_session(self, session_id: int) -> Session | None:
        """One session by id."""
        async with self._read() as db:
            return await self._fetch_session(db, session_id)

    async def active_session(self, user_id: int, chat_id: int) -> Session | None:
        """The user's running (or paused) session in this chat."""
        async with (
            self._read() as db,
            db.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions "
                "WHERE user_id = ? AND chat_id = ? AND ended_at IS NULL",
                (user_id, chat_id),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else _session(row)

    async def set_card(self, session_id: int, message_id: int) -> None:
        """Remember the start card's message, to edit its buttons later."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE sessions SET card_message_id = ? WHERE id = ?", (message_id, session_id)
            )

    async def pause(self, session_id: int, now: datetime, next_due_at: datetime) -> bool:
        """Pause a running, unpaused session; counts one interruption. False if not applicable."""
        async with self._tx() as db:
            cursor = await db.execute(
                "UPDATE sessions SET paused_at = ?, planned_end_at = NULL, next_due_at = ?, "
                "interruptions = interruptions + 1, version = version + 1 "
                "WHERE id = ? AND ended_at IS NULL AND paused_at IS NULL",
                (to_ms(now), _ceil_ms(next_due_at), session_id),
            )
            if cursor.rowcount != 1:
                return False
            await self._event(db, session_id, "paused", now)
            await self._event(db, session_id, "interruption", now, "pause")
        return True

    async def resume(
        self, session: Session, now: datetime, planned_end_at: datetime, next_due_at: datetime
    ) -> bool:
        """Resume a paused session, adding the pause's length. False if it was not paused."""
        assert session.paused_at is not None  # noqa: S101 - callers check
        pause_ms = max(0, to_ms(now) - to_ms(session.paused_at))
        async with self._tx() as db:
            cursor = await db.execute(
                "UPDATE sessions SET paused_at = NULL, paused_ms = paused_ms + ?, "
                "planned_end_at = ?, next_due_at = ?, version = version + 1 "
                "WHERE id = ? AND ended_at IS NULL AND paused_at = ?",
                (
                    pause_ms,
                    to_ms(planned_end_at),
                    _ceil_ms(next_due_at),
                    session.id,
                    to_ms(session.paused_at),
                ),
            )
            if cursor.rowcount != 1:
                return False
            await self._event(db, session.id, "resumed", now, f"{pause_ms} ms")
        return True

    async def extend(
        self,
        session_id: int,
        minutes: int,
        now: datetime,
        planned_end_at: datetime | None,
        next_due_at: datetime,
    ) -> bool:
        """Add ``minutes`` of planned focus to a running session."""
        async with self._tx() as db:
            cursor = await db.execute(
                "UPDATE sessions SET planned_minutes = planned_minutes + ?, "
                "planned_end_at = ?, next_due_at = ?, version = version + 1 "
                "WHERE id = ? AND ended_at IS NULL",
                (minutes, _opt_ms(planned_end_at), _ceil_ms(next_due_at), session_id),
            )
            if cursor.rowcount != 1:
                return False
            await self._event(db, session_id, "extended", now, f"+{minutes} min")
        return True

    async def reschedule(
        self,
        session_id: int,
        version: int,
        planned_end_at: datetime | None,
        next_due_at: datetime | None,
    ) -> bool:
        """Store when to look at a session again, if it is still at ``version``."""
        async with self._tx() as db:
            cursor = await db.execute(
                "UPDATE sessions SET planned_end_at = ?, next_due_at = ? "
                "WHERE id = ? AND ended_at IS NULL AND version = ?",
                (_opt_ms(planned_end_at), _ceil_ms(next_due_at), session_id, version),
            )
            return cursor.rowcount == 1

    async def defer(self, session_id: int, until: datetime) -> None:
        """Look at a running session again no sooner than ``until`` (after an error)."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE sessions SET next_due_at = max(coalesce(next_due_at, 0), ?) "
                "WHERE id = ? AND ended_at IS NULL",
                (to_ms(until), session_id),
            )

    async def add_interruption(self, session_id: int, now: datetime, detail: str) -> bool:
        """Count one interruption on a running session, once per ``detail`` (a repeated tap
        on the same button counts once)."""
        async with self._tx() as db:
            async with db.execute(
                "SELECT 1 FROM events WHERE session_id = ? AND kind = 'interruption' "
                "AND detail = ?",
                (session_id, detail),
            ) as cursor:
                if await cursor.fetchone() is not None:
                    return False
            cursor = await db.execute(
                "UPDATE sessions SET interruptions = interruptions + 1 "
                "WHERE id = ? AND ended_at IS NULL",
                (session_id,),
            )
            if cursor.rowcount != 1:
                return False
            await self._event(db, session_id, "interruption", now, detail)
        return True

    async def end_session(
        self,
        session_id: int,
        *,
        ended_at: datetime,
        focused: timedelta,
        breaks_taken: int,
        outcome: Outcome,
        late: bool,
        now: datetime,
        version: int | None = None,
        summary: str | None = None,
    ) -> Session | None:
        """End a running session and queue its one summary. None if it had already ended,
        or, when ``version`` is given, if it changed since (a stale decision).

        ``summary``: a reason not to send one (the chat is gone); it is recorded as dropped.
        """
        async with self._tx() as db:
            cursor = await db.execute(
                "UPDATE sessions SET ended_at = ?, focused_ms = ?, breaks_taken = ?, "
                "outcome = ?, late_summary = ?, paused_at = NULL, next_due_at = NULL "
                "WHERE id = ? AND ended_at IS NULL AND (? IS NULL OR version = ?)",
                (
                    to_ms(ended_at),
                    round(focused.total_seconds() * 1000),
                    breaks_taken,
                    outcome.value,
                    int(late),
                    session_id,
                    version,
                    version,
                ),
            )
            if cursor.rowcount != 1:
                return None
            await self._event(db, session_id, "ended", ended_at, outcome.value)
            await db.execute(
                "INSERT INTO deliveries (session_id, slot, kind, status, due_at, at, reason) "
                "VALUES (?, ?, 'summary', ?, ?, ?, ?)",
                (
                    session_id,
                    SUMMARY_SLOT,
                    "pending" if summary is None else "dropped",
                    to_ms(ended_at),
                    to_ms(now),
                    summary,
                ),
            )
            return await self._fetch_session(db, session_id)

    async def set_score(
        self, session_id: int, user_id: int, score: int, now: datetime
    ) -> tuple[bool, int | None]:
        """Score an ended session of this user: (done, previous score)."""
        async with self._tx() as db:
            async with db.execute(
                "SELECT score FROM sessions WHERE id = ? AND user_id = ? AND ended_at IS NOT NULL",
                (session_id, user_id),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return False, None
            await db.execute(
                "UPDATE sessions SET score = ?, scored_at = ? WHERE id = ?",
                (score, to_ms(now), session_id),
            )
            await self._event(db, session_id, "score", now, str(score))
        previous: int | None = row[0]
        return True, previous

    async def scorable_session(self, user_id: int, chat_id: int, since: datetime) -> Session | None:
        """The latest unscored session ended since ``since``; else the latest scored one."""
        async with (
            self._read() as db,
            db.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions "
                "WHERE user_id = ? AND chat_id = ? AND ended_at >= ? "
                "ORDER BY score IS NULL DESC, ended_at DESC, id DESC LIMIT 1",
                (user_id, chat_id, to_ms(since)),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else _session(row)

    async def earlier_focus(self, user_id: int, before_session_id: int) -> tuple[int, float]:
        """(count, average focused ms) of the user's ended sessions before this one."""
        async with (
            self._read() as db,
            db.execute(
                "SELECT count(*), avg(focused_ms * time_scale) FROM sessions "
                "WHERE user_id = ? AND id < ? AND ended_at IS NOT NULL",
                (user_id, before_session_id),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        assert row is not None  # noqa: S101 - an aggregate always returns a row
        return int(row[0]), float(row[1] or 0.0)

    async def completed_starts(self, user_id: int, since: datetime) -> list[datetime]:
        """Start times of the user's completed sessions since ``since``, newest first."""
        async with (
            self._read() as db,
            db.execute(
                "SELECT started_at FROM sessions WHERE user_id = ? AND outcome = 'completed' "
                "AND started_at >= ? ORDER BY started_at DESC",
                (user_id, to_ms(since)),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [from_ms(r[0]) for r in rows]

    async def session_facts(
        self, user_id: int, since: datetime | None, until: datetime
    ) -> list[SessionFact]:
        """The user's ended sessions started in [since, until), oldest first."""
        async with (
            self._read() as db,
            db.execute(
                "SELECT started_at, ended_at, planned_minutes, focused_ms * time_scale, "
                "outcome, interruptions, score, label IS NOT NULL FROM sessions "
                "WHERE user_id = ? AND started_at >= ? AND started_at < ? "
                "AND ended_at IS NOT NULL ORDER BY started_at",
                (user_id, 0 if since is None else to_ms(since), to_ms(until)),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [
            SessionFact(
                started_at=from_ms(r[0]),
                ended_at=from_ms(r[1]),
                planned_minutes=r[2],
                focused_minutes=(r[3] or 0) / 60000,
                completed=r[4] == Outcome.COMPLETED,
                interruptions=r[5],
                score=r[6],
                labelled=bool(r[7]),
            )
            for r in rows
        ]

    async def running_in_chat(self, chat_id: int) -> list[int]:
        """Ids of the running sessions in a chat (everyone's, in a group)."""
        return await self._running_ids("chat_id", chat_id)

    async def running_session_ids(self, user_id: int) -> list[int]:
        """Ids of the user's running sessions, in every chat."""
        return await self._running_ids("user_id", user_id)

    async def _running_ids(self, column: Literal["chat_id", "user_id"], value: int) -> list[int]:
        async with (
            self._read() as db,
            db.execute(
                f"SELECT id FROM sessions WHERE {column} = ? AND ended_at IS NULL", (value,)
            ) as cursor,
        ):
            return [r[0] for r in await cursor.fetchall()]

    async def history(self, user_id: int, offset: int, limit: int) -> tuple[list[Session], int]:
        """A page of the user's sessions, newest first, and how many there are in all."""
        async with self._read() as db:
            async with db.execute(
                "SELECT count(*) FROM sessions WHERE user_id = ?", (user_id,)
            ) as cursor:
                row = await cursor.fetchone()
            async with db.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE user_id = ? "
                "ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?",
                (user_id, limit, offset),
            ) as cursor:
                rows = await cursor.fetchall()
        return [_session(r) for r in rows], int(row[0]) if row else 0

    async def export_rows(self, user_id: int) -> tuple[list[Session], list[Event]]:
        """Every session of the user (oldest first) and every event of those sessions."""
        async with self._read() as db:
            async with db.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE user_id = ? "
                "ORDER BY started_at, id",
                (user_id,),
            ) as cursor:
                sessions = [_session(r) for r in await cursor.fetchall()]
            async with db.execute(
                "SELECT e.session_id, e.kind, e.at, e.detail FROM events e "
                "JOIN sessions s ON s.id = e.session_id WHERE s.user_id = ? "
                "ORDER BY e.session_id, e.at, e.id",
                (user_id,),
            ) as cursor:
                events = [
                    Event(session_id=r[0], kind=r[1], at=from_ms(r[2]), detail=r[3])
                    for r in await cursor.fetchall()
                ]
        return sessions, events

    # --- scheduling -------------------------------------------------------------------------

    async def due_sessions(self, now: datetime, limit: int) -> list[Session]:
        """Running sessions whose next look is due, soonest first."""
        async with (
            self._read() as db,
            db.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions "
                "WHERE next_due_at IS NOT NULL AND next_due_at <= ? ORDER BY next_due_at LIMIT ?",
                (to_ms(now), limit),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [_session(r) for r in rows]

    async def soonest_due(self) -> datetime | None:
        """The earliest time a running session, or a pending summary, must be looked at."""
        async with (
            self._read() as db,
            db.execute(
                "SELECT min(t) FROM ("
                "SELECT min(next_due_at) AS t FROM sessions WHERE next_due_at IS NOT NULL "
                "UNION ALL SELECT min(due_at) FROM deliveries WHERE status = 'pending')"
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None or row[0] is None else from_ms(row[0])

    async def deliveries(self, session_id: int) -> list[DeliveryRecord]:
        """Every recorded delivery decision of a session."""
        async with (
            self._read() as db,
            db.execute(
                "SELECT session_id, slot, kind, status, due_at, at, message_id, reason "
                "FROM deliveries WHERE session_id = ?",
                (session_id,),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [_delivery(r) for r in rows]

    async def claim(
        self,
        session_id: int,
        slot: str,
        kind: str,
        due_at: datetime,
        now: datetime,
        *,
        max_messages: int,
        min_gap: timedelta,
    ) -> bool:
        """Claim a proactive message before sending it; False if it may not go out.

        The guardrails are checked again here, against what is recorded, in the claim's own
        transaction: the session runs and is not paused, fewer than ``max_messages`` were
        claimed, the last one at least ``min_gap`` ago, and this slot was never recorded.
        A claim that is never confirmed (the process died mid-send) stays ``sending`` and
        counts as sent: a message is never sent twice, at the cost of one that may be missing.
        """
        async with self._tx() as db:
            async with db.execute(
                "SELECT 1 FROM sessions WHERE id = ? AND ended_at IS NULL AND paused_at IS NULL",
                (session_id,),
            ) as cursor:
                if await cursor.fetchone() is None:
                    return False
            async with db.execute(
                "SELECT count(*), max(at) FROM deliveries WHERE session_id = ? "
                "AND kind != 'summary' AND status IN ('sending', 'sent')",
                (session_id,),
            ) as cursor:
                used, last = await cursor.fetchone() or (0, None)
            if used >= max_messages:
                return False
            if last is not None and to_ms(now) - last < min_gap.total_seconds() * 1000:
                return False
            cursor = await db.execute(
                "INSERT INTO deliveries (session_id, slot, kind, status, due_at, at) "
                "VALUES (?, ?, ?, 'sending', ?, ?) ON CONFLICT DO NOTHING",
                (session_id, slot, kind, to_ms(due_at), to_ms(now)),
            )
            return cursor.rowcount == 1

    async def unclaim(self, session_id: int, slot: str) -> None:
        """Withdraw a claim whose send surely did not happen, so it can be tried again."""
        async with self._tx() as db:
            await db.execute(
                "DELETE FROM deliveries WHERE session_id = ? AND slot = ? AND status = 'sending'",
                (session_id, slot),
            )

    async def claim_summary(self, session_id: int, now: datetime) -> bool:
        """Move a pending summary to ``sending``; False if it is not pending."""
        async with self._tx() as db:
            cursor = await db.execute(
                "UPDATE deliveries SET status = 'sending', at = ? "
                "WHERE session_id = ? AND slot = ? AND status = 'pending'",
                (to_ms(now), session_id, SUMMARY_SLOT),
            )
            return cursor.rowcount == 1

    async def release_summary(self, session_id: int, now: datetime, retry_at: datetime) -> None:
        """Put a summary whose send failed for sure back to ``pending``, due at ``retry_at``."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE deliveries SET status = 'pending', at = ?, due_at = ? "
                "WHERE session_id = ? AND slot = ? AND status = 'sending'",
                (to_ms(now), _ceil_ms(retry_at), session_id, SUMMARY_SLOT),
            )

    async def confirm(
        self, session_id: int, slot: str, kind: str, message_id: int | None, now: datetime
    ) -> None:
        """Record that a claimed message was delivered, and log it as an event."""
        async with self._tx() as db:
            cursor = await db.execute(
                "UPDATE deliveries SET status = 'sent', at = ?, message_id = ? "
                "WHERE session_id = ? AND slot = ? AND status = 'sending'",
                (to_ms(now), message_id, session_id, slot),
            )
            if cursor.rowcount == 1:
                await self._event(db, session_id, _EVENT_OF_KIND[kind], now, slot)

    async def drop(
        self,
        session_id: int,
        slot: str,
        kind: str,
        due_at: datetime,
        now: datetime,
        reason: str,
    ) -> None:
        """Record a message as not sent (new, or a claim whose send failed for sure)."""
        async with self._tx() as db:
            cursor = await db.execute(
                "INSERT INTO deliveries (session_id, slot, kind, status, due_at, at, reason) "
                "VALUES (?, ?, ?, 'dropped', ?, ?, ?) ON CONFLICT (session_id, slot) DO UPDATE "
                "SET status = 'dropped', at = excluded.at, reason = excluded.reason "
                "WHERE status IN ('sending', 'pending')",
                (session_id, slot, kind, to_ms(due_at), to_ms(now), reason),
            )
            if cursor.rowcount == 1:  # not when the slot had already been sent
                await self._event(db, session_id, "skipped", now, f"{slot}: {reason}")

    async def pending_summaries(self, now: datetime, limit: int) -> list[int]:
        """Sessions whose summary is due to be sent (a retried one waits for its time)."""
        async with (
            self._read() as db,
            db.execute(
                "SELECT session_id FROM deliveries WHERE status = 'pending' AND slot = ? "
                "AND due_at <= ? ORDER BY due_at LIMIT ?",
                (SUMMARY_SLOT, to_ms(now), limit),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [r[0] for r in rows]

    async def events(self, session_id: int) -> list[Event]:
        """A session's event log, oldest first."""
        async with (
            self._read() as db,
            db.execute(
                "SELECT session_id, kind, at, detail FROM events WHERE session_id = ? "
                "ORDER BY at, id",
                (session_id,),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [Event(session_id=r[0], kind=r[1], at=from_ms(r[2]), detail=r[3]) for r in rows]

    async def integrity_check(self) -> str:
        """SQLite's own verdict on the file ('ok' when sound)."""
        async with self._read() as db, db.execute("PRAGMA integrity_check") as cursor:
            rows: Iterable[Any] = await cursor.fetchall()
        return ", ".join(str(r[0]) for r in rows)
