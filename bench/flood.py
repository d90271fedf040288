"""Flood compliance: a burst of due nudges through the production rate limiter, over HTTP.

B sessions in B different private chats all have a check-in due now. The bot is built by
``build_application`` as in production — its rate limiter on, PTB's own HTTPXRequest — with its
base URL pointing at the Bot API stand-in served on 127.0.0.1 from this process. The stand-in
stamps every message when it arrives, as Telegram would count it: the worst one-second window
overall and per chat, and how long the burst takes to drain.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.core.clock import SystemClock
from bot.offline.local_api import OutgoingMessage
from bot.telegram.app import build_application, close_application, open_application
from tests.support.standin import BotApiStandin

from .common import (
    BENCH_TOKEN,
    ForgetfulBotApi,
    bench_settings,
    create_database,
    seed_running_sessions,
)

__all__ = ["FloodResult", "run_flood", "worst_window"]


@dataclass
class FloodResult:
    """What one burst measured."""

    burst: int
    sent: int
    worst_second: int  # most messages in any 1-s window, all chats
    worst_chat_second: int  # most messages to one chat in any 1-s window
    drain_s: float  # from the dispatcher's start to the last message received
    runs: int


def worst_window(stamps: list[float], width: float = 1.0) -> int:
    """The most stamps inside any half-open window [t, t + width)."""
    ordered = sorted(stamps)
    best, left = 0, 0
    for right, stamp in enumerate(ordered):
        while stamp - ordered[left] >= width:
            left += 1
        best = max(best, right - left + 1)
    return best


async def run_flood(database: Path, burst: int) -> FloodResult:
    """Seed ``burst`` due check-ins in as many chats; dispatch them through the limiter."""
    await create_database(database)
    seed_running_sessions(database, [datetime.now(UTC)] * burst)
    stamps: dict[int, list[float]] = defaultdict(list)

    def on_outgoing(change: str, msg: OutgoingMessage) -> None:
        if change == "send":
            stamps[msg.chat_id].append(time.monotonic())

    clock = SystemClock()
    api = ForgetfulBotApi(clock=clock.now, on_outgoing=on_outgoing)
    async with BotApiStandin(api) as standin:
        app = build_application(
            bench_settings(database, telegram_base_url=standin.base_url),
            clock=SystemClock(),
            token=BENCH_TOKEN,
            rate_limiter=True,  # FocusRateLimiter, as build_application configures it
        )
        await open_application(app)
        try:
            dispatcher = app.bot_data.dispatcher
            assert dispatcher is not None  # noqa: S101 - post_init built it
            started = time.monotonic()
            runs = sent = 0
            while True:  # as the job would: again at once while a backlog remains
                report = await dispatcher.run_due()
                runs += 1
                sent += report.sent
                if report.sessions < dispatcher.batch * dispatcher.max_batches:
                    break
        finally:
            await close_application(app)
    every = [stamp for chat in stamps.values() for stamp in chat]
    return FloodResult(
        burst=burst,
        sent=sent,
        worst_second=worst_window(every),
        worst_chat_second=max((worst_window(chat) for chat in stamps.values()), default=0),
        drain_s=(max(every) - started) if every else 0.0,
        runs=runs,
    )
