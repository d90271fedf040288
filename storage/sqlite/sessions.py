"""Sessions in SQLite: the start, every change of the plan (pause, resume, extend, the
dispatcher's reschedule), the end with its queued summary, and the score.

Every change is a conditional UPDATE (on the session running, unpaused, at a ``version``): a
stale button, a race between a handler and the dispatcher, or a retry changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from nudges.policy import SlotKind
from storage.models import (
    SUMMARY_SLOT,
    ActiveSessionExists,
    DeliveryRecord,
    EndedBy,
    Outcome,
    Session,
    to_ms,
)
from storage.ports import SessionStore
from storage.sqlite.shared import (
    _SESSION_COLUMNS,
    Aggregate,
    _ceil_ms,
    _drop,
    _event,
    _fetch_deliveries,
    _fetch_session,
    _insert_user,
    _one,
    _opt_ms,
    _reschedule,
    _session,
)

__all__ = ["SqliteSessions"]


class SqliteSessions(Aggregate, SessionStore):
    """Reads and writes of sessions (and the events and summary their changes record)."""

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
        checkin_minutes: int | None = None,
    ) -> Session:
        """Insert a running session; raise ActiveSessionExists if one is running in the chat."""

        def op(c: sqlite3.Connection) -> Session | None:
            _insert_user(c, user_id, now)
            cursor = c.execute(
                "INSERT INTO sessions (user_id, chat_id, label, planned_minutes, "
                "block_minutes, break_minutes, checkins, time_scale, started_at, "
                "planned_end_at, next_due_at, owner_name, checkin_minutes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    checkin_minutes,
                ),
            )
            session_id = cursor.lastrowid
            assert session_id is not None  # noqa: S101 - an INSERT always has one
            _event(c, session_id, "started", now, f"{planned_minutes} min")
            return _fetch_session(c, session_id)

        try:
            session = await self._run(op)
        except sqlite3.IntegrityError as error:
            if "sessions.user_id, sessions.chat_id" not in str(error):
                raise
            running = await self.active_session(user_id, chat_id)
            raise ActiveSessionExists(running.id if running else 0) from error
        assert session is not None  # noqa: S101
        return session

    async def get_session(self, session_id: int) -> Session | None:
        """One session by id."""
        return await self._look(lambda c: _fetch_session(c, session_id))

    async def session_and_deliveries(
        self, session_id: int
    ) -> tuple[Session | None, list[DeliveryRecord]]:
        """One session and every delivery decision recorded for it, read together."""

        def op(c: sqlite3.Connection) -> tuple[Session | None, list[DeliveryRecord]]:
            session = _fetch_session(c, session_id)
            return session, [] if session is None else _fetch_deliveries(c, session_id)

        return await self._look(op)

    async def active_session_and_deliveries(
        self, user_id: int, chat_id: int
    ) -> tuple[Session | None, list[DeliveryRecord]]:
        """The user's running session in this chat and its deliveries, read together."""

        def op(c: sqlite3.Connection) -> tuple[Session | None, list[DeliveryRecord]]:
            row = _one(
                c,
                f"SELECT {_SESSION_COLUMNS} FROM sessions "
                "WHERE user_id = ? AND chat_id = ? AND ended_at IS NULL",
                (user_id, chat_id),
            )
            if row is None:
                return None, []
            return _session(row), _fetch_deliveries(c, row[0])

        return await self._look(op)

    async def active_session(self, user_id: int, chat_id: int) -> Session | None:
        """The user's running (or paused) session in this chat."""
        row = await self._look(
            lambda c: _one(
                c,
                f"SELECT {_SESSION_COLUMNS} FROM sessions "
                "WHERE user_id = ? AND chat_id = ? AND ended_at IS NULL",
                (user_id, chat_id),
            )
        )
        return None if row is None else _session(row)

    async def set_card(self, session_id: int, message_id: int) -> None:
        """Remember the start card's message, to edit its buttons later."""
        await self._write(
            "UPDATE sessions SET card_message_id = ? WHERE id = ?", (message_id, session_id)
        )

    async def pause(self, session_id: int, now: datetime, next_due_at: datetime) -> Session | None:
        """Pause a running, unpaused session; counts one interruption. The paused session, or
        None if not applicable."""

        def op(c: sqlite3.Connection) -> Session | None:
            cursor = c.execute(
                "UPDATE sessions SET paused_at = ?, planned_end_at = NULL, next_due_at = ?, "
                "interruptions = interruptions + 1, version = version + 1 "
                "WHERE id = ? AND ended_at IS NULL AND paused_at IS NULL",
                (to_ms(now), _ceil_ms(next_due_at), session_id),
            )
            if cursor.rowcount != 1:
                return None
            _event(c, session_id, "paused", now)
            _event(c, session_id, "interruption", now, "pause")
            return _fetch_session(c, session_id)

        return await self._run(op)

    async def resume(
        self, session: Session, now: datetime, planned_end_at: datetime, next_due_at: datetime
    ) -> Session | None:
        """Resume a paused session, adding the pause's length: the resumed session, or None if
        it was not paused."""
        assert session.paused_at is not None  # noqa: S101 - callers check
        paused_at = to_ms(session.paused_at)
        pause_ms = max(0, to_ms(now) - paused_at)

        def op(c: sqlite3.Connection) -> Session | None:
            cursor = c.execute(
                "UPDATE sessions SET paused_at = NULL, paused_ms = paused_ms + ?, "
                "planned_end_at = ?, next_due_at = ?, version = version + 1 "
                "WHERE id = ? AND ended_at IS NULL AND paused_at = ?",
                (pause_ms, to_ms(planned_end_at), _ceil_ms(next_due_at), session.id, paused_at),
            )
            if cursor.rowcount != 1:
                return None
            _event(c, session.id, "resumed", now, f"{pause_ms} ms")
            return _fetch_session(c, session.id)

        return await self._run(op)

    async def extend(
        self,
        session_id: int,
        minutes: int,
        now: datetime,
        planned_end_at: datetime | None,
        next_due_at: datetime,
        *,
        drops: Sequence[tuple[str, SlotKind, datetime, str]] = (),
        settled_blocks: Sequence[int] = (),
    ) -> Session | None:
        """Add ``minutes`` of planned focus to a running session; ``drops`` are (slot, kind,
        due, reason) of messages the longer plan puts in the past, recorded as not sent;
        ``settled_blocks`` the lengths of the blocks behind, which the longer plan keeps.
        The longer session, or None if it was not running."""

        def op(c: sqlite3.Connection) -> Session | None:
            cursor = c.execute(
                "UPDATE sessions SET planned_minutes = planned_minutes + ?, "
                "planned_end_at = ?, next_due_at = ?, version = version + 1, "
                "settled_blocks = ? WHERE id = ? AND ended_at IS NULL",
                (
                    minutes,
                    _opt_ms(planned_end_at),
                    _ceil_ms(next_due_at),
                    ",".join(str(m) for m in settled_blocks) or None,
                    session_id,
                ),
            )
            if cursor.rowcount != 1:
                return None
            for slot, kind, due_at, reason in drops:
                _drop(c, session_id, slot, kind, due_at, now, reason)
            _event(c, session_id, "extended", now, f"+{minutes} min")
            return _fetch_session(c, session_id)

        return await self._run(op)

    async def replan(
        self,
        session_id: int,
        minutes: int,
        now: datetime,
        planned_end_at: datetime,
        next_due_at: datetime,
    ) -> Session | None:
        """Give a running session that nothing was sent for yet another planned length (the
        start card's suggested length); None if it was not running or something was sent."""

        def op(c: sqlite3.Connection) -> Session | None:
            cursor = c.execute(
                "UPDATE sessions SET planned_minutes = ?, planned_end_at = ?, next_due_at = ?, "
                "version = version + 1 WHERE id = ? AND ended_at IS NULL AND paused_at IS NULL "
                "AND settled_blocks IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM deliveries WHERE session_id = ?)",
                (minutes, to_ms(planned_end_at), _ceil_ms(next_due_at), session_id, session_id),
            )
            if cursor.rowcount != 1:
                return None
            _event(c, session_id, "extended", now, f"planned {minutes} min")
            return _fetch_session(c, session_id)

        return await self._run(op)

    async def reschedule(
        self,
        session_id: int,
        version: int,
        planned_end_at: datetime | None,
        next_due_at: datetime | None,
    ) -> bool:
        """Store when to look at a session again, if it is still at ``version``."""

        def op(c: sqlite3.Connection) -> bool:
            return _reschedule(c, session_id, (version, planned_end_at, next_due_at))

        return await self._run(op)

    async def defer(self, session_id: int, until: datetime) -> None:
        """Look at a running session again no sooner than ``until`` (after an error)."""
        await self._write(
            "UPDATE sessions SET next_due_at = max(coalesce(next_due_at, 0), ?) "
            "WHERE id = ? AND ended_at IS NULL",
            (to_ms(until), session_id),
        )

    async def add_interruption(self, session_id: int, now: datetime, detail: str) -> bool:
        """Count one interruption on a running session, once per ``detail`` (a repeated tap
        on the same button counts once)."""

        def op(c: sqlite3.Connection) -> bool:
            seen = _one(
                c,
                "SELECT 1 FROM events WHERE session_id = ? AND kind = 'interruption' "
                "AND detail = ?",
                (session_id, detail),
            )
            if seen is not None:
                return False
            cursor = c.execute(
                "UPDATE sessions SET interruptions = interruptions + 1 "
                "WHERE id = ? AND ended_at IS NULL",
                (session_id,),
            )
            if cursor.rowcount != 1:
                return False
            _event(c, session_id, "interruption", now, detail)
            return True

        return await self._run(op)

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
        ended_by: EndedBy | None = None,
        cancelled: bool = False,
    ) -> Session | None:
        """End a running session and queue its one summary. None if it had already ended,
        or, when ``version`` is given, if it changed since (a stale decision).

        ``summary``: a reason not to send one (the chat is gone); it is recorded as dropped.
        ``ended_by``: who or what ended it, for the summary to say.
        ``cancelled``: a stray session (``STRAY_SESSION_MINUTES``), flagged and logged.
        """

        def op(c: sqlite3.Connection) -> Session | None:
            cursor = c.execute(
                "UPDATE sessions SET ended_at = ?, focused_ms = ?, breaks_taken = ?, "
                "outcome = ?, late_summary = ?, paused_at = NULL, next_due_at = NULL, "
                "ended_by = ?, cancelled = ? "
                "WHERE id = ? AND ended_at IS NULL AND (? IS NULL OR version = ?)",
                (
                    to_ms(ended_at),
                    round(focused.total_seconds() * 1000),
                    breaks_taken,
                    outcome.value,
                    int(late),
                    None if ended_by is None else ended_by.value,
                    int(cancelled),
                    session_id,
                    version,
                    version,
                ),
            )
            if cursor.rowcount != 1:
                return None
            _event(c, session_id, "ended", ended_at, outcome.value)
            if cancelled:
                _event(c, session_id, "cancelled", ended_at, "stray")
            c.execute(
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
            return _fetch_session(c, session_id)

        return await self._run(op)

    async def set_score(
        self, session_id: int, user_id: int, score: int, now: datetime
    ) -> tuple[bool, int | None]:
        """Score an ended session of this user: (done, previous score)."""

        def op(c: sqlite3.Connection) -> tuple[bool, int | None]:
            row = _one(
                c,
                "SELECT score FROM sessions WHERE id = ? AND user_id = ? AND ended_at IS NOT NULL",
                (session_id, user_id),
            )
            if row is None:
                return False, None
            c.execute(
                "UPDATE sessions SET score = ?, scored_at = ? WHERE id = ?",
                (score, to_ms(now), session_id),
            )
            _event(c, session_id, "score", now, str(score))
            previous: int | None = row[0]
            return True, previous

        return await self._run(op)

    async def scorable_session(self, user_id: int, chat_id: int, since: datetime) -> Session | None:
        """The latest unscored session ended since ``since``; else the latest scored one."""
        row = await self._look(
            lambda c: _one(
                c,
                f"SELECT {_SESSION_COLUMNS} FROM sessions "
                "WHERE user_id = ? AND chat_id = ? AND ended_at >= ? AND cancelled = 0 "
                "ORDER BY score IS NULL DESC, ended_at DESC, id DESC LIMIT 1",
                (user_id, chat_id, to_ms(since)),
            )
        )
        return None if row is None else _session(row)

    async def running_in_chat(self, chat_id: int) -> list[int]:
        """Ids of the running sessions in a chat (everyone's, in a group)."""
        return await self._running_ids("chat_id", chat_id)

    async def running_session_ids(self, user_id: int) -> list[int]:
        """Ids of the user's running sessions, in every chat."""
        return await self._running_ids("user_id", user_id)

    async def _running_ids(self, column: Literal["chat_id", "user_id"], value: int) -> list[int]:
        rows = await self._look(
            lambda c: c.execute(
                f"SELECT id FROM sessions WHERE {column} = ? AND ended_at IS NULL", (value,)
            ).fetchall()
        )
        return [r[0] for r in rows]

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> int:
        """A group became a supergroup: its sessions and note targets follow to the new id.

        ``OR IGNORE``: a row that would collide with one already in the new chat (a running
        session of the same person there, a note target of the same message) stays behind,
        rather than the move failing; the version is not bumped (the plan did not change).
        """

        def op(c: sqlite3.Connection) -> int:
            moved = c.execute(
                "UPDATE OR IGNORE sessions SET chat_id = ? WHERE chat_id = ?",
                (new_chat_id, old_chat_id),
            ).rowcount
            c.execute(
                "UPDATE OR IGNORE note_targets SET chat_id = ? WHERE chat_id = ?",
                (new_chat_id, old_chat_id),
            )
            return moved

        return await self._run(op)
