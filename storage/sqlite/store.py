"""The SQLite backend's facade: one object over the file, with each aggregate on it."""

from __future__ import annotations

from pathlib import Path

from storage.ports import Storage
from storage.sqlite.cards import SqliteCards
from storage.sqlite.companion import SqliteCompanion
from storage.sqlite.db import Database, connect
from storage.sqlite.deliveries import SqliteDeliveries
from storage.sqlite.notes import SqliteNotes
from storage.sqlite.records import SqliteRecords
from storage.sqlite.reminders import SqliteReminders
from storage.sqlite.reports import SqliteReports
from storage.sqlite.sessions import SqliteSessions
from storage.sqlite.users import SqliteUsers

__all__ = ["SqliteStorage", "open_storage"]


class SqliteStorage(Storage):
    """Users, sessions, deliveries and reports over one SQLite file (one connection each
    for the event loop and for aiosqlite's thread: ``Database``), opened and closed here."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.users = SqliteUsers(db)
        self.sessions = SqliteSessions(db)
        self.deliveries = SqliteDeliveries(db)
        self.reports = SqliteReports(db)
        self.companion = SqliteCompanion(db)
        self.notes = SqliteNotes(db)
        self.records = SqliteRecords(db)
        self.reminders = SqliteReminders(db)
        self.cards = SqliteCards(db)

    @property
    def connection(self) -> Database:
        """The underlying connection (for tests that inspect the file)."""
        return self._db

    async def close(self) -> None:
        """Close the connection once the operations already queued have run."""
        await self._db.close()

    async def integrity_check(self) -> str:
        """SQLite's own verdict on the file ('ok' when sound)."""
        rows = await self._db.run_in_thread(
            lambda c: c.execute("PRAGMA integrity_check").fetchall()
        )
        return ", ".join(str(r[0]) for r in rows)


async def open_storage(path: str | Path) -> SqliteStorage:
    """Open (creating and migrating if needed) the SQLite file at ``path``."""
    return SqliteStorage(await connect(path))
