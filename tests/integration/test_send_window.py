"""Issue 14: a claim waits for nothing but its own HTTP request, and a stalled request holds
up only its own session."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from bot.telegram.ratelimit import FocusRateLimiter, PriorityGate
from tests.support.fakes import FakeClock
from tests.support.faults import FaultyBotApi
from tests.support.harness import BotHarness

USERS = range(5001, 5013)


class _Snapshots(FaultyBotApi):
    """Counts, at the moment each check-in reaches "Telegram" (a SIGKILL could strike
    there), the claims in the file that are not confirmed."""

    def __init__(self, db: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db = db
        self.unconfirmed: list[int] = []

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        if method == "sendMessage" and str(params.get("text", "")).startswith("👀"):
            with sqlite3.connect(self.db) as db:
                sql = "SELECT count(*) FROM deliveries WHERE status = 'sending'"
                self.unconfirmed.append(db.execute(sql).fetchone()[0])
        return await super().call(method, params)


async def test_nothing_claimed_waits_in_the_rate_limiter(tmp_path: Path) -> None:
    """12 check-ins due at once, a limiter letting out 5 a second: each is claimed only
    when its turn comes, so a kill at any send finds no claim but the one in flight."""
    clock = FakeClock()
    db = tmp_path / "f.db"
    api = _Snapshots(db, clock=clock.now)
    async with BotHarness(db, clock, api, rate_limiter=True) as bot:
        for user in USERS:
            await bot.send("/focus 25", user_id=user)
        limiter = bot.app.bot.rate_limiter
        assert isinstance(limiter, FocusRateLimiter)
        limiter.overall = PriorityGate(5)  # holds requests: ~2.4 s for the twelve
        report = await bot.tick(minutes=12)
        assert report.sent == len(USERS)
    assert api.unconfirmed == [1] * len(USERS)  # old code: up to 8 claimed, waiting


class _OneChatHangs(FaultyBotApi):
    """The first message to one chat reaches it, but its answer comes only after ``stall``
    seconds (the client's read timeout cuts it first: its fate is unknown to the bot)."""

    def __init__(self, chat: int, stall: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chat, self.stall = chat, stall
        self.hung = asyncio.Event()
        self.hung_at = 0.0
        self.armed = False

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        result = await super().call(method, params)
        mine = method == "sendMessage" and int(params["chat_id"]) == self.chat
        if mine and self.armed and not self.hung.is_set():
            self.hung.set()
            self.hung_at = asyncio.get_running_loop().time()
            await asyncio.sleep(self.stall)
        return result


async def test_a_hung_send_holds_up_only_its_own_session(tmp_path: Path) -> None:
    """One person's break hangs (until the 3 s read timeout); meanwhile eleven other
    sessions end: their summaries go out on time, none says "sent late" (the bot was never
    down), and the hung break counts as sent, once."""
    clock = FakeClock()
    slow, others = USERS[0], USERS[1:]
    api = _OneChatHangs(slow, stall=4.0, clock=clock.now)
    async with BotHarness(tmp_path / "f.db", clock, api, read_timeout=3.0) as bot:
        await bot.send("/focus 50", user_id=slow)
        clock.advance(minutes=1)
        for user in others:
            await bot.send("/focus 25", user_id=user)  # they end at minute 26
        api.armed = True
        first = asyncio.create_task(bot.tick(minutes=24))  # minute 25: the slow one's break
        await api.hung.wait()
        clock.advance(minutes=4)  # minute 29: the others ended 3 min ago (> the late window)
        await bot.dispatcher.run_due()
        waited = asyncio.get_running_loop().time() - api.hung_at
        assert waited < 3.0, "the run waited for the hung send"  # old code: its timeout
        for user in others:
            [summary] = [t for t in bot.texts(user) if "How focused" in t]
            assert "Sent late" not in summary
        await first
        await bot.dispatcher.settled()
        breaks = [t for t in bot.texts(slow) if t.startswith("☕")]
        assert len(breaks) == 1
        slots = {d.slot: d.status for d in await bot.service.store.deliveries.deliveries(1)}
        assert slots["break:1"] == "sending"  # fate unknown: counted as sent, never resent
