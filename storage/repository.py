"""The repository: every SQL statement of the bot, returning frozen models.

Each public operation is one function given a connection (``storage.db.Database``): every
write, and the reads of one session or user, run right on the event loop, without a hand-off
to another thread (writes share one commit per turn of the loop); reads of many rows (a user's
history, /stats, an export) run on aiosqlite's thread, which never writes. Inline, an
operation runs to its end without yielding, so no operation sees another's half-done work.
Every state change of a session is a conditional UPDATE (``WHERE ended_at IS NULL`` ...), so a stale
button, a race between a handler and the dispatcher, or a retry after a restart changes nothing.

Users are read far more often than they change (every command needs the timezone and the
defaults), so the repository keeps the users it has read, up to ``USER_CACHE`` of them, and
updates that copy with every write it makes: this process is the only writer of its file.
"""

from __future__ import annotations

import math
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from storage.db import Database
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

__all__ = ["SUMMARY_SLOT", "USER_CACHE", "Repository", "Reschedule"]

T = TypeVar("T")

SUMMARY_SLOT = "summary"
USER_CACHE = 10_000
"""Users kept in memory (about 0.5 KB each); the least recently used go first."""

_EVENT_OF_KIND = {"checkin": "nudge", "break": "break", "back": "back", "summary": "summary"}

_SESSION_COLUMNS = (
    "id, user_id, chat_id, label, planned_minutes, block_minutes, break_minutes, checkins, "
    "time_scale, started_at, planned_end_at, paused_at, paused_ms, ended_at, focused_ms, "
    "breaks_taken, outcome, late_summary, interruptions, score, scored_at, next_due_at, "
    "card_message_id, version, owner_name"
)
_DELIVERY_COLUMNS = "session_id, slot, kind, status, due_at, at, message_id, reason"

Reschedule = tuple[int, datetime | None, datetime | None]
"""(version the decision was made on, planned end, next time to look) — see ``confirm``."""


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


