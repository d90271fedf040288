"""Tests for storage: migrations, constraints, conditional updates, claims and queries.

Every test runs on a real SQLite file in ``tmp_path``; nothing is mocked. Raw SQL on
``store.connection`` checks that the schema itself refuses what must never happen, whatever
code writes to the file.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import re
import signal
import sqlite3
import stat
import sys
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import storage.sqlite.db
import storage.sqlite.users
from nudges import DeliveryStatus, SlotKind
from storage import (
    SUMMARY_SLOT,
    ActiveSessionExists,
    CardStore,
    CompanionStore,
    DayTotals,
    DeliveryStore,
    HourTotals,
    LabelledTotals,
    NoteStore,
    Outcome,
    RecordStore,
    ReminderStore,
    ReportStore,
    Session,
    SessionStore,
    SqliteStorage,
    StatsTotals,
    Storage,
    UserStore,
    open_storage,
)
from storage.errors import StorageUnavailable
from storage.models import from_ms, to_ms
from storage.sqlite.companion import SqliteCompanion
from storage.sqlite.db import connect, migrations
from storage.sqlite.deliveries import SqliteDeliveries
from storage.sqlite.notes import SqliteNotes
from storage.sqlite.reports import SqliteReports
from storage.sqlite.sessions import SqliteSessions
from storage.sqlite.users import SqliteUsers
from tests.support.fakes import T0

MIGRATIONS_DIR = Path(storage.sqlite.db.__file__).parents[1] / "migrations"
REPO_ROOT = Path(__file__).resolve().parents[2]
MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)
GUARDS = {"max_messages": 8, "min_gap": 5 * MIN}  # the policy's guardrails


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "focus.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStorage]:
    opened = await open_storage(db_path)
    try:
        yield opened
    finally:
        await opened.close()


async def start(
    store: SqliteStorage,
    *,
    user: int = 1,
    chat: int = 10,
    at: datetime = T0,
    minutes: int = 25,
    label: str | None = None,
    scale: float = 1.0,
    due: datetime | None = None,
) -> Session:
    return await store.sessions.start_session(
        user_id=user,
        chat_id=chat,
        label=label,
        planned_minutes=minutes,
        block_minutes=25,
        break_minutes=5,
        checkins=True,
        time_scale=scale,
        now=at,
        planned_end_at=at + minutes * MIN,
        next_due_at=due if due is not None else at + 10 * MIN,
    )


async def finish(
    store: SqliteStorage,
    session: Session,
    *,
    at: datetime,
    focused: timedelta | None = None,
    outcome: Outcome = Outcome.COMPLETED,
    late: bool = False,
    breaks: int = 0,
) -> Session:
    ended = await store.sessions.end_session(
        session.id,
        ended_at=at,
        focused=focused if focused is not None else at - session.started_at,
        breaks_taken=breaks,
        outcome=outcome,
        late=late,
        now=at,
    )
    assert ended is not None
    return ended


async def scalar(db: aiosqlite.Connection, sql: str, params: tuple[Any, ...] = ()) -> Any:
    async with db.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return row[0]


async def rows(db: aiosqlite.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    async with db.execute(sql, params) as cursor:
        return [tuple(r) for r in await cursor.fetchall()]


async def event_kinds(store: SqliteStorage, session_id: int) -> list[str]:
    return [e.kind for e in await store.reports.events(session_id)]


INSERT_SESSION = (
    "INSERT INTO sessions (user_id, chat_id, label, planned_minutes, block_minutes, "
    "break_minutes, started_at) VALUES (?, ?, ?, ?, 25, 5, ?)"
)


async def raw_user(db: aiosqlite.Connection, user_id: int = 1) -> None:
    await db.execute(
        "INSERT OR IGNORE INTO users (id, created_at) VALUES (?, ?)", (user_id, to_ms(T0))
    )


# --- migrations and connection --------------------------------------------------------------


def test_migration_files_are_numbered_without_gaps() -> None:
    files = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert files, "no migration scripts shipped"
    assert [v for v, _ in migrations()] == list(range(1, len(files) + 1))
    assert files[0] == "001_initial.sql"


async def test_connect_creates_private_file_and_migrates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "nested" / "dir" / "focus.db"
    assert not path.exists()
    with caplog.at_level(logging.WARNING):
        db = await connect(path)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        # Created owner-only from the start: nothing to tighten, nothing to warn about.
        assert [r.getMessage() for r in caplog.records if "tightening" in r.getMessage()] == []
        assert await scalar(db, "PRAGMA user_version") == len(list(MIGRATIONS_DIR.glob("*.sql")))
        assert await storage.sqlite.db.schema_version(db) == len(migrations())
        assert await scalar(db, "PRAGMA journal_mode") == "wal"
        assert await scalar(db, "PRAGMA foreign_keys") == 1
        assert await scalar(db, "PRAGMA busy_timeout") == 5000
        tables = await rows(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        names = {t[0] for t in tables}
        assert {"users", "sessions", "deliveries", "events"} <= names
        assert not db.in_transaction
    finally:
        await db.close()


async def test_wal_and_shm_files_are_private_too(store: SqliteStorage, db_path: Path) -> None:
    await start(store)  # a write, so the -wal file holds data
    for suffix in ("-wal", "-shm"):
        side = db_path.with_name(db_path.name + suffix)
        assert side.exists(), suffix
        assert stat.S_IMODE(side.stat().st_mode) == 0o600, suffix


async def test_reconnect_is_idempotent_and_keeps_data(db_path: Path) -> None:
    first = await open_storage(db_path)
    try:
        session = await start(first, label="write")
        version = await storage.sqlite.db.schema_version(first.connection)
    finally:
        await first.close()

    second = await open_storage(db_path)
    try:
        assert (
            await storage.sqlite.db.schema_version(second.connection)
            == version
            == len(migrations())
        )
        assert await second.sessions.get_session(session.id) == session
        assert await scalar(second.connection, "SELECT count(*) FROM sessions") == 1
        assert await second.integrity_check() == "ok"
    finally:
        await second.close()


async def test_newer_schema_version_is_refused(db_path: Path) -> None:
    newer = len(migrations()) + 1
    async with aiosqlite.connect(db_path) as raw:
        await raw.execute(f"PRAGMA user_version = {newer}")
        await raw.commit()
    with pytest.raises(StorageUnavailable, match="newer"):
        await connect(db_path)
    async with aiosqlite.connect(db_path) as raw:
        assert await scalar(raw, "PRAGMA user_version") == newer
        assert await rows(raw, "SELECT name FROM sqlite_master WHERE type = 'table'") == []


async def test_failed_migration_rolls_back_entirely(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await connect(db_path)
    await db.close()
    real = migrations()
    broken = (
        len(real) + 1,
        "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);",
    )
    monkeypatch.setattr(storage.sqlite.db, "migrations", lambda: [*real, broken])
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        await connect(db_path)
    monkeypatch.undo()

    db = await connect(db_path)
    try:
        assert await storage.sqlite.db.schema_version(db) == len(real)
        assert await scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'half_done'") == 0
    finally:
        await db.close()


async def test_integrity_check_is_ok(store: SqliteStorage) -> None:
    session = await start(store)
    await finish(store, session, at=T0 + 25 * MIN)
    assert await store.integrity_check() == "ok"


# --- users ----------------------------------------------------------------------------------


async def test_ensure_user_creates_once(store: SqliteStorage) -> None:
    assert await store.users.get_user(7) is None
    first = await store.users.ensure_user(7, T0)
    again = await store.users.ensure_user(7, T0 + 60 * MIN)
    assert first == again
    assert first.timezone == "UTC"
    assert first.created_at == T0
    assert await store.users.get_user(7) == first


async def test_deleting_a_user_cascades(store: SqliteStorage) -> None:
    session = await start(store)
    assert await store.deliveries.claim(session.id, "checkin:1.1", "checkin", T0, T0, **GUARDS)
    await store.connection.execute("DELETE FROM users WHERE id = 1")
    db = store.connection
    assert await scalar(db, "SELECT count(*) FROM sessions") == 0
    assert await scalar(db, "SELECT count(*) FROM deliveries") == 0
    assert await scalar(db, "SELECT count(*) FROM events") == 0


# --- constraints: one running session -------------------------------------------------------


async def test_second_running_session_in_same_chat_is_refused(store: SqliteStorage) -> None:
    first = await start(store)
    with pytest.raises(ActiveSessionExists) as caught:
        await start(store, at=T0 + MIN, label="again")
    assert caught.value.session_id == first.id
    assert await scalar(store.connection, "SELECT count(*) FROM sessions") == 1
    assert await store.sessions.active_session(1, 10) == first
    # The refused start left no event behind.
    assert await scalar(store.connection, "SELECT count(*) FROM events") == 1


async def test_other_chat_or_other_user_may_run_alongside(store: SqliteStorage) -> None:
    first = await start(store, user=1, chat=10)
    other_chat = await start(store, user=1, chat=11)
    other_user = await start(store, user=2, chat=10)
    assert len({first.id, other_chat.id, other_user.id}) == 3
    assert (await store.sessions.active_session(1, 10)) == first
    assert (await store.sessions.active_session(1, 11)) == other_chat
    assert (await store.sessions.active_session(2, 10)) == other_user


async def test_new_session_after_end(store: SqliteStorage) -> None:
    first = await start(store)
    await finish(store, first, at=T0 + 25 * MIN)
    assert await store.sessions.active_session(1, 10) is None
    second = await start(store, at=T0 + 30 * MIN)
    assert second.id != first.id
    assert await store.sessions.active_session(1, 10) == second


async def test_concurrent_starts_let_exactly_one_win(store: SqliteStorage) -> None:
    results = await asyncio.gather(
        *(start(store, at=T0 + i * MIN) for i in range(5)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, Session)]
    losers = [r for r in results if isinstance(r, ActiveSessionExists)]
    assert len(winners) == 1
    assert len(losers) == 4
    assert {loser.session_id for loser in losers} == {winners[0].id}


async def test_raw_insert_of_second_running_session_fails(store: SqliteStorage) -> None:
    db = store.connection
    await raw_user(db, 1)
    await db.execute(INSERT_SESSION, (1, 10, None, 25, to_ms(T0)))
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        await db.execute(INSERT_SESSION, (1, 10, None, 25, to_ms(T0)))
    # Ending the first one frees the slot.
    await db.execute(
        "UPDATE sessions SET ended_at = ?, outcome = 'completed', next_due_at = NULL",
        (to_ms(T0 + MIN),),
    )
    await db.execute(INSERT_SESSION, (1, 10, None, 25, to_ms(T0)))
    assert await scalar(db, "SELECT count(*) FROM sessions") == 2


# --- constraints: values --------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [0, -1, 181, 1000])
async def test_planned_minutes_out_of_range_is_refused(store: SqliteStorage, minutes: int) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await start(store, minutes=minutes)
    # The whole start rolled back, the user row included.
    assert await store.users.get_user(1) is None
    assert await scalar(store.connection, "SELECT count(*) FROM events") == 0
    await raw_user(store.connection)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.connection.execute(INSERT_SESSION, (1, 10, None, minutes, to_ms(T0)))


@pytest.mark.parametrize("minutes", [1, 180])
async def test_planned_minutes_bounds_are_accepted(store: SqliteStorage, minutes: int) -> None:
    session = await start(store, minutes=minutes)
    assert session.planned_minutes == minutes


@pytest.mark.parametrize("label", ["", "x" * 201])
async def test_bad_label_is_refused(store: SqliteStorage, label: str) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await start(store, label=label)
    assert await scalar(store.connection, "SELECT count(*) FROM sessions") == 0
    await raw_user(store.connection)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.connection.execute(INSERT_SESSION, (1, 10, label, 25, to_ms(T0)))


async def test_label_of_200_characters_is_accepted(store: SqliteStorage) -> None:
    label = "é" * 200  # length() counts characters, not bytes
    session = await start(store, label=label)
    assert session.label == label


async def test_extend_past_180_minutes_raises_and_changes_nothing(store: SqliteStorage) -> None:
    session = await start(store, minutes=175)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.sessions.extend(session.id, 10, T0 + MIN, T0 + 185 * MIN, T0 + 20 * MIN)
    assert await store.sessions.get_session(session.id) == session
    assert await event_kinds(store, session.id) == ["started"]
    assert not store.connection.inline.in_transaction


@pytest.mark.parametrize("score", [0, 6, -1])
async def test_score_out_of_range_is_refused(store: SqliteStorage, score: int) -> None:
    session = await finish(store, await start(store), at=T0 + 25 * MIN)
    assert await store.sessions.set_score(session.id, 1, 3, T0 + 26 * MIN) == (True, None)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.sessions.set_score(session.id, 1, score, T0 + 27 * MIN)
    after = await store.sessions.get_session(session.id)
    assert after is not None
    assert after.score == 3
    assert after.scored_at == T0 + 26 * MIN
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.connection.execute(
            "UPDATE sessions SET score = ? WHERE id = ?", (score, session.id)
        )


async def test_ended_without_outcome_and_outcome_without_end_are_refused(
    store: SqliteStorage,
) -> None:
    session = await start(store)
    db = store.connection
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await db.execute(
            "UPDATE sessions SET ended_at = ?, next_due_at = NULL WHERE id = ?",
            (to_ms(T0 + MIN), session.id),
        )
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await db.execute("UPDATE sessions SET outcome = 'completed' WHERE id = ?", (session.id,))
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await db.execute("UPDATE sessions SET outcome = 'abandoned' WHERE id = ?", (session.id,))
    assert await store.sessions.get_session(session.id) == session


async def test_ended_session_cannot_be_due_or_paused(store: SqliteStorage) -> None:
    session = await finish(store, await start(store), at=T0 + 25 * MIN)
    db = store.connection
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await db.execute(
            "UPDATE sessions SET next_due_at = ? WHERE id = ?", (to_ms(T0), session.id)
        )
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await db.execute("UPDATE sessions SET paused_at = ? WHERE id = ?", (to_ms(T0), session.id))
    assert await store.sessions.get_session(session.id) == session


async def test_foreign_keys_are_enforced(store: SqliteStorage) -> None:
    db = store.connection
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await db.execute(INSERT_SESSION, (404, 10, None, 25, to_ms(T0)))
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await db.execute(
            "INSERT INTO deliveries (session_id, slot, kind, status, due_at, at) "
            "VALUES (404, 'checkin:1.1', 'checkin', 'sending', 0, 0)"
        )
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await db.execute("INSERT INTO events (session_id, kind, at) VALUES (404, 'started', 0)")


async def test_delivery_and_event_vocabularies_are_closed(store: SqliteStorage) -> None:
    session = await start(store)
    db = store.connection
    insert = (
        "INSERT INTO deliveries (session_id, slot, kind, status, due_at, at) "
        "VALUES (?, ?, ?, ?, 0, 0)"
    )
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await db.execute(insert, (session.id, "x:1", "poke", "sending"))
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await db.execute(insert, (session.id, "x:2", "checkin", "lost"))
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await db.execute(
            "INSERT INTO events (session_id, kind, at) VALUES (?, 'poked', 0)", (session.id,)
        )


# --- constraints: deliveries ----------------------------------------------------------------


async def test_same_slot_is_recorded_once(store: SqliteStorage) -> None:
    session = await start(store)
    assert await store.deliveries.claim(
        session.id, "checkin:1.1", "checkin", T0 + 10 * MIN, T0 + 10 * MIN, **GUARDS
    )
    assert not await store.deliveries.claim(
        session.id, "checkin:1.1", "checkin", T0 + 10 * MIN, T0 + 11 * MIN, **GUARDS
    )
    [record] = await store.deliveries.deliveries(session.id)
    assert (record.slot, record.kind, record.status) == ("checkin:1.1", "checkin", "sending")
    assert record.at == T0 + 10 * MIN  # the second claim did not touch it
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        await store.connection.execute(
            "INSERT INTO deliveries (session_id, slot, kind, status, due_at, at) "
            "VALUES (?, 'checkin:1.1', 'checkin', 'dropped', 0, 0)",
            (session.id,),
        )


async def test_concurrent_claims_of_one_slot_let_exactly_one_win(store: SqliteStorage) -> None:
    session = await start(store)
    results = await asyncio.gather(
        *(
            store.deliveries.claim(session.id, "break:1", "break", T0, T0 + i * MIN, **GUARDS)
            for i in range(6)
        )
    )
    assert sorted(results) == [False] * 5 + [True]
    assert len(await store.deliveries.deliveries(session.id)) == 1


# --- conditional updates --------------------------------------------------------------------


async def test_pause_twice_counts_once(store: SqliteStorage) -> None:
    session = await start(store)
    assert await store.sessions.pause(session.id, T0 + 5 * MIN, T0 + 65 * MIN)
    assert not await store.sessions.pause(session.id, T0 + 6 * MIN, T0 + 66 * MIN)
    paused = await store.sessions.get_session(session.id)
    assert paused is not None
    assert paused.interruptions == 1
    assert paused.version == 1
    assert paused.paused_at == T0 + 5 * MIN
    assert paused.planned_end_at is None
    assert paused.next_due_at == T0 + 65 * MIN
    assert await event_kinds(store, session.id) == ["started", "paused", "interruption"]


async def test_resume_adds_pause_length(store: SqliteStorage) -> None:
    session = await start(store)
    assert await store.sessions.pause(session.id, T0 + 5 * MIN, T0 + 65 * MIN)
    paused = await store.sessions.get_session(session.id)
    assert paused is not None
    assert await store.sessions.resume(paused, T0 + 8 * MIN, T0 + 28 * MIN, T0 + 13 * MIN)
    resumed = await store.sessions.get_session(session.id)
    assert resumed is not None
    assert resumed.paused_at is None
    assert resumed.paused == 3 * MIN
    assert resumed.planned_end_at == T0 + 28 * MIN
    assert resumed.next_due_at == T0 + 13 * MIN
    assert resumed.version == 2
    # The same (now stale) resume button again changes nothing.
    assert not await store.sessions.resume(paused, T0 + 9 * MIN, T0 + 29 * MIN, T0 + 14 * MIN)
    assert await store.sessions.get_session(session.id) == resumed


async def test_resume_with_stale_paused_at_is_refused(store: SqliteStorage) -> None:
    session = await start(store)
    assert await store.sessions.pause(session.id, T0 + 5 * MIN, T0 + 65 * MIN)
    first_pause = await store.sessions.get_session(session.id)
    assert first_pause is not None
    assert await store.sessions.resume(first_pause, T0 + 6 * MIN, T0 + 26 * MIN, T0 + 11 * MIN)
    assert await store.sessions.pause(session.id, T0 + 10 * MIN, T0 + 70 * MIN)
    second_pause = await store.sessions.get_session(session.id)
    assert second_pause is not None

    assert not await store.sessions.resume(first_pause, T0 + 12 * MIN, T0 + 30 * MIN, T0 + 15 * MIN)
    assert await store.sessions.get_session(session.id) == second_pause
    assert second_pause.paused == MIN
    assert second_pause.paused_at == T0 + 10 * MIN


async def test_ended_session_ignores_changes(store: SqliteStorage) -> None:
    session = await start(store)
    assert await store.sessions.pause(session.id, T0 + 5 * MIN, T0 + 65 * MIN)
    paused = await store.sessions.get_session(session.id)
    assert paused is not None
    ended = await finish(
        store, session, at=T0 + 20 * MIN, focused=5 * MIN, outcome=Outcome.ENDED_EARLY
    )
    events_before = await store.reports.events(session.id)

    assert not await store.sessions.extend(
        session.id, 10, T0 + 21 * MIN, T0 + 45 * MIN, T0 + 30 * MIN
    )
    assert not await store.sessions.pause(session.id, T0 + 21 * MIN, T0 + 80 * MIN)
    assert not await store.sessions.add_interruption(session.id, T0 + 21 * MIN, "phone")
    assert not await store.sessions.resume(paused, T0 + 21 * MIN, T0 + 45 * MIN, T0 + 30 * MIN)
    assert not await store.sessions.reschedule(
        session.id, ended.version, T0 + 45 * MIN, T0 + 30 * MIN
    )

    assert await store.sessions.get_session(session.id) == ended
    assert await store.reports.events(session.id) == events_before


async def test_add_interruption_counts_and_logs(store: SqliteStorage) -> None:
    session = await start(store)
    assert await store.sessions.add_interruption(session.id, T0 + 3 * MIN, "phone")
    assert await store.sessions.add_interruption(session.id, T0 + 4 * MIN, "door")
    after = await store.sessions.get_session(session.id)
    assert after is not None
    assert after.interruptions == 2
    assert after.version == 0  # not a plan change
    details = [(e.kind, e.detail) for e in await store.reports.events(session.id)]
    assert details[1:] == [("interruption", "phone"), ("interruption", "door")]


async def test_end_twice_queues_one_summary(store: SqliteStorage) -> None:
    session = await start(store)
    ended = await store.sessions.end_session(
        session.id,
        ended_at=T0 + 25 * MIN,
        focused=24 * MIN + timedelta(seconds=30),
        breaks_taken=1,
        outcome=Outcome.COMPLETED,
        late=True,
        now=T0 + 26 * MIN,
    )
    assert ended is not None
    assert ended.ended_at == T0 + 25 * MIN
    assert ended.focused == 24 * MIN + timedelta(seconds=30)
    assert ended.breaks_taken == 1
    assert ended.outcome is Outcome.COMPLETED
    assert ended.late_summary is True
    assert ended.next_due_at is None
    assert ended.paused_at is None
    assert not ended.running

    again = await store.sessions.end_session(
        session.id,
        ended_at=T0 + 30 * MIN,
        focused=MIN,
        breaks_taken=0,
        outcome=Outcome.ENDED_EARLY,
        late=False,
        now=T0 + 30 * MIN,
    )
    assert again is None
    assert await store.sessions.get_session(session.id) == ended

    [summary] = await store.deliveries.deliveries(session.id)
    assert (summary.slot, summary.kind, summary.status) == (SUMMARY_SLOT, "summary", "pending")
    assert summary.due_at == T0 + 25 * MIN
    assert summary.at == T0 + 26 * MIN
    assert (await event_kinds(store, session.id)).count("ended") == 1


async def test_end_of_paused_session_clears_pause(store: SqliteStorage) -> None:
    session = await start(store)
    assert await store.sessions.pause(session.id, T0 + 5 * MIN, T0 + 65 * MIN)
    ended = await finish(store, session, at=T0 + 9 * MIN, focused=5 * MIN)
    assert ended.paused_at is None
    assert ended.next_due_at is None
    assert await store.sessions.active_session(1, 10) is None


async def test_reschedule_with_old_version_is_ignored(store: SqliteStorage) -> None:
    session = await start(store, due=T0 + 10 * MIN)
    assert session.version == 0
    assert await store.sessions.pause(session.id, T0 + 5 * MIN, T0 + 65 * MIN)

    assert not await store.sessions.reschedule(session.id, 0, T0 + 25 * MIN, T0 + 12 * MIN)
    current = await store.sessions.get_session(session.id)
    assert current is not None
    assert current.next_due_at == T0 + 65 * MIN
    assert current.planned_end_at is None

    assert await store.sessions.reschedule(session.id, 1, None, T0 + 70 * MIN)
    current = await store.sessions.get_session(session.id)
    assert current is not None
    assert current.next_due_at == T0 + 70 * MIN
    assert current.version == 1  # rescheduling is not a plan change


async def test_extend_adds_minutes_and_bumps_version(store: SqliteStorage) -> None:
    session = await start(store, minutes=25)
    assert await store.sessions.extend(session.id, 10, T0 + 20 * MIN, T0 + 35 * MIN, T0 + 25 * MIN)
    after = await store.sessions.get_session(session.id)
    assert after is not None
    assert after.planned_minutes == 35
    assert after.planned_end_at == T0 + 35 * MIN
    assert after.next_due_at == T0 + 25 * MIN
    assert after.version == 1


# --- claims ---------------------------------------------------------------------------------


async def test_claim_refused_while_paused_or_ended(store: SqliteStorage) -> None:
    session = await start(store)
    assert await store.sessions.pause(session.id, T0 + 5 * MIN, T0 + 65 * MIN)
    assert not await store.deliveries.claim(
        session.id, "checkin:1.1", "checkin", T0, T0 + 6 * MIN, **GUARDS
    )
    paused = await store.sessions.get_session(session.id)
    assert paused is not None
    await finish(store, paused, at=T0 + 7 * MIN, focused=5 * MIN)
    assert not await store.deliveries.claim(
        session.id, "checkin:1.2", "checkin", T0, T0 + 8 * MIN, **GUARDS
    )
    assert not await store.deliveries.claim(9999, "checkin:1.1", "checkin", T0, T0, **GUARDS)
    assert [d.slot for d in await store.deliveries.deliveries(session.id)] == [SUMMARY_SLOT]


@pytest.mark.parametrize(
    ("slot", "kind", "event"),
    [
        ("checkin:1.1", "checkin", "nudge"),
        ("break:1", "break", "break"),
        ("back:1", "back", "back"),
    ],
)
async def test_confirm_marks_sent_and_logs(
    store: SqliteStorage, slot: str, kind: str, event: str
) -> None:
    session = await start(store)
    assert await store.deliveries.claim(
        session.id, slot, kind, T0 + 10 * MIN, T0 + 10 * MIN, **GUARDS
    )
    await store.deliveries.confirm(
        session.id, slot, kind, 555, T0 + 10 * MIN + timedelta(seconds=2)
    )
    [record] = await store.deliveries.deliveries(session.id)
    assert record.status == "sent"
    assert record.message_id == 555
    assert record.kind == kind
    assert record.due_at == T0 + 10 * MIN
    assert record.at == T0 + 10 * MIN + timedelta(seconds=2)
    last = (await store.reports.events(session.id))[-1]
    assert (last.kind, last.detail, last.at) == (event, slot, record.at)


async def test_drop_of_claimed_slot(store: SqliteStorage) -> None:
    session = await start(store)
    assert await store.deliveries.claim(
        session.id, "break:1", "break", T0 + 25 * MIN, T0 + 25 * MIN, **GUARDS
    )
    await store.deliveries.drop(
        session.id, "break:1", "break", T0 + 25 * MIN, T0 + 26 * MIN, "not delivered: boom"
    )
    [record] = await store.deliveries.deliveries(session.id)
    assert record.status == "dropped"
    assert record.reason == "not delivered: boom"
    assert record.at == T0 + 26 * MIN
    assert record.message_id is None
    last = (await store.reports.events(session.id))[-1]
    assert (last.kind, last.detail) == ("skipped", "break:1: not delivered: boom")
    # A dropped slot is recorded: it can never be claimed (and so sent) later.
    assert not await store.deliveries.claim(
        session.id, "break:1", "break", T0 + 25 * MIN, T0 + 27 * MIN, **GUARDS
    )


async def test_drop_of_new_slot_records_it(store: SqliteStorage) -> None:
    session = await start(store)
    await store.deliveries.drop(
        session.id, "checkin:1.1", "checkin", T0 + 10 * MIN, T0 + 40 * MIN, "late"
    )
    [record] = await store.deliveries.deliveries(session.id)
    assert (record.status, record.reason, record.due_at) == ("dropped", "late", T0 + 10 * MIN)
    assert not await store.deliveries.claim(
        session.id, "checkin:1.1", "checkin", T0, T0 + 41 * MIN, **GUARDS
    )


async def test_drop_never_overwrites_a_sent_slot(store: SqliteStorage) -> None:
    session = await start(store)
    assert await store.deliveries.claim(session.id, "back:1", "back", T0, T0, **GUARDS)
    await store.deliveries.confirm(session.id, "back:1", "back", 77, T0 + MIN)
    await store.deliveries.drop(session.id, "back:1", "back", T0, T0 + 2 * MIN, "late")
    [record] = await store.deliveries.deliveries(session.id)
    assert (record.status, record.message_id, record.reason) == ("sent", 77, None)
    assert record.at == T0 + MIN


async def test_summary_claim_release_and_confirm(store: SqliteStorage) -> None:
    session = await finish(store, await start(store), at=T0 + 25 * MIN)
    assert await store.deliveries.pending_summaries(T0 + 25 * MIN, 10) == [session.id]

    assert await store.deliveries.claim_summary(session.id, T0 + 25 * MIN)
    assert not await store.deliveries.claim_summary(session.id, T0 + 25 * MIN)
    assert await store.deliveries.pending_summaries(T0 + 25 * MIN, 10) == []
    [record] = await store.deliveries.deliveries(session.id)
    assert record.status == "sending"

    # Released after a failure that surely did not deliver: pending again, due at its retry.
    await store.deliveries.release_summary(session.id, T0 + 26 * MIN, T0 + 26 * MIN + 30 * SEC)
    [record] = await store.deliveries.deliveries(session.id)
    assert (record.status, record.at, record.due_at) == (
        "pending",
        T0 + 26 * MIN,
        T0 + 26 * MIN + 30 * SEC,
    )
    assert await store.deliveries.pending_summaries(T0 + 26 * MIN, 10) == []  # not before its retry
    assert await store.deliveries.soonest_due() == T0 + 26 * MIN + 30 * SEC
    assert await store.deliveries.pending_summaries(T0 + 27 * MIN, 10) == [session.id]

    assert await store.deliveries.claim_summary(session.id, T0 + 27 * MIN)
    await store.deliveries.confirm(session.id, SUMMARY_SLOT, "summary", 901, T0 + 27 * MIN)
    [record] = await store.deliveries.deliveries(session.id)
    assert (record.status, record.message_id) == ("sent", 901)
    assert not await store.deliveries.claim_summary(session.id, T0 + 28 * MIN)
    await store.deliveries.release_summary(
        session.id, T0 + 28 * MIN, T0 + 29 * MIN
    )  # sent stays sent
    assert (await store.deliveries.deliveries(session.id))[0].status == "sent"
    assert await store.deliveries.pending_summaries(T0 + 60 * MIN, 10) == []
    assert (await store.reports.events(session.id))[-1].kind == "summary"


async def test_pending_summaries_oldest_first_and_limited(store: SqliteStorage) -> None:
    ids = []
    for user, end in [(1, 40), (2, 20), (3, 30)]:
        session = await start(store, user=user)
        ids.append((await finish(store, session, at=T0 + end * MIN)).id)
    assert await store.deliveries.pending_summaries(T0 + 60 * MIN, 10) == [ids[1], ids[2], ids[0]]
    assert await store.deliveries.pending_summaries(T0 + 60 * MIN, 2) == [ids[1], ids[2]]
    assert await store.deliveries.pending_summaries(T0 + 35 * MIN, 10) == [ids[1], ids[2]]


async def test_claim_enforces_budget_and_gap_from_storage(store: SqliteStorage) -> None:
    session = await start(store)
    for n in range(8):
        assert await store.deliveries.claim(
            session.id, f"s:{n}", "checkin", T0, T0 + n * 5 * MIN, **GUARDS
        )
    # A ninth, however late: the budget is spent.
    assert not await store.deliveries.claim(
        session.id, "s:8", "checkin", T0, T0 + 90 * MIN, **GUARDS
    )
    other = await start(store, user=2)
    assert await store.deliveries.claim(other.id, "a", "checkin", T0, T0 + 10 * MIN, **GUARDS)
    # 4 minutes 59 seconds later: too soon; at 5 minutes: fine.
    assert not await store.deliveries.claim(
        other.id, "b", "checkin", T0, T0 + 15 * MIN - SEC, **GUARDS
    )
    assert await store.deliveries.claim(other.id, "b", "checkin", T0, T0 + 15 * MIN, **GUARDS)


# --- scheduling queries ---------------------------------------------------------------------


async def test_due_sessions_and_soonest_due(store: SqliteStorage) -> None:
    assert await store.deliveries.soonest_due() is None
    assert await store.deliveries.due_sessions(T0 + 60 * MIN, 10) == []

    a = await start(store, user=1, due=T0 + 5 * MIN)
    b = await start(store, user=2, due=T0 + 1 * MIN)
    c = await start(store, user=3, due=T0 + 10 * MIN)
    d = await start(store, user=4, due=T0 + 2 * MIN)
    await finish(store, d, at=T0 + 3 * MIN)
    e = await start(store, user=5, due=T0 + 9 * MIN)
    assert await store.sessions.pause(
        e.id, T0 + 2 * MIN, T0 + 4 * MIN
    )  # paused still counts as running
    f = await start(store, user=6, due=T0 + 3 * MIN)
    assert await store.sessions.reschedule(f.id, f.version, f.planned_end_at, None)

    due = await store.deliveries.due_sessions(T0 + 6 * MIN, 10)
    assert [s.id for s in due] == [b.id, e.id, a.id]
    assert all(s.running for s in due)
    assert [s.id for s in await store.deliveries.due_sessions(T0 + 6 * MIN, 2)] == [b.id, e.id]
    # Due exactly now counts.
    assert [s.id for s in await store.deliveries.due_sessions(T0 + 5 * MIN, 10)] == [
        b.id,
        e.id,
        a.id,
    ]
    just_before = T0 + 5 * MIN - timedelta(milliseconds=1)
    assert [s.id for s in await store.deliveries.due_sessions(just_before, 10)] == [b.id, e.id]
    assert [s.id for s in await store.deliveries.due_sessions(T0 + 60 * MIN, 10)] == [
        b.id,
        e.id,
        a.id,
        c.id,
    ]
    assert await store.deliveries.soonest_due() == T0 + 1 * MIN

    for session in (a, b, c, e):
        current = await store.sessions.get_session(session.id)
        assert current is not None
        await finish(store, current, at=T0 + 30 * MIN)
    # f runs but has nothing due; the pending summaries of the ended ones are what's left,
    # the earliest being d's (ended at 3).
    assert await store.deliveries.soonest_due() == T0 + 3 * MIN
    assert await store.deliveries.due_sessions(T0 + 600 * MIN, 10) == []
    for session_id in await store.deliveries.pending_summaries(T0 + 600 * MIN, 10):
        assert await store.deliveries.claim_summary(session_id, T0 + 31 * MIN)
    assert await store.deliveries.soonest_due() is None


# --- scoring --------------------------------------------------------------------------------


async def test_set_score_rules(store: SqliteStorage) -> None:
    running = await start(store, user=1)
    assert await store.sessions.set_score(running.id, 1, 4, T0 + MIN) == (False, None)
    assert (await store.sessions.get_session(running.id)).score is None  # type: ignore[union-attr]

    ended = await finish(store, running, at=T0 + 25 * MIN)
    assert await store.sessions.set_score(ended.id, 2, 4, T0 + 26 * MIN) == (False, None)
    assert await store.sessions.set_score(9999, 1, 4, T0 + 26 * MIN) == (False, None)
    assert (await store.sessions.get_session(ended.id)).score is None  # type: ignore[union-attr]

    assert await store.sessions.set_score(ended.id, 1, 4, T0 + 26 * MIN) == (True, None)
    assert await store.sessions.set_score(ended.id, 1, 2, T0 + 27 * MIN) == (True, 4)
    scored = await store.sessions.get_session(ended.id)
    assert scored is not None
    assert (scored.score, scored.scored_at) == (2, T0 + 27 * MIN)
    scores = [(e.kind, e.detail) for e in await store.reports.events(ended.id) if e.kind == "score"]
    assert scores == [("score", "4"), ("score", "2")]


async def test_scorable_session_choice(store: SqliteStorage) -> None:
    async def session_at(hour: int, *, user: int = 1, chat: int = 10) -> Session:
        begun = await start(store, user=user, chat=chat, at=T0 + hour * 60 * MIN)
        return await finish(store, begun, at=begun.started_at + 25 * MIN)

    early = await session_at(0)  # ends before `since`, unscored
    scored_a = await session_at(1)
    unscored = await session_at(2)
    scored_b = await session_at(3)
    await session_at(4, chat=11)  # another chat, unscored, latest
    await session_at(5, user=2)  # another user
    await start(store, at=T0 + 6 * 60 * MIN)  # running, not scorable
    assert await store.sessions.set_score(scored_a.id, 1, 3, T0 + 7 * 60 * MIN) == (True, None)
    assert await store.sessions.set_score(scored_b.id, 1, 5, T0 + 7 * 60 * MIN) == (True, None)

    since = T0 + 30 * MIN
    choice = await store.sessions.scorable_session(1, 10, since)
    assert choice is not None
    assert choice.id == unscored.id  # unscored wins over the later scored one

    assert await store.sessions.set_score(unscored.id, 1, 4, T0 + 8 * 60 * MIN) == (True, None)
    choice = await store.sessions.scorable_session(1, 10, since)
    assert choice is not None
    assert choice.id == scored_b.id  # all scored: the latest ended one

    # `since` is inclusive on ended_at; before it nothing counts, even unscored.
    choice = await store.sessions.scorable_session(1, 10, early.ended_at)  # type: ignore[arg-type]
    assert choice is not None
    assert choice.id == early.id
    assert await store.sessions.scorable_session(1, 10, T0 + 4 * 60 * MIN) is None
    assert await store.sessions.scorable_session(3, 10, T0) is None


# --- history queries ------------------------------------------------------------------------


async def test_earlier_focus_and_completed_starts(store: SqliteStorage) -> None:
    hour = 60 * MIN
    s1 = await finish(store, await start(store, at=T0), at=T0 + 25 * MIN, focused=20 * MIN)
    s2 = await finish(
        store,
        await start(store, at=T0 + hour, scale=3.0),
        at=T0 + hour + 12 * MIN,
        focused=10 * MIN,
    )
    await finish(store, await start(store, user=2, at=T0), at=T0 + 50 * MIN, focused=50 * MIN)
    s4 = await finish(
        store,
        await start(store, chat=11, at=T0 + 2 * hour),
        at=T0 + 2 * hour + 5 * MIN,
        focused=5 * MIN,
        outcome=Outcome.ENDED_EARLY,
    )
    await start(store, chat=12, at=T0 + 150 * MIN)  # running: never counted
    s5 = await finish(store, await start(store, at=T0 + 3 * hour), at=T0 + 3 * hour + 60 * MIN)

    assert await store.reports.earlier_focus(1, s1.id) == (0, 0.0)
    assert await store.reports.earlier_focus(1, s2.id) == (1, 1_200_000.0)
    # 20 min, 10 min at scale 3 (30 nominal), 5 min: (1.2M + 1.8M + 0.3M) / 3 ms.
    assert await store.reports.earlier_focus(1, s5.id) == (3, 1_100_000.0)
    assert await store.reports.earlier_focus(1, s5.id + 100) == (4, (3_300_000 + 3_600_000) / 4)
    assert await store.reports.earlier_focus(3, s5.id) == (0, 0.0)
    assert s2.focused_minutes() == pytest.approx(30.0)

    assert await store.reports.completed_starts(1, T0 + 30 * MIN) == [s5.started_at, s2.started_at]
    assert await store.reports.completed_starts(1, T0) == [
        s5.started_at,
        s2.started_at,
        s1.started_at,
    ]
    assert await store.reports.completed_starts(1, T0 + 3 * hour) == [T0 + 3 * hour]
    assert await store.reports.completed_starts(1, T0 + 3 * hour + MIN) == []
    assert await store.reports.completed_starts(2, T0) == [T0]
    assert s4.started_at not in await store.reports.completed_starts(1, T0)


# --- times ----------------------------------------------------------------------------------


async def test_times_round_trip_as_utc(store: SqliteStorage) -> None:
    plus_two = timezone(timedelta(hours=2))
    moment = (T0 + timedelta(microseconds=123_456)).astimezone(plus_two)
    session = await start(store, at=moment, due=moment + timedelta(microseconds=999))
    for value in (session.started_at, (await store.sessions.get_session(session.id)).started_at):  # type: ignore[union-attr]
        assert value.utcoffset() == timedelta(0)
        assert value.tzinfo is UTC
        assert abs(value - moment) < timedelta(milliseconds=1)
        assert value == T0 + timedelta(milliseconds=123)
    # A due time is rounded *up* (123.456 + 0.999 ms -> 125 ms): never due before the policy
    # says so, which would make the dispatcher spin.
    assert session.next_due_at == T0 + timedelta(milliseconds=125)
    assert (
        await scalar(
            store.connection, "SELECT started_at FROM sessions WHERE id = ?", (session.id,)
        )
        == to_ms(T0) + 123
    )
    [started] = await store.reports.events(session.id)
    assert started.at == T0 + timedelta(milliseconds=123)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_ms(datetime(2026, 3, 9, 9, 0))  # noqa: DTZ001 - the point of the test


async def test_naive_datetime_never_reaches_the_file(store: SqliteStorage) -> None:
    naive = datetime(2026, 3, 9, 9, 0)  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        await start(store, at=naive, due=T0)
    assert not store.connection.inline.in_transaction
    assert await scalar(store.connection, "SELECT count(*) FROM users") == 0


@settings(max_examples=300, database=None, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=5, minutes=30))]
        ),
    )
)
def test_ms_conversion_is_exact_to_the_millisecond(moment: datetime) -> None:
    ms = to_ms(moment)
    back = from_ms(ms)
    assert back.tzinfo is UTC
    assert abs(back - moment) <= timedelta(microseconds=500)
    aligned = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert from_ms(to_ms(aligned)) == aligned


# --- the event log --------------------------------------------------------------------------


async def test_event_log_of_a_whole_session(store: SqliteStorage) -> None:
    session = await start(store, minutes=25)
    assert await store.sessions.pause(session.id, T0 + 5 * MIN, T0 + 65 * MIN)
    paused = await store.sessions.get_session(session.id)
    assert paused is not None
    assert await store.sessions.resume(paused, T0 + 8 * MIN, T0 + 28 * MIN, T0 + 12 * MIN)
    assert await store.sessions.extend(session.id, 10, T0 + 9 * MIN, T0 + 38 * MIN, T0 + 12 * MIN)
    assert await store.sessions.add_interruption(session.id, T0 + 10 * MIN, "phone")
    assert await store.deliveries.claim(
        session.id, "checkin:1.1", "checkin", T0 + 12 * MIN, T0 + 12 * MIN, **GUARDS
    )
    await store.deliveries.confirm(session.id, "checkin:1.1", "checkin", 11, T0 + 12 * MIN)
    await store.deliveries.drop(
        session.id, "break:1", "break", T0 + 13 * MIN, T0 + 13 * MIN, "quiet"
    )
    current = await store.sessions.get_session(session.id)
    assert current is not None
    await finish(store, current, at=T0 + 38 * MIN, focused=35 * MIN)
    assert await store.deliveries.claim_summary(session.id, T0 + 38 * MIN)
    await store.deliveries.confirm(session.id, SUMMARY_SLOT, "summary", 12, T0 + 38 * MIN)
    assert await store.sessions.set_score(session.id, 1, 4, T0 + 40 * MIN) == (True, None)

    log = [(e.kind, e.at, e.detail) for e in await store.reports.events(session.id)]
    assert log == [
        ("started", T0, "25 min"),
        ("paused", T0 + 5 * MIN, None),
        ("interruption", T0 + 5 * MIN, "pause"),
        ("resumed", T0 + 8 * MIN, "180000 ms"),
        ("extended", T0 + 9 * MIN, "+10 min"),
        ("interruption", T0 + 10 * MIN, "phone"),
        ("nudge", T0 + 12 * MIN, "checkin:1.1"),
        ("skipped", T0 + 13 * MIN, "break:1: quiet"),
        ("ended", T0 + 38 * MIN, "completed"),
        ("summary", T0 + 38 * MIN, SUMMARY_SLOT),
        ("score", T0 + 40 * MIN, "4"),
    ]
    final = await store.sessions.get_session(session.id)
    assert final is not None
    assert (final.planned_minutes, final.interruptions, final.version) == (35, 2, 3)
    assert final.paused == 3 * MIN
    assert {(d.slot, d.status) for d in await store.deliveries.deliveries(session.id)} == {
        ("checkin:1.1", "sent"),
        ("break:1", "dropped"),
        (SUMMARY_SLOT, "sent"),
    }
    other = await start(store, user=2)
    assert [e.kind for e in await store.reports.events(other.id)] == ["started"]


async def test_set_card_is_stored(store: SqliteStorage) -> None:
    session = await start(store)
    await store.sessions.set_card(session.id, 4242)
    stored = await store.sessions.get_session(session.id)
    assert stored is not None
    assert stored.card_message_id == 4242


# --- crash safety ---------------------------------------------------------------------------


async def test_committed_data_is_visible_to_a_second_connection(
    store: SqliteStorage, db_path: Path
) -> None:
    session = await start(store, label="before the crash")
    assert await store.deliveries.claim(
        session.id, "checkin:1.1", "checkin", T0, T0 + 10 * MIN, **GUARDS
    )
    # A second process opens the file while the first never closed its connection (as after
    # a SIGKILL: the kernel dropped the first one's process lock).
    _lock_dropped_as_at_death(store)
    second = await open_storage(db_path)
    try:
        assert await second.sessions.get_session(session.id) == session
        [record] = await second.deliveries.deliveries(session.id)
        assert (record.slot, record.status) == ("checkin:1.1", "sending")
        # A transaction the first connection has not committed stays invisible.
        await store.connection.execute("BEGIN IMMEDIATE")
        await store.connection.execute(
            "INSERT INTO users (id, created_at) VALUES (99, ?)", (to_ms(T0),)
        )
        assert await second.users.get_user(99) is None
        await store.connection.rollback()
        assert await second.integrity_check() == "ok"
    finally:
        await second.close()


def _lock_dropped_as_at_death(store: SqliteStorage) -> None:
    """Let a second store open the file while ``store`` is still open, as the kernel lets a
    new process in once the old one died (its ``flock`` goes with it)."""
    lock = store.connection.lock
    assert lock is not None
    lock.release()


_CRASHING_WRITER = """
import asyncio, os, signal, sys
from datetime import datetime, timedelta
from storage import open_storage

