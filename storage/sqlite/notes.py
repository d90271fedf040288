"""A session's note in SQLite: which messages a reply to is a note for, and the note itself."""

from __future__ import annotations

import sqlite3

from nudges import limits as product
from storage.ports import NoteStore
from storage.sqlite.shared import Aggregate, _one

__all__ = ["SqliteNotes"]


class SqliteNotes(Aggregate, NoteStore):
    """Notes (migration 010): ``note_targets`` maps a chat's message to its session."""

    async def remember_target(self, chat_id: int, message_id: int, session_id: int) -> None:
        """A reply to this message of the chat is a note for this session (kept once)."""
        await self._write(
            "INSERT OR IGNORE INTO note_targets (chat_id, message_id, session_id) "
            "SELECT ?, ?, id FROM sessions WHERE id = ?",
            (chat_id, message_id, session_id),
        )

    async def target(self, chat_id: int, message_id: int) -> int | None:
        """The session a reply to this message is a note for, if any."""
        row = await self._look(
            lambda c: _one(
                c,
                "SELECT session_id FROM note_targets WHERE chat_id = ? AND message_id = ?",
                (chat_id, message_id),
            )
        )
        return None if row is None else int(row[0])

    async def set_note(self, session_id: int, user_id: int, note: str) -> tuple[bool, bool]:
        """Keep the note of this user's ended session: (done, it replaced another). A note
        longer than ``limits.NOTE_MAX_CHARS`` is refused (the caller says so first)."""
        if not 1 <= len(note) <= product.NOTE_MAX_CHARS:
            return False, False

        def op(c: sqlite3.Connection) -> tuple[bool, bool]:
            row = _one(
                c,
                "SELECT note IS NOT NULL FROM sessions "
                "WHERE id = ? AND user_id = ? AND ended_at IS NOT NULL",
                (session_id, user_id),
            )
            if row is None:
                return False, False
            c.execute("UPDATE sessions SET note = ? WHERE id = ?", (note, session_id))
            return True, bool(row[0])

        return await self._run(op)
