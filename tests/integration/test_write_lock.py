"""Another program holding the database's write lock (an ``sqlite3`` shell in a transaction,
a backup tool) must not freeze the bot: a write waits for it asleep, off the event loop, so
other people's replies go on; it completes when the lock goes, or gets an honest answer
after ``BUSY_WAIT``."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import storage.sqlite.db
from bot.telegram import texts
from tests.support.harness import BotHarness

HOLDER, OTHER = 8001, 8002


@pytest.fixture
def foreign(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection to the bot's file, as another program would open it."""
    connection = sqlite3.connect(tmp_path / "focus.db", isolation_level=None)
    yield connection
    connection.close()


async def timed(bot: BotHarness, text: str, user: int) -> tuple[float, list[str]]:
    start = time.monotonic()
    answer = await bot.send(text, user_id=user)
    return time.monotonic() - start, [m.shown_text or "" for m in answer if m.chat_id == user]


async def test_a_held_write_lock_delays_only_the_writer_who_then_completes(
    tmp_path: Path, foreign: sqlite3.Connection
) -> None:
    async with BotHarness(tmp_path / "focus.db") as bot:
        await bot.send("/start", user_id=HOLDER)
        await bot.send("/start", user_id=OTHER)
        foreign.execute("BEGIN IMMEDIATE")  # held for 3 s, then released
        asyncio.get_running_loop().call_later(3, foreign.rollback)
        start = time.monotonic()
        writer = asyncio.create_task(timed(bot, "/focus 25 blocked", HOLDER))
        await asyncio.sleep(0.2)  # the writer is waiting for the lock now
        helps = [await timed(bot, "/help", OTHER) for _ in range(5)]
        help_done = time.monotonic() - start
        waited, answer = await writer
        assert help_done < 2.5, helps  # all five answered while the lock was held
        assert max(t for t, _ in helps) < 0.5, helps
        assert all("/focus" in a[0] for _, a in helps)
        assert waited >= 2.5  # it waited for the lock ...
        assert "25" in answer[0] and "blocked" in answer[0]  # ... and then started the session
        session = await bot.service.store.sessions.active_session(HOLDER, HOLDER)
        assert session is not None and session.label == "blocked"


async def test_a_lock_held_too_long_gets_an_honest_answer_and_changes_nothing(
    tmp_path: Path, foreign: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.sqlite.db, "BUSY_WAIT", 1.0)
    async with BotHarness(tmp_path / "focus.db") as bot:
        await bot.send("/start", user_id=HOLDER)
        foreign.execute("BEGIN IMMEDIATE")
        try:
            waited, answer = await timed(bot, "/focus 25 blocked", HOLDER)
            helped, newcomer = await timed(bot, "/help", OTHER + 1)  # /help writes nothing
        finally:
            foreign.rollback()
        assert answer == [texts.STORAGE_BUSY]
        assert helped < 0.5 and "/focus" in newcomer[0]
        assert 0.9 <= waited < 3
        assert await bot.service.store.sessions.active_session(HOLDER, HOLDER) is None
        # Once the lock is gone, the same command works.
        _, answer = await timed(bot, "/focus 25 blocked", HOLDER)
        assert "blocked" in answer[0]