async def main():
    t0 = datetime.fromisoformat(sys.argv[2])
    store = await open_storage(sys.argv[1])
    s = await store.sessions.start_session(
        user_id=1, chat_id=10, label="killed", planned_minutes=25, block_minutes=25,
        break_minutes=5, checkins=True, time_scale=1.0, now=t0,
        planned_end_at=t0 + timedelta(minutes=25), next_due_at=t0 + timedelta(minutes=10))
    assert await store.deliveries.claim(s.id, "checkin:1.1", "checkin", t0, t0,
                            max_messages=8, min_gap=timedelta(minutes=5))
    print(s.id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


async def test_data_survives_a_killed_process(db_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CRASHING_WRITER,
        str(db_path),
        T0.isoformat(),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == -signal.SIGKILL, err.decode()
    session_id = int(out.decode().strip())
    wal = db_path.with_name(db_path.name + "-wal")
    assert wal.exists()
    assert wal.stat().st_size > 0  # the commits live only in the WAL: recovery is tested

    store = await open_storage(db_path)
    try:
        session = await store.sessions.get_session(session_id)
        assert session is not None
        assert (session.label, session.started_at, session.running) == ("killed", T0, True)
        [record] = await store.deliveries.deliveries(session_id)
        assert (record.slot, record.status) == ("checkin:1.1", "sending")
        assert await event_kinds(store, session_id) == ["started"]
        assert await store.integrity_check() == "ok"
        # The claim made before the crash still blocks a second send after restart.
        assert not await store.deliveries.claim(
            session_id, "checkin:1.1", "checkin", T0, T0 + MIN, **GUARDS
        )
    finally:
        await store.close()


# --- one trip to SQLite's thread per operation, and the users kept in memory ---------------


async def test_short_operations_run_inline_and_long_ones_take_one_trip(
    store: SqliteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = 0
    real = store.connection._execute

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal trips
        trips += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(store.connection, "_execute", counted)
    session = await start(store)
    short = [
        store.deliveries.claim(
            session.id, "checkin:1.1", "checkin", T0, T0 + 10 * MIN, **GUARDS, version=0
        ),
        store.deliveries.confirm(
            session.id, "checkin:1.1", "checkin", 7, T0 + 10 * MIN, then=(0, None, None)
        ),
        store.sessions.session_and_deliveries(session.id),
        store.deliveries.due_work(T0 + 60 * MIN, 500),
        store.sessions.pause(session.id, T0 + 11 * MIN, T0 + 41 * MIN),
        store.deliveries.drop(session.id, "break:1", "break", T0, T0, "late", version=1),
    ]
    for operation in short:
        await operation
    assert trips == 0
    for operation in (
        store.reports.history(1, 0, 10),
        store.reports.session_facts(1, None, T0 + 60 * MIN),
        store.reports.export_rows(1),
    ):
        trips = 0
        await operation
        assert trips == 1
    trips = 0
    await store.users.delete_user(1)  # a write: inline, like every write (the thread never writes)
    assert trips == 0
    assert await store.sessions.get_session(session.id) is None


async def test_memory_databases_are_refused() -> None:
    with pytest.raises(StorageUnavailable, match="needs a file"):
        await connect(":memory:")


async def test_confirm_stores_the_next_look_only_for_the_version_decided_on(
    store: SqliteStorage,
) -> None:
    session = await start(store)
    slot = ("checkin:1.1", "checkin")
    assert await store.deliveries.claim(session.id, *slot, T0, T0 + 10 * MIN, **GUARDS, version=0)
    later = T0 + 20 * MIN
    assert await store.deliveries.confirm(
        session.id, *slot, 7, T0 + 10 * MIN, then=(0, None, later)
    )
    stored = await store.sessions.get_session(session.id)
    assert stored is not None and stored.next_due_at == later
    [record] = await store.deliveries.deliveries(session.id)
    assert (record.status, record.message_id) == ("sent", 7)
    # Paused meanwhile (version 1): the delivery is still confirmed, the schedule is not.
    assert await store.deliveries.claim(
        session.id, "checkin:1.2", "checkin", T0, later, **GUARDS, version=0
    )
    assert await store.sessions.pause(session.id, later, later + 30 * MIN)
    assert not await store.deliveries.confirm(
        session.id, "checkin:1.2", "checkin", 8, later, then=(0, None, later + MIN)
    )
    assert {r.slot: r.status for r in await store.deliveries.deliveries(session.id)}[
        "checkin:1.2"
    ] == "sent"
    stored = await store.sessions.get_session(session.id)
    assert stored is not None and stored.next_due_at == later + 30 * MIN


async def test_claim_and_drop_with_a_version_refuse_a_changed_session(store: SqliteStorage) -> None:
    session = await start(store)
    assert await store.sessions.pause(session.id, T0 + MIN, T0 + 31 * MIN)  # version 0 -> 1
    assert not await store.deliveries.claim(
        session.id, "checkin:1.1", "checkin", T0, T0, **GUARDS, version=0
    )
    assert not await store.deliveries.drop(
        session.id, "break:1", "break", T0, T0, "late", version=0
    )
    assert await store.deliveries.deliveries(session.id) == []
    assert await store.deliveries.drop(session.id, "break:1", "break", T0, T0, "late", version=1)
    assert [r.status for r in await store.deliveries.deliveries(session.id)] == ["dropped"]


async def test_users_kept_in_memory_follow_every_change(
    store: SqliteStorage, db_path: Path
) -> None:
    assert await store.users.get_user(1) is None
    created = await store.users.ensure_user(1, T0)
    assert await store.users.get_user(1) == created
    changed = await store.users.update_user(1, T0, timezone="Europe/Berlin", quiet=True)
    assert await store.users.get_user(1) == changed
    assert (changed.timezone, changed.quiet) == ("Europe/Berlin", True)
    # A fresh store on the same file (a restart) reads the same user.
    _lock_dropped_as_at_death(store)
    second = await open_storage(db_path)
    try:
        assert await second.users.get_user(1) == changed
    finally:
        await second.close()
    await store.users.delete_user(1)
    assert await store.users.get_user(1) is None
    assert (await store.users.ensure_user(1, T0 + MIN)).timezone == "UTC"


async def test_users_kept_in_memory_are_bounded(
    store: SqliteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.sqlite.users, "USER_CACHE", 3)
    for user_id in range(1, 11):
        await store.users.ensure_user(user_id, T0)
    assert len(store.users._users) == 3
    assert [u.id for u in [await store.users.get_user(i) for i in range(1, 11)] if u] == list(
        range(1, 11)
    )
    assert len(store.users._users) == 3


# --- group commit: the writes of one turn of the event loop share a transaction --------------


async def test_concurrent_writes_share_one_commit_and_are_all_visible(
    store: SqliteStorage, db_path: Path
) -> None:
    sessions = [await start(store, chat=10 + i) for i in range(5)]
    statements: list[str] = []
    store.connection.inline.set_trace_callback(statements.append)
    await asyncio.gather(*(store.sessions.set_card(s.id, 100 + s.id) for s in sessions))
    store.connection.inline.set_trace_callback(None)
    assert sum(1 for sql in statements if sql.strip().upper() == "COMMIT") == 1
    assert sum(1 for sql in statements if sql.startswith("UPDATE sessions")) == 5
    # Committed by the time the writes returned: another connection sees every one.
    _lock_dropped_as_at_death(store)
    second = await open_storage(db_path)
    try:
        for s in sessions:
            stored = await second.sessions.get_session(s.id)
            assert stored is not None and stored.card_message_id == 100 + s.id
    finally:
        await second.close()


async def test_a_failing_write_in_a_shared_commit_is_undone_alone(store: SqliteStorage) -> None:
    first = await start(store, chat=10)
    other = await start(store, chat=11, minutes=175)
    outcomes = await asyncio.gather(
        store.sessions.set_card(first.id, 7),
        store.sessions.extend(other.id, 10, T0 + MIN, T0 + 185 * MIN, T0 + 20 * MIN),  # CHECK fails
        store.sessions.pause(first.id, T0 + MIN, T0 + 31 * MIN),
        return_exceptions=True,
    )
    assert outcomes[0] is None and isinstance(outcomes[2], Session)
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    stored = await store.sessions.get_session(first.id)
    assert stored is not None and stored.card_message_id == 7 and stored.paused_at is not None
    assert await store.sessions.get_session(other.id) == other
    assert await event_kinds(store, other.id) == ["started"]
    assert not store.connection.inline.in_transaction


async def test_a_failing_first_write_of_a_turn_leaves_the_next_ones_theirs(
    store: SqliteStorage,
) -> None:
    first = await start(store, chat=10)
    other = await start(store, chat=11, minutes=175)
    outcomes = await asyncio.gather(
        store.sessions.extend(other.id, 10, T0 + MIN, T0 + 185 * MIN, T0 + 20 * MIN),  # CHECK fails
        store.sessions.set_card(first.id, 7),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], sqlite3.IntegrityError) and outcomes[1] is None
    stored = await store.sessions.get_session(first.id)
    assert stored is not None and stored.card_message_id == 7
    assert await store.sessions.get_session(other.id) == other
    assert not store.connection.inline.in_transaction


# --- one facade over aggregates, the domain's vocabulary, named /stats rows ----------------


def _public(names: Iterable[str]) -> set[str]:
    return {name for name in names if not name.startswith("_")}


@pytest.mark.parametrize(
    ("implementation", "port"),
    [
        (SqliteUsers, UserStore),
        (SqliteSessions, SessionStore),
        (SqliteDeliveries, DeliveryStore),
        (SqliteReports, ReportStore),
        (SqliteCompanion, CompanionStore),
        (SqliteNotes, NoteStore),
    ],
)
def test_each_sqlite_aggregate_offers_exactly_its_port(implementation: type, port: type) -> None:
    # Nothing SQLite-only for the application to come to depend on: a second backend that
    # implements the Protocol offers everything the bot may call.
    assert _public(dir(implementation)) == _public(dir(port))
    assert _public(dir(port))  # not vacuous


async def test_the_facade_offers_the_storage_port_and_only_tests_see_more(
    store: SqliteStorage,
) -> None:
    port = _public(vars(Storage)) | _public(Storage.__annotations__)
    assert port == {
        "users",
        "sessions",
        "deliveries",
        "reports",
        "companion",
        "notes",
        "records",
        "reminders",
        "cards",
        "close",
        "integrity_check",
    }
    assert _public(dir(store)) - port == {"connection"}  # for tests that inspect the file
    for aggregate, port_of_it in [
        (store.users, UserStore),
        (store.sessions, SessionStore),
        (store.deliveries, DeliveryStore),
        (store.reports, ReportStore),
        (store.companion, CompanionStore),
        (store.notes, NoteStore),
        (store.records, RecordStore),
        (store.reminders, ReminderStore),
        (store.cards, CardStore),
    ]:
        assert port_of_it in type(aggregate).__mro__, aggregate


def test_storage_never_imports_the_application() -> None:
    imported: dict[str, set[str]] = {}
    for path in (REPO_ROOT / "storage").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                imported.setdefault(name.split(".")[0], set()).add(path.name)
    assert "sqlite3" in imported  # the scan sees imports at all
    assert "bot" not in imported and "telegram" not in imported, imported


def test_schema_and_domain_share_the_delivery_vocabulary() -> None:
    schema = "".join(sql for _, sql in migrations())

    def allowed(column: str) -> set[str]:
        match = re.search(
            rf"\b{column}\s+TEXT\s+NOT NULL\s+CHECK \({column} IN \(([^)]*)\)\)", schema
        )
        assert match is not None, column
        return {value.strip().strip("'") for value in match.group(1).split(",")}

    assert allowed("kind") == {kind.value for kind in SlotKind}
    assert allowed("status") == {status.value for status in DeliveryStatus}


async def test_records_carry_the_domain_enums_and_the_file_the_same_strings(
    store: SqliteStorage,
) -> None:
    session = await start(store)
    assert await store.deliveries.claim(
        session.id, "checkin:1.1", SlotKind.CHECKIN, T0, T0, **GUARDS
    )
    assert await store.deliveries.claim(
        session.id, "break:1", SlotKind.BREAK, T0, T0 + 5 * MIN, **GUARDS
    )
    await store.deliveries.confirm(session.id, "checkin:1.1", SlotKind.CHECKIN, 1, T0 + SEC)
    await store.deliveries.drop(session.id, "back:1", SlotKind.BACK, T0, T0 + 6 * MIN, "late")
    await finish(store, session, at=T0 + 25 * MIN)
    records = {r.slot: (r.kind, r.status) for r in await store.deliveries.deliveries(session.id)}
    assert records == {
        "checkin:1.1": (SlotKind.CHECKIN, DeliveryStatus.SENT),
        "break:1": (SlotKind.BREAK, DeliveryStatus.SENDING),
        "back:1": (SlotKind.BACK, DeliveryStatus.DROPPED),
        SUMMARY_SLOT: (SlotKind.SUMMARY, DeliveryStatus.PENDING),
    }
    for kind, status in records.values():
        assert type(kind) is SlotKind and type(status) is DeliveryStatus
    stored = await rows(store.connection, "SELECT slot, kind, status FROM deliveries ORDER BY slot")
    assert stored == [
        ("back:1", "back", "dropped"),
        ("break:1", "break", "sending"),
        ("checkin:1.1", "checkin", "sent"),
        ("summary", "summary", "pending"),
    ]
    assert [type(value) for row in stored for value in row] == [str] * 12


async def test_stats_aggregates_come_as_named_rows(store: SqliteStorage) -> None:
    day = to_ms(T0) // 86_400_000
    labelled = await start(store, at=T0, minutes=25, label="write")  # 09:00 UTC
    await store.sessions.set_score(
        (await finish(store, labelled, at=T0 + 25 * MIN)).id, 1, 4, T0 + 26 * MIN
    )
    long = await start(store, at=T0 + 60 * MIN, minutes=50)  # 10:00, planned over 45
    long = await finish(
        store, long, at=T0 + 90 * MIN, focused=30 * MIN, outcome=Outcome.ENDED_EARLY
    )
    await store.sessions.set_score(long.id, 1, 2, T0 + 91 * MIN)
    tomorrow = await start(store, at=T0 + 24 * 60 * MIN, minutes=25)  # next day, 09:00
    await finish(store, tomorrow, at=T0 + 24 * 60 * MIN + 25 * MIN)
    await start(store, user=2, at=T0)  # another user's, running: never counted

    totals = await store.reports.stats_aggregates(1, None, T0 + 48 * 60 * MIN, ((), 0), 45)

    assert totals.labelled == LabelledTotals(sessions=1, completed=1.0)
    assert totals.days == [
        DayTotals(
            day=day,
            sessions=2,
            focused=55.0,
            completed=1.0,
            planned=75.0,
            interruptions=0.0,
            scored=2,
            score_sum=6.0,
            long_scored=1.0,
            long_score_sum=2.0,
            short_score_sum=4.0,
        ),
        DayTotals(day + 1, 1, 25.0, 1.0, 25.0, 0.0, 0, 0.0, 0.0, 0.0, 0.0),
    ]
    assert totals.hours == [
        HourTotals(hour=9, focused=50.0, scored=1, score_sum=4.0),
        HourTotals(hour=10, focused=30.0, scored=1, score_sum=2.0),
    ]
    assert totals.summed() == DayTotals(0, 3, 80.0, 2.0, 100.0, 0.0, 2, 6.0, 1.0, 2.0, 4.0)
    nothing = await store.reports.stats_aggregates(2, None, T0 + 48 * 60 * MIN, ((), 0), 45)
    assert nothing == StatsTotals(LabelledTotals(0, 0.0), [], [])
    assert nothing.summed() == DayTotals(0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 0.0, 0.0)


def test_refused_writes_are_told_once_a_minute_and_their_end_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    health = storage.sqlite.db.WriteHealth("focus.db", monotonic=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="storage.sqlite.db"):
        for second in range(0, 150):  # a refused write every second for 150 s
            now[0] = float(second)
            health.refused("full")
        now[0] = 151.0
        health.wrote()
        health.wrote()  # already fine: nothing more to say
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4, lines  # at 0 s, 60 s, 120 s, and the recovery
    assert all("the disk is full" in line for line in lines[:3])
    assert "61 change(s) refused" in lines[1]
    assert lines[3] == "focus.db: writes work again after 151 s (150 change(s) were refused)"
    assert health.refusals == 150
