"""The companion's storage on real SQLite files: answers kept on their deliveries, the first
one only, the version bumped; the start energy until the first check-in; the history the
cadence learns from; and the database's own checks (migration 006)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from nudges import SlotKind
from nudges.companion import Answer, Energy, Reason
from storage import Outcome, Session, SqliteStorage, open_storage
from tests.support.fakes import T0

MIN = timedelta(minutes=1)
GUARDS = {"max_messages": 8, "min_gap": 5 * MIN}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    opened = await open_storage(tmp_path / "focus.db")
    try:
        yield opened
    finally:
        await opened.close()


async def start(
    store: SqliteStorage, *, chat: int = 10, checkin_minutes: int | None = None
) -> Session:
    return await store.sessions.start_session(
        user_id=1,
        chat_id=chat,
        label=None,
        planned_minutes=45,
        block_minutes=25,
        break_minutes=5,
        checkins=True,
        time_scale=1.0,
        now=T0,
        planned_end_at=T0 + 50 * MIN,
        next_due_at=T0 + 12 * MIN,
        checkin_minutes=checkin_minutes,
    )


async def deliver(
    store: SqliteStorage, session: Session, slot: str, kind: SlotKind, minute: int, message: int
) -> None:
    at = T0 + minute * MIN
    assert await store.deliveries.claim(
        session.id, slot, kind, at, at, version=session.version, **GUARDS
    )
    await store.deliveries.confirm(session.id, slot, kind, message, at)


async def test_an_answer_is_kept_once_on_its_delivery_and_bumps_the_version(
    store: SqliteStorage,
) -> None:
    session = await start(store)
    await deliver(store, session, "checkin:1.1", SlotKind.CHECKIN, 12, message=77)
    fresh, records, recorded = await store.companion.answer(
        session.id, 77, Answer.DISTRACTED, 12 * MIN, T0 + 13 * MIN
    )
    assert recorded and fresh is not None and fresh.version == session.version + 1
    [record] = records
    assert (record.answer, record.answered_at, record.answer_active) == (
        Answer.DISTRACTED,
        T0 + 13 * MIN,
        12 * MIN,
    )
    # A second answer, of either kind, changes nothing.
    again, records, recorded = await store.companion.answer(
        session.id, 77, Answer.ON_TRACK, 13 * MIN, T0 + 14 * MIN
    )
    assert not recorded and again is not None and again.version == fresh.version
    assert records[0].answer is Answer.DISTRACTED
    assert await store.companion.set_reason(session.id, 77, Reason.PHONE)
    assert await store.companion.set_reason(session.id, 77, Reason.TIRED)  # may be changed
    assert (await store.deliveries.deliveries(session.id))[0].answer_reason is Reason.TIRED


async def test_answers_only_fit_their_kind_of_message_and_running_sessions(
    store: SqliteStorage,
) -> None:
    session = await start(store)
    await deliver(store, session, "checkin:1.1", SlotKind.CHECKIN, 12, message=77)
    await deliver(store, session, "break:1", SlotKind.BREAK, 25, message=78)
    # No such message; a longer break on a check-in; 👍 on a break message.
    for message, answer in [
        (99, Answer.ON_TRACK),
        (77, Answer.LONGER_BREAK),
        (78, Answer.ON_TRACK),
    ]:
        _, _, recorded = await store.companion.answer(session.id, message, answer, MIN, T0)
        assert not recorded, (message, answer)
    # A reason needs a 😵 answer first.
    assert not await store.companion.set_reason(session.id, 77, Reason.PHONE)
    await store.sessions.end_session(
        session.id,
        ended_at=T0 + 30 * MIN,
        focused=25 * MIN,
        breaks_taken=1,
        outcome=Outcome.ENDED_EARLY,
        late=False,
        now=T0 + 30 * MIN,
    )
    _, _, recorded = await store.companion.answer(session.id, 77, Answer.ON_TRACK, MIN, T0)
    assert not recorded  # ended


async def test_start_energy_until_the_first_checkin(store: SqliteStorage) -> None:
    session = await start(store)
    assert session.start_energy is None  # no answer is fine, and stored as such
    assert await store.companion.set_energy(session.id, Energy.FRESH)
    assert await store.companion.set_energy(session.id, Energy.TIRED)
    await deliver(store, session, "checkin:1.1", SlotKind.CHECKIN, 12, message=77)
    assert not await store.companion.set_energy(session.id, Energy.OK)
    stored = await store.sessions.get_session(session.id)
    assert stored is not None and stored.start_energy is Energy.TIRED


async def test_answer_history_is_the_persons_latest_oldest_first(store: SqliteStorage) -> None:
    answers = [Answer.ON_TRACK, Answer.DISTRACTED, Answer.ON_TRACK]
    for n, answer in enumerate(answers):
        session = await start(store, chat=10 + n)
        await deliver(store, session, "checkin:1.1", SlotKind.CHECKIN, 12, message=100 + n)
        await store.companion.answer(session.id, 100 + n, answer, MIN, T0 + (20 + n) * MIN)
    assert await store.companion.answer_history(1, 2, 5) == (answers[1:], [])
    assert await store.companion.answer_history(2, 20, 5) == ([], [])  # someone else


async def test_the_database_checks_what_the_companion_stores(store: SqliteStorage) -> None:
    session = await start(store, checkin_minutes=12)
    assert session.checkin_minutes == 12

    await deliver(store, session, "checkin:1.1", SlotKind.CHECKIN, 12, message=77)
    for sql in [
        "UPDATE sessions SET start_energy = 'sleepy'",
        "UPDATE sessions SET checkin_minutes = 2",
        "UPDATE deliveries SET answer = 'maybe'",
        "UPDATE deliveries SET answer_reason = 'cat'",
        "UPDATE deliveries SET answer_active_ms = -1",
    ]:
        with pytest.raises(sqlite3.IntegrityError):
            await store.connection.execute(sql)


async def test_period_totals_count_ended_sessions_started_in_the_period(
    store: SqliteStorage,
) -> None:
    ended = await start(store, chat=10)
    running = await start(store, chat=11)
    for session, message in [(ended, 70), (running, 71)]:
        await deliver(store, session, "checkin:1.1", SlotKind.CHECKIN, 12, message=message)
        await store.companion.answer(session.id, message, Answer.DISTRACTED, 12 * MIN, T0)
        await store.companion.set_reason(session.id, message, Reason.PEOPLE)
    await store.sessions.end_session(
        ended.id,
        ended_at=T0 + 50 * MIN,
        focused=45 * MIN,
        breaks_taken=1,
        outcome=Outcome.COMPLETED,
        late=False,
        now=T0 + 50 * MIN,
    )
    await store.sessions.set_score(ended.id, 1, 3, T0 + 51 * MIN)
    totals = await store.companion.period_totals(1, T0 - MIN, T0 + MIN)
    assert totals.reasons == [(Reason.PEOPLE, 1)]  # the running one does not count yet
    assert totals.energies == [(None, 1, 3.0)]
    assert totals.flowing == []
    assert (await store.companion.period_totals(1, T0 + MIN, T0 + 60 * MIN)).reasons == []
    assert await store.companion.reasons_by_session(1) == {
        ended.id: [Reason.PEOPLE],
        running.id: [Reason.PEOPLE],
    }
