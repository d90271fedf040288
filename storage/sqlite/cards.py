"""Start cards in SQLite (migration 010): what a session's card still has to show.

A summary whose send's fate is unknown is never sent again (at most once); its start card is
edited into it instead — an edit repeated is still one message. One row per session (its
primary key), so the card is turned into the summary at most once, and a row marked done is
never redone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from storage.models import SUMMARY_SLOT, CardEdit, from_ms, to_ms
from storage.ports import CardStore
from storage.sqlite.shared import Aggregate, _ceil_ms, _one

__all__ = ["SqliteCards"]

_COLUMNS = "session_id, shows, status, attempts, due_at, at, reason"


def _card_edit(row: Sequence[Any]) -> CardEdit:
    return CardEdit(
        session_id=row[0],
        shows=row[1],
        status=row[2],
        attempts=row[3],
        due_at=from_ms(row[4]),
        at=from_ms(row[5]),
        reason=row[6],
    )


class SqliteCards(Aggregate, CardStore):
    """``card_edits``: one wish per session's start card, pending until done or given up."""

    async def want(self, session_id: int, shows: str, due_at: datetime, now: datetime) -> bool:
        """Ask for the card to show ``shows`` from ``due_at`` (kept once: a card's first wish
        stands)."""
        changed = await self._write(
            "INSERT OR IGNORE INTO card_edits (session_id, shows, status, due_at, at) "
            "SELECT id, ?, 'pending', ?, ? FROM sessions WHERE id = ?",
            (shows, _ceil_ms(due_at), to_ms(now), session_id),
        )
        return changed == 1

    async def adopt_unconfirmed(
        self, claimed_before: datetime, now: datetime, skip: Sequence[int] = ()
    ) -> int:
        """Ask for the summary on the card of every summary claimed before ``claimed_before``
        and never confirmed (the ``deliveries_sending`` index finds them), except ``skip``."""
        # A read first, a write only when there is something to adopt: this runs on every
        # dispatcher run, and a write that changes nothing would still count as one (a full
        # disk's "writes work again" must not be said on the strength of it).
        rows = await self._look(
            lambda c: c.execute(
                "SELECT d.session_id FROM deliveries AS d "
                "WHERE d.status = 'sending' AND d.at <= ? AND d.slot = ? AND NOT EXISTS "
                "(SELECT 1 FROM card_edits AS e WHERE e.session_id = d.session_id)",
                (to_ms(claimed_before), SUMMARY_SLOT),
            ).fetchall()
        )
        cut = sorted({row[0] for row in rows} - set(skip))
        if not cut:
            return 0
        marks = ", ".join("?" * len(cut))
        return await self._write(
            "INSERT OR IGNORE INTO card_edits (session_id, shows, status, due_at, at) "
            f"SELECT id, 'summary', 'pending', ?, ? FROM sessions WHERE id IN ({marks})",
            (to_ms(now), to_ms(now), *cut),
        )

    async def due(self, now: datetime, limit: int) -> list[CardEdit]:
        """Pending card edits due by ``now``, soonest first."""
        rows = await self._look(
            lambda c: c.execute(
                f"SELECT {_COLUMNS} FROM card_edits WHERE status = 'pending' AND due_at <= ? "
                "ORDER BY due_at LIMIT ?",
                (to_ms(now), limit),
            ).fetchall()
        )
        return [_card_edit(row) for row in rows]

    async def soonest(self, surely_over: timedelta) -> datetime | None:
        """The next pending edit, or the moment an unconfirmed summary counts as cut."""
        over_ms = int(surely_over.total_seconds() * 1000)
        (soonest,) = await self._look(
            lambda c: _one(
                c,
                "SELECT min(t) FROM ("
                "SELECT min(due_at) AS t FROM card_edits WHERE status = 'pending' "
                "UNION ALL SELECT min(d.at) + ? FROM deliveries AS d "
                "WHERE d.status = 'sending' AND d.slot = ? AND NOT EXISTS "
                "(SELECT 1 FROM card_edits AS e WHERE e.session_id = d.session_id))",
                (over_ms, SUMMARY_SLOT),
            )
        )
        return None if soonest is None else from_ms(soonest)

    async def done(self, session_id: int, now: datetime) -> None:
        """The card shows what it should: never edited for it again."""
        await self._write(
            "UPDATE card_edits SET status = 'done', at = ? WHERE session_id = ?",
            (to_ms(now), session_id),
        )

    async def failed(self, session_id: int, now: datetime, reason: str) -> None:
        """Given up: no card, or Telegram refused the edit for good."""
        await self._write(
            "UPDATE card_edits SET status = 'failed', at = ?, reason = ? WHERE session_id = ?",
            (to_ms(now), reason, session_id),
        )

    async def retry(
        self, session_id: int, now: datetime, retry_at: datetime, max_attempts: int, reason: str
    ) -> bool:
        """Count a passing failure; again at ``retry_at`` unless ``max_attempts`` were made."""

        def op(c: sqlite3.Connection) -> bool:
            c.execute(
                "UPDATE card_edits SET attempts = attempts + 1, at = ?, reason = ?, due_at = ?, "
                "status = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE 'pending' END "
                "WHERE session_id = ? AND status = 'pending'",
                (to_ms(now), reason, _ceil_ms(retry_at), max_attempts, session_id),
            )
            row = _one(c, "SELECT status FROM card_edits WHERE session_id = ?", (session_id,))
            return row is not None and row[0] == "pending"

        return await self._run(op)

    async def get(self, session_id: int) -> CardEdit | None:
        """The card's wish for a session, if any."""
        row = await self._look(
            lambda c: _one(
                c, f"SELECT {_COLUMNS} FROM card_edits WHERE session_id = ?", (session_id,)
            )
        )
        return None if row is None else _card_edit(row)
