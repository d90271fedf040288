"""Storage for the companion's summary and plan (migration *_companion_summary.sql), on real
SQLite files: notes and the messages they answer, who ended a session, the blocks an extension
left, the average's rule, the lengths for planning, and replanning a session that just started."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from nudges import SlotKind
from nudges import limits as L
from storage import EndedBy, Outcome, SqliteStorage, open_storage
from tests.integration.test_storage import MIGRATIONS_DIR, finish, start
from tests.support.fakes import T0

MIN = timedelta(minutes=1)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    opened = await open_storage(tmp_path / "focus.db")
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_note_is_kept_for_an_ended_session_of_its_owner(store: SqliteStorage) -> None:
    running = await start(store)
    assert await store.notes.set_note(running.id, 1, "too early") == (False, False)
    ended = await finish(store, running, at=T0 + 25 * MIN)
    assert await store.notes.set_note(ended.id, 2, "not mine") == (False, False)
    assert await store.notes.set_note(ended.id, 1, "x" * (L.NOTE_MAX_CHARS + 1)) == (False, False)
    assert await store.notes.set_note(ended.id, 1, "first") == (True, False)
    assert await store.notes.set_note(ended.id, 1, "second") == (True, True)
    again = await store.sessions.get_session(ended.id)
    assert again is not None and again.note == "second"


async def test_note_targets_map_a_chats_message_to_its_session(store: SqliteStorage) -> None:
    session = await finish(store, await start(store), at=T0 + 25 * MIN)
    await store.notes.remember_target(10, 77, session.id)
    await store.notes.remember_target(10, 77, session.id)  # kept once
    await store.notes.remember_target(10, 78, 9999)  # no such session: nothing kept
    assert await store.notes.target(10, 77) == session.id
    assert await store.notes.target(11, 77) is None  # another chat's message 77
    assert await store.notes.target(10, 78) is None


async def test_the_database_refuses_what_the_bot_refuses(store: SqliteStorage) -> None:
    session = await finish(store, await start(store), at=T0 + 25 * MIN)
    db = store.connection.inline
    for bad in ("", "x" * (L.NOTE_MAX_CHARS + 1)):
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE sessions SET note = ? WHERE id = ?", (bad, session.id))
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE sessions SET ended_by = 'magic' WHERE id = ?", (session.id,))
    db.rollback()
    [path] = MIGRATIONS_DIR.glob("*_companion_summary.sql")  # its number follows the others
    sql = path.read_text(encoding="utf-8")
    assert re.search(rf"length\(note\) BETWEEN 1 AND {L.NOTE_MAX_CHARS}\b", sql)
    assert set(re.findall(r"'(\w+)'", sql.split("ended_by TEXT")[1].split(";")[0])) == {
        by.value for by in EndedBy
    }


async def test_ended_by_and_settled_blocks_are_kept(store: SqliteStorage) -> None:
    session = await start(store, minutes=90)
    longer = await store.sessions.extend(
        session.id, 45, T0 + 60 * MIN, T0 + 200 * MIN, T0 + 61 * MIN, settled_blocks=(25, 25)
    )
    assert longer is not None and longer.settled_blocks == (25, 25)
    ended = await store.sessions.end_session(
        session.id,
        ended_at=T0 + 70 * MIN,
        focused=60 * MIN,
        breaks_taken=2,
        outcome=Outcome.ENDED_EARLY,
        late=False,
        now=T0 + 70 * MIN,
        ended_by=EndedBy.PAUSE_LIMIT,
    )
    assert ended is not None and ended.ended_by is EndedBy.PAUSE_LIMIT


async def test_the_average_counts_completed_sessions_of_ten_minutes(
    store: SqliteStorage,
) -> None:
    at = T0
    for minutes, outcome in [
        (20, Outcome.COMPLETED),
        (9, Outcome.COMPLETED),  # too short to count
        (30, Outcome.ENDED_EARLY),  # not completed
        (40, Outcome.COMPLETED),
    ]:
        session = await start(store, at=at, minutes=minutes)
        await finish(store, session, at=at + minutes * MIN, outcome=outcome)
        at += 2 * 60 * MIN
    last = await start(store, at=at)
    counted = await store.reports.earlier_focus(
        1, last.id, completed_of_minutes=L.AVERAGE_MIN_MINUTES
    )
    assert counted == (2, 30 * 60000.0)
    assert (await store.reports.earlier_focus(1, last.id))[0] == 4  # every ended one


async def test_recent_lengths_newest_first(store: SqliteStorage) -> None:
    at = T0
    for minutes, outcome in [(25, Outcome.COMPLETED), (45, Outcome.ENDED_EARLY)]:
        session = await start(store, at=at, minutes=minutes)
        await finish(store, session, at=at + 5 * MIN, outcome=outcome)
        at += 60 * MIN
    await start(store, at=at, minutes=60)  # running: not counted
    assert await store.reports.recent_lengths(1, 30) == [(45, False), (25, True)]
    assert await store.reports.recent_lengths(1, 1) == [(45, False)]


async def test_replan_only_before_anything_was_sent(store: SqliteStorage) -> None:
    session = await start(store, minutes=25)
    replanned = await store.sessions.replan(session.id, 45, T0 + MIN, T0 + 50 * MIN, T0 + 12 * MIN)
    assert replanned is not None and replanned.planned_minutes == 45
    claimed = await store.deliveries.claim(
        session.id,
        "checkin:1.1",
        SlotKind.CHECKIN,
        T0 + 12 * MIN,
        T0 + 12 * MIN,
        max_messages=8,
        min_gap=5 * MIN,
    )
    assert claimed
    assert (
        await store.sessions.replan(session.id, 30, T0 + 13 * MIN, T0 + 35 * MIN, T0 + 14 * MIN)
        is None
    )
