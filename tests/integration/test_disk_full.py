"""A full disk, for real: the bot's file on a 2 MiB tmpfs, filled to the last byte.

While full, each person gets the honest answer and nothing half-written stays; the dispatcher
sends nothing it could not claim, backs off (1 s, 2 s, 4 s ... at most 60 s) instead of
looping, and the operator gets one log line, not a storm. When space comes back, everything
recovers by itself: sessions end, each summary goes out exactly once, nothing twice.

Mounting needs root (CI runs as root). Where mount is impossible the test fails loudly: a
skipped test would hide that this behaviour is unchecked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.telegram import texts
from bot.telegram.dispatcher import STORAGE_RETRY_MAX
from tests.support.fakes import FakeClock
from tests.support.harness import BotHarness

USERS = [7001 + i for i in range(10)]
MARKS = ("👀", "☕", "🔔")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for this test, unmounted after."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a small tmpfs and must run as root (CI does)")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(  # noqa: S603 - fixed arguments
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"could not mount a small tmpfs (needs root and mount): {done.stderr}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)  # noqa: S603, S607


def fill(folder: Path) -> Path:
    """Write a file until the filesystem has no byte left; returns it (delete it to free)."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (65536, 4096, 1):  # down to the last byte
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * size)
    return filler


def proactive(bot: BotHarness, user: int) -> list[str]:
    return [
        m.shown_text or ""
        for m in bot.api.messages_to(user)
        if (m.shown_text or "").startswith(MARKS)
    ]


def summaries(bot: BotHarness, user: int) -> list[str]:
    return [
        m.shown_text or ""
        for m in bot.api.messages_to(user)
        if "How focused were you?" in (m.shown_text or "")
    ]


async def test_a_full_disk_is_answered_honestly_backed_off_and_recovered_from(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    async with BotHarness(small_disk / "focus.db", clock) as bot:
        for user in USERS:
            await bot.send("/focus 30 write", user_id=user)
        await bot.tick(minutes=6)  # the first check-ins go out while there is room
        store = bot.service.store
        inline = store.connection.inline  # type: ignore[attr-defined]
        # Leave the WAL empty, so that every write needs new bytes on the disk.
        inline.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sessions_before = inline.execute("SELECT count(*) FROM sessions").fetchone()[0]
        filler = fill(small_disk)
        caplog.clear()

        # A person: the honest answer, and nothing written.
        answer = await bot.send("/stop", user_id=USERS[0])
        assert [m.shown_text for m in answer] == [texts.STORAGE_FULL]
        answer = await bot.send("/focus 25 another", user_id=9999)
        assert [m.shown_text for m in answer] == [texts.STORAGE_FULL]
        assert inline.execute("SELECT count(*) FROM sessions").fetchone()[0] == sessions_before
        assert inline.execute("SELECT count(*) FROM users WHERE id = 9999").fetchone()[0] == 0
        # Another person's read-only command still answers as usual.
        assert "/focus" in ((await bot.send("/help", user_id=USERS[1]))[0].shown_text or "")

        # The dispatcher, through the sessions' end: nothing sent that was not claimed, and
        # it backs off instead of looping.
        sent_before = len(bot.api.sent)
        waits = []
        for _ in range(4):  # until the next check-ins come due: their claims are refused
            if (await bot.tick(minutes=5)).storage_refused:
                break
        waits.append(round((bot.dispatcher.job.armed_at - clock.now()).total_seconds()))  # type: ignore[operator]
        for _ in range(9):  # they stay due (nothing of them was written): refused again
            report = await bot.tick(minutes=5)
            assert report.storage_refused
            armed = bot.dispatcher.job.armed_at
            assert armed is not None
            waits.append(round((armed - clock.now()).total_seconds()))
        assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
        assert timedelta(seconds=60) == STORAGE_RETRY_MAX
        assert len(bot.api.sent) == sent_before
        # One line for the operator, no traceback.
        refusals = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(refusals) == 1, [r.getMessage() for r in refusals]
        assert "the disk is full" in refusals[0].getMessage()
        assert not any(r.exc_info for r in caplog.records)

        # Space comes back: everything recovers by itself.
        filler.unlink()
        await bot.tick(seconds=1)
        await bot.tick(minutes=5)
        assert any("writes work again" in r.getMessage() for r in caplog.records)
        for user in USERS:
            assert len(summaries(bot, user)) == 1, user
            checkins = proactive(bot, user)
            assert len(checkins) == len(set(checkins)) and len(checkins) <= 8
        assert (
            inline.execute("SELECT count(*) FROM sessions WHERE ended_at IS NULL").fetchone()[0]
            == 0
        )
        sent = inline.execute(
            "SELECT session_id, slot FROM deliveries WHERE status = 'sent'"
        ).fetchall()
        assert len(sent) == len(set(sent))
        # Every message the chats got was claimed: as many sent rows as messages sent.
        claimed = Counter(s for s, _ in sent)
        assert sum(claimed.values()) == sum(
            len(proactive(bot, u)) + len(summaries(bot, u)) for u in USERS
        )
        # And the person can start again.
        answer = await bot.send("/focus 25 another", user_id=9999)
        assert "25" in (answer[0].shown_text or "") and answer[0].shown_text != texts.STORAGE_FULL