def _fetch_user(c: sqlite3.Connection, user_id: int) -> User | None:
    row = _one(c, f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
    return None if row is None else _user(row)


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
    kind: str,
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


def _still_at(c: sqlite3.Connection, session_id: int, version: int | None) -> bool:
    """Whether the session runs, unpaused, and (if given) still at ``version``."""
    row = _one(
        c,
        "SELECT 1 FROM sessions WHERE id = ? AND ended_at IS NULL AND paused_at IS NULL "
        "AND (? IS NULL OR version = ?)",
        (session_id, version, version),
    )
    return row is not None


class Repository:
    """All reads and writes of users, sessions, deliveries and events."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._users: OrderedDict[int, User] = OrderedDict()

    @property
    def connection(self) -> Database:
        """The underlying connection (for closing, and for tests that inspect the file)."""
        return self._db

    async def close(self) -> None:
        """Close the connection once the operations already queued have run."""
        await self._db.close()

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

    def _remember(self, user: User) -> User:
        self._users[user.id] = user
        self._users.move_to_end(user.id)
        if len(self._users) > USER_CACHE:
            self._users.popitem(last=False)
        return user

    # --- users ------------------------------------------------------------------------------

    async def ensure_user(self, user_id: int, now: datetime) -> User:
        """The user, created on first contact."""
        cached = self._users.get(user_id)
        if cached is not None:
            return cached

        def op(c: sqlite3.Connection) -> User | None:
            _insert_user(c, user_id, now)
            return _fetch_user(c, user_id)

        user = await self._run(op)
        assert user is not None  # noqa: S101 - inserted just above in the same transaction
        return self._remember(user)

    async def get_user(self, user_id: int) -> User | None:
        """The user, if known."""
        cached = self._users.get(user_id)
        if cached is not None:
            self._users.move_to_end(user_id)
            return cached
        user = await self._look(lambda c: _fetch_user(c, user_id))
        return None if user is None else self._remember(user)

    async def update_user(self, user_id: int, now: datetime, **settings: object) -> User:
        """Change some of a user's settings (``timezone``, ``default_minutes``, ...)."""
        unknown = set(settings) - USER_SETTINGS
        if unknown or not settings:
            raise ValueError(f"not user settings: {sorted(unknown) or 'none given'}")
        names = sorted(settings)  # from the fixed set above: safe to interpolate
        assignments = ", ".join(f"{name} = ?" for name in names)

        def op(c: sqlite3.Connection) -> User | None:
            _insert_user(c, user_id, now)
            c.execute(
                f"UPDATE users SET {assignments} WHERE id = ?",
                (*(settings[n] for n in names), user_id),
            )
            return _fetch_user(c, user_id)

        self._users.pop(user_id, None)  # whatever happens below, never serve the old one
        user = await self._run(op)
        assert user is not None  # noqa: S101 - upserted just above
        return self._remember(user)

    async def delete_user(self, user_id: int) -> int:
        """Erase everything stored about a user in one transaction; returns sessions erased.

        Sessions, deliveries and events go with the user row (ON DELETE CASCADE); a running
        session disappears with them, so the dispatcher has nothing left to send. Run inline,
        like every write: a write on aiosqlite's thread would hold the lock the loop's writes
        then wait for, with the loop blocked.
        """

        def op(c: sqlite3.Connection) -> int:
            (count,) = _one(c, "SELECT count(*) FROM sessions WHERE user_id = ?", (user_id,))
            c.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            c.execute("DELETE FROM users WHERE id = ?", (user_id,))
            return int(count)

        self._users.pop(user_id, None)
        erased = await self._run(op)
        self._users.pop(user_id, None)  # again: a read meanwhile may have kept it
        return erased

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

        def op(c: sqlite3.Connection) -> Session | None:
            _insert_user(c, user_id, now)
            cursor = c.execute(
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

    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        """One statement, written (``_run``); the number of rows it changed."""

        def op(c: sqlite3.Connection) -> int:
            return c.execute(sql, params).rowcount

        return await self._run(op)

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
        drops: Sequence[tuple[str, str, datetime, str]] = (),
    ) -> Session | None:
        """Add ``minutes`` of planned focus to a running session; ``drops`` are (slot, kind,
        due, reason) of messages the longer plan puts in the past, recorded as not sent.
        The longer session, or None if it was not running."""

        def op(c: sqlite3.Connection) -> Session | None:
            cursor = c.execute(
                "UPDATE sessions SET planned_minutes = planned_minutes + ?, "
                "planned_end_at = ?, next_due_at = ?, version = version + 1 "
                "WHERE id = ? AND ended_at IS NULL",
                (minutes, _opt_ms(planned_end_at), _ceil_ms(next_due_at), session_id),
            )
            if cursor.rowcount != 1:
                return None
            for slot, kind, due_at, reason in drops:
                _drop(c, session_id, slot, kind, due_at, now, reason)
            _event(c, session_id, "extended", now, f"+{minutes} min")
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
    ) -> Session | None:
        """End a running session and queue its one summary. None if it had already ended,
        or, when ``version`` is given, if it changed since (a stale decision).

        ``summary``: a reason not to send one (the chat is gone); it is recorded as dropped.
        """

        def op(c: sqlite3.Connection) -> Session | None:
            cursor = c.execute(
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
            _event(c, session_id, "ended", ended_at, outcome.value)
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
                "WHERE user_id = ? AND chat_id = ? AND ended_at >= ? "
                "ORDER BY score IS NULL DESC, ended_at DESC, id DESC LIMIT 1",
                (user_id, chat_id, to_ms(since)),
            )
        )
        return None if row is None else _session(row)

    async def earlier_focus(self, user_id: int, before_session_id: int) -> tuple[int, float]:
        """(count, average focused ms) of the user's ended sessions before this one (read from
        the covering index, inline: a few ms for a user with 10,000 sessions)."""
        count, average = await self._look(
            lambda c: _one(
                c,
                "SELECT count(*), avg(focused_ms * time_scale) FROM sessions "
                "WHERE user_id = ? AND id < ? AND ended_at IS NOT NULL",
                (user_id, before_session_id),
            )
        )
        return int(count), float(average or 0.0)

    async def completed_starts(self, user_id: int, since: datetime) -> list[datetime]:
        """Start times of the user's completed sessions since ``since``, newest first."""
        rows = await self._run_in_thread(
            lambda c: c.execute(
                "SELECT started_at FROM sessions WHERE user_id = ? AND outcome = 'completed' "
                "AND started_at >= ? ORDER BY started_at DESC",
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
                "AND ended_at IS NOT NULL ORDER BY started_at",
                (user_id, 0 if since is None else to_ms(since), to_ms(until)),
            )
            return list(map(SessionFact._make, rows))

        return await (self._look(op) if few else self._run_in_thread(op))

    async def first_start(self, user_id: int) -> datetime | None:
        """When the user's first ended session started (None without any)."""
        (first,) = await self._look(
            lambda c: _one(
                c,
                "SELECT min(started_at) FROM sessions WHERE user_id = ? AND ended_at IS NOT NULL",
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
    ) -> tuple[tuple[int, float], list[tuple[Any, ...]], list[tuple[int, float, int, float]]]:
        """What /stats counts over the user's ended sessions started in [since, until), added
        up by SQLite rather than read a row per session: (labelled, per local day, per local
        hour).

        ``offsets`` place each start in the user's local time: ([(change at ms, offset ms
        before it)], offset after the last change), from ``LocalTimes.segments``.
        Labelled: (sessions with a label, of them completed). Per day: (local day number,
        sessions, focused minutes, completed, planned minutes, interruptions, scored, score
        sum, long scored, long score sum, short score sum), long meaning planned over
        ``long_minutes``. Per hour: (local hour, focused minutes, scored, score sum). The
        day and hour queries are answered from the covering index ``sessions_user_facts``,
        the labelled count from the partial index ``sessions_user_labelled``.
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
            "AND started_at < :until AND ended_at IS NOT NULL"
        )
        minutes = "coalesce(focused_ms * time_scale, 0) / 60000.0"

        def op(c: sqlite3.Connection) -> tuple[Any, list[Any], list[Any]]:
            c.execute("BEGIN")  # the three queries see one snapshot of the file
            try:
                return queries(c)
            finally:
                c.rollback()

        def queries(c: sqlite3.Connection) -> tuple[Any, list[Any], list[Any]]:
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
            return labelled, days, hours

        return await self._run_in_thread(op)

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

    # --- scheduling -------------------------------------------------------------------------

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

    async def soonest_due(self) -> datetime | None:
        """The earliest time a running session, or a pending summary, must be looked at."""
        (soonest,) = await self._look(
            lambda c: _one(
                c,
                "SELECT min(t) FROM ("
                "SELECT min(next_due_at) AS t FROM sessions WHERE next_due_at IS NOT NULL "
                "UNION ALL SELECT min(due_at) FROM deliveries WHERE status = 'pending')",
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
        kind: str,
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
        kind: str,
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
        kind: str,
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

    async def integrity_check(self) -> str:
        """SQLite's own verdict on the file ('ok' when sound)."""
        rows = await self._run_in_thread(lambda c: c.execute("PRAGMA integrity_check").fetchall())
        return ", ".join(str(r[0]) for r in rows)
