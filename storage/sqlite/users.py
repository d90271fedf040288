"""Users in SQLite: who has talked to the bot, with their settings.

Users are read far more often than they change (every command needs the timezone and the
defaults), so this keeps the users it has read, up to ``USER_CACHE`` of them, and updates that
copy with every write it makes: this process is the only writer of its file.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage.models import User, from_ms
from storage.ports import UserStore
from storage.sqlite.db import Database
from storage.sqlite.shared import Aggregate, _insert_user, _one

__all__ = ["USER_CACHE", "USER_SETTINGS", "SqliteUsers"]

USER_CACHE = 10_000
"""Users kept in memory (about 0.5 KB each); the least recently used go first."""

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


def _fetch_user(c: sqlite3.Connection, user_id: int) -> User | None:
    row = _one(c, f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
    return None if row is None else _user(row)


class SqliteUsers(Aggregate, UserStore):
    """Reads and writes of users, with the users read kept in memory."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._users: OrderedDict[int, User] = OrderedDict()

    def _remember(self, user: User) -> User:
        self._users[user.id] = user
        self._users.move_to_end(user.id)
        if len(self._users) > USER_CACHE:
            self._users.popitem(last=False)
        return user

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
