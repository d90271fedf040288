"""End to end: the real bot process through a frozen process, a stepped wall clock and a cut
network (issue 14, items 7 and 8).

The wall clock of the bot's process is stepped with libfaketime (LD_PRELOAD, its offset read
from a file at every call); the monotonic and boot clocks are left alone, as on a real NTP
step. Times below are virtual minutes since the session's start, measured in this (unfaked)
process at ``FOCUS_TIME_SCALE=120``: a minute lasts half a second.
"""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_e2e import (
    SCALE,
    USER,
    BotProcess,
    assert_guardrails,
    minute,
    proactive,
    start_session,
    summaries,
    until,
)
from tests.support.faults import FaultyBotApi
from tests.support.netcut import NetCut
from tests.support.standin import BotApiStandin

pytestmark = pytest.mark.e2e

PLAIN = [(12, "👀"), (25, "☕"), (30, "🔔"), (40, "👀")]  # /focus 45 undisturbed


def _libfaketime() -> Path:
    spec = importlib.util.find_spec("libfaketime")  # a dev dependency (pyproject)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "vendor" / "libfaketime" / "src" / "libfaketime.so.1"


class SteppedClock:
    """The bot process's wall clock, offset from the real one by what the file says."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.write_text("+0\n")

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": str(_libfaketime()),
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }

    def step(self, seconds: int) -> None:
        self.path.write_text(f"{seconds:+d}\n")


@pytest.fixture
async def standin() -> AsyncIterator[tuple[FaultyBotApi, BotApiStandin]]:
    api = FaultyBotApi()
    async with BotApiStandin(api) as server:
        yield api, server


async def at_minute(start: datetime, m: float) -> None:
    """Sleep until virtual minute ``m`` of the session that started at ``start``."""
    moment = start + timedelta(seconds=m * 60 / SCALE)
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def kinds(api: FaultyBotApi, start: datetime) -> list[tuple[int, str]]:
    return [(round(minute(start, m)), (m.shown_text or "")[:1]) for m in proactive(api)]


def slots(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute("SELECT slot, status FROM deliveries ORDER BY due_at").fetchall()


@pytest.mark.parametrize("step", [-3600, 3600], ids=["back", "forward"])
async def test_a_wall_clock_stepped_an_hour_leaves_the_session_on_time(
    standin: tuple[FaultyBotApi, BotApiStandin], tmp_path: Path, step: int
) -> None:
    """An NTP step (no time passed): the session keeps its rhythm and ends once, on time.
    Before: stepped back, the bot fell silent for the hour (no break, no summary); stepped
    forward, it ended the session at its next wake-up with a "sent late" summary."""
    api, server = standin
    clock = SteppedClock(tmp_path / "faketime")
    db = tmp_path / "focus.db"
    bot = BotProcess(server.base_url, db, tmp_path / "bot.log")
    bot.env.update(clock.env())
    await bot.start()
    try:
        card = await start_session(api, "/focus 45 through a clock step")
        start = card.sent_at
        await until(api, lambda: len(proactive(api)) == 1, 20)  # the check-in at 12
        await at_minute(start, 16)
        clock.step(step)
        await until(api, lambda: len(summaries(api)) == 1, 30)
        # Commands still answered, at once: the process was never stuck.
        api.user_message(user_id=USER, text="/help")
        await until(api, lambda: "/focus" in (api.sent[-1].shown_text or ""), 10)
        await asyncio.sleep(1.5)  # room for a (wrong) straggler or second summary
        assert await bot.terminate() == 0
    finally:
        if bot.proc and bot.proc.returncode is None:
            await bot.kill()
    # On time: a job that the step back held up is caught a quarter of the late window after.
    got = [(minute(start, m), (m.shown_text or "")[:1]) for m in proactive(api)]
    assert [k for _, k in got] == [k for _, k in PLAIN], got
    pairs = zip(got, PLAIN, strict=True)
    assert all(due - 0.25 <= at <= due + 1 for (at, _), (due, _) in pairs), got
    assert_guardrails(api, start)
    [summary] = summaries(api)
    assert 49 <= minute(start, summary) <= 52
    assert "Sent late" not in (summary.shown_text or "")
    assert [status for _, status in slots(db)] == ["sent"] * 5


async def test_a_frozen_process_drops_what_fell_due_and_sends_no_burst(
    standin: tuple[FaultyBotApi, BotApiStandin], tmp_path: Path
) -> None:
    """SIGSTOP at minute 20 for 8 minutes (longer than a gap), then SIGCONT: the break due at
    25 missed its window and is dropped (the plan closes up: block 2 runs 25-45, its check-in
    at 35), nothing is sent twice or in a burst, one summary."""
    api, server = standin
    db = tmp_path / "focus.db"
    bot = BotProcess(server.base_url, db, tmp_path / "bot.log")
    await bot.start()
    try:
        card = await start_session(api, "/focus 45 frozen")
        start = card.sent_at
        await until(api, lambda: len(proactive(api)) == 1, 20)
        assert bot.proc is not None
        await at_minute(start, 20)
        bot.proc.send_signal(signal.SIGSTOP)
        await at_minute(start, 28)
        assert kinds(api, start) == [(12, "👀")]
        bot.proc.send_signal(signal.SIGCONT)
        await until(api, lambda: len(summaries(api)) == 1, 30)
        await asyncio.sleep(1.5)
        assert await bot.terminate() == 0
    finally:
        if bot.proc and bot.proc.returncode is None:
            bot.proc.send_signal(signal.SIGCONT)
            await bot.kill()
    assert kinds(api, start) == [(12, "👀"), (35, "👀")]
    assert_guardrails(api, start)
    [summary] = summaries(api)
    assert 44 <= minute(start, summary) <= 47
    assert "Sent late" not in (summary.shown_text or "")  # it ended after the freeze, on time
    assert slots(db) == [
        ("checkin:1.1", "sent"),
        ("break:1", "dropped"),
        ("checkin:2.1", "sent"),
        ("summary", "sent"),
    ]


async def test_a_cut_network_polling_recovers_and_nothing_bursts(
    standin: tuple[FaultyBotApi, BotApiStandin], tmp_path: Path
) -> None:
    """The Bot API unreachable (connections refused, open ones reset) from minute 20 to 30,
    and again from 42 to 52. The break due at 25 can't go out within its 2-minute window and is
    dropped (the plan closes up: the session now ends at 45); when the network is back, polling
    resumes by itself (a command is answered) and the session goes on without a burst. The
    summary, due while the network is cut again, is not lost: it goes out, once, after. The
    log tells the cut in one line a try, never a traceback."""
    api, server = standin
    db = tmp_path / "focus.db"
    log = tmp_path / "bot.log"
    async with NetCut("127.0.0.1", server.port) as net:
        bot = BotProcess(net.base_url, db, log)
        await bot.start()
        try:
            card = await start_session(api, "/focus 45 offline for a while")
            start = card.sent_at
            await until(api, lambda: len(proactive(api)) == 1, 20)
            await at_minute(start, 20)
            await net.cut()
            await at_minute(start, 30)
            assert kinds(api, start) == [(12, "👀")]
            polls = api.calls["getUpdates"]
            await net.restore()
            await until(api, lambda: api.calls["getUpdates"] > polls, 15)
            api.user_message(user_id=USER, text="/help")
            await until(api, lambda: "/focus" in (api.sent[-1].shown_text or ""), 15)
            await at_minute(start, 42)
            await net.cut()
            await at_minute(start, 52)
            assert summaries(api) == []
            await net.restore()
            await until(api, lambda: len(summaries(api)) == 1, 60)
            await asyncio.sleep(1.5)  # room for a (wrong) second summary or straggler
            assert await bot.terminate() == 0
        finally:
            if bot.proc and bot.proc.returncode is None:
                await bot.kill()
    assert kinds(api, start) == [(12, "👀"), (35, "👀")]
    assert_guardrails(api, start)
    assert slots(db) == [
        ("checkin:1.1", "sent"),
        ("break:1", "dropped"),
        ("checkin:2.1", "sent"),
        ("summary", "sent"),
    ]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT outcome FROM sessions").fetchall() == [("completed",)]
    text = log.read_text()
    assert "Traceback" not in text
    # Two cuts of 5 real seconds: PTB's back-off (1 s, then 1.5 times longer) allows a few.
    assert 2 <= text.count("polling: NetworkError") <= 12


async def test_a_session_that_ended_while_frozen_says_its_summary_is_late(
    standin: tuple[FaultyBotApi, BotApiStandin], tmp_path: Path
) -> None:
    """SIGSTOP from minute 10 to 20 of a 15-minute session: its end went by while the process
    did not run, so its one summary, sent on SIGCONT, says it is late (and why)."""
    api, server = standin
    bot = BotProcess(server.base_url, tmp_path / "focus.db", tmp_path / "bot.log")
    await bot.start()
    try:
        card = await start_session(api, "/focus 15 asleep")
        start = card.sent_at
        assert bot.proc is not None
        await at_minute(start, 10)
        bot.proc.send_signal(signal.SIGSTOP)
        await at_minute(start, 20)
        bot.proc.send_signal(signal.SIGCONT)
        await until(api, lambda: len(summaries(api)) == 1, 30)
        await asyncio.sleep(1.5)
        assert await bot.terminate() == 0
    finally:
        if bot.proc and bot.proc.returncode is None:
            bot.proc.send_signal(signal.SIGCONT)
            await bot.kill()
    assert_guardrails(api, start)
    [summary] = summaries(api)
    assert "Sent late: I was offline" in (summary.shown_text or "")
