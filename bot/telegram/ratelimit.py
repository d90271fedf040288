"""Telegram's flood limits, kept before Telegram has to enforce them.

python-telegram-bot's ``AIORateLimiter`` leaves three gaps that matter to this bot:

1. It has no bucket per private chat; Telegram asks for about one message a second per chat.
2. Its overall bucket (30/s) is a leaky bucket of capacity 30, so a burst sends 30 at once
   and 30 more as it drains: up to ~60 in the first second.
3. One ``429 retry_after`` anywhere pauses every request to every chat.

``FocusRateLimiter`` uses the same library (aiolimiter). The overall bucket has capacity 1
and lets out 29 a second, evenly spaced: Telegram counts messages as they arrive, and at an
exact 30 a second the network's jitter puts 31 of them into some second at the other end
(measured over HTTP in the benchmark: 31); one a second of margin absorbs ~34 ms of jitter.
Each chat may burst 3 (a command's reply
and a card edit go out together) and then gets 1/s; each group also 20/min. A 429 pauses
only the chat it came from, for exactly ``retry_after`` (never retried early); when several
chats get a 429 within a second, the flood is bot-wide and everything waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

__all__ = ["FocusRateLimiter"]

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
Result = bool | JSONDict | list[JSONDict]


class FocusRateLimiter(BaseRateLimiter[int]):
    """Overall, per-chat and per-group limits, and 429s that pause only their chat."""

    def __init__(
        self,
        *,
        overall_per_second: float = 29,
        chat_per_second: float = 1,
        chat_burst: int = 3,
        group_per_minute: float = 20,
        max_retries: int = 3,
        global_flood_chats: int = 3,
        max_buckets: int = 4096,
    ) -> None:
        # Capacity 1, draining at the rate: never more than the rate within any second.
        self._overall = AsyncLimiter(1, 1 / overall_per_second)
        self._chat_rate = (chat_burst, chat_burst / chat_per_second)
        self._group_rate = (1.0, 60 / group_per_minute)
        self._chats: dict[int | str, AsyncLimiter] = {}
        self._groups: dict[int | str, AsyncLimiter] = {}
        self._paused_until: dict[int | str, float] = {}
        self._global_until = 0.0
        self._recent_floods: list[tuple[float, int | str]] = []
        self._max_retries = max_retries
        self._global_flood_chats = global_flood_chats
        self._max_buckets = max_buckets

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""

    def _bucket(
        self, table: dict[int | str, AsyncLimiter], key: int | str, rate: tuple[float, float]
    ) -> AsyncLimiter:
        """The chat's bucket; idle ones are forgotten so memory stays bounded."""
        if key not in table and len(table) >= self._max_buckets:
            for idle in [k for k, limiter in table.items() if limiter.has_capacity()]:
                del table[idle]
        limiter = table.get(key)
        if limiter is None:
            limiter = table[key] = AsyncLimiter(*rate)
        return limiter

    async def _wait_out_floods(self, chat: int | str | None) -> None:
        """Sleep while the bot, or this chat, is under a flood wait."""
        loop = asyncio.get_running_loop()
        while True:
            until = max(self._global_until, self._paused_until.get(chat, 0.0) if chat else 0.0)
            delay = until - loop.time()
            if delay <= 0:
                return
            await asyncio.sleep(delay)

    def _flooded(self, chat: int | str | None, seconds: float) -> None:
        """Record a 429: pause the chat, or everything if several chats were hit at once."""
        now = asyncio.get_running_loop().time()
        until = now + seconds
        if chat is None:
            self._global_until = max(self._global_until, until)
            return
        self._paused_until[chat] = max(self._paused_until.get(chat, 0.0), until)
        self._recent_floods = [(t, c) for t, c in self._recent_floods if now - t < 1.0]
        self._recent_floods.append((now, chat))
        if len({c for _, c in self._recent_floods}) >= self._global_flood_chats:
            log.warning("flood control on several chats at once: pausing all sends %.1f s", seconds)
            self._global_until = max(self._global_until, until)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        """Wait for every bucket that applies, send, and wait out a 429 before retrying."""
        chat: int | str | None = data.get("chat_id")
        with contextlib.suppress(TypeError, ValueError):
            chat = int(chat)  # type: ignore[arg-type]
        is_group = isinstance(chat, str) or (isinstance(chat, int) and chat < 0)
        retries = rate_limit_args if rate_limit_args is not None else self._max_retries
        for attempt in range(retries + 1):
            await self._wait_out_floods(chat)
            async with contextlib.AsyncExitStack() as stack:
                if chat is not None:
                    if is_group:
                        group = self._bucket(self._groups, chat, self._group_rate)
                        await stack.enter_async_context(group)
                    await stack.enter_async_context(
                        self._bucket(self._chats, chat, self._chat_rate)
                    )
                    await stack.enter_async_context(self._overall)
                try:
                    return await callback(*args, **kwargs)
                except RetryAfter as error:
                    # The private timedelta: the public retry_after warns in PTB 22 (as
                    # AIORateLimiter itself reads it). 0.1 s of margin: never retry early.
                    seconds = error._retry_after.total_seconds() + 0.1
                    self._flooded(chat, seconds)
                    if attempt == retries:
                        raise
                    log.info(
                        "flood wait of %.1f s on %s (%s)",
                        seconds,
                        endpoint,
                        "a chat" if chat else "the bot",
                    )
        raise AssertionError("unreachable")  # the loop returns or raises
