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

The overall budget is shared by lanes (``Lane``), not first come first served: an answer to
what a person just typed or tapped goes ahead of the dispatcher's proactive messages, and both
ahead of files (``/export``, ``/stats`` charts). Without it, 200 people exporting at once put
400 documents in the one 29-a-second queue, and someone's ``/help`` waited 23.9 s behind them.
No lane starves: one that has waiters gets at least one slot in ``LANE_SHARE[lane]`` (see
``PriorityGate``). aiolimiter has no priorities, nor has asynciolimiter (rates only), the
other maintained asyncio limiter we looked at, so the overall bucket is our own small gate; the
per-chat and per-group buckets stay aiolimiter's.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import Bot
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter, ExtBot

__all__ = [
    "FILE_ENDPOINTS",
    "LANE_SHARE",
    "Admit",
    "FocusRateLimiter",
    "Lane",
    "NotAdmitted",
    "PriorityGate",
    "RateLimitArgs",
    "lane_args",
]

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
Result = bool | JSONDict | list[JSONDict]


class Lane(enum.Enum):
    """Which queue a request waits in for the overall budget; listed first served first.

    A plain Enum, not an IntEnum: PTB drops a falsy ``rate_limit_args`` (0) on the way.
    """

    ANSWER = "answer"
    """A reply, card edit or callback answer to what a person just typed or tapped."""
    PROACTIVE = "proactive"
    """The dispatcher's check-ins, breaks, back-to-work messages and summaries."""
    BULK = "bulk"
    """Files: the /export documents and /stats charts."""


LANE_SHARE: Mapping[Lane, int] = {Lane.PROACTIVE: 3, Lane.BULK: 6}
"""A lane with waiters gets at least one slot in N, however busy the lanes above it are.

At 29 a second, answers alone could fill every slot; these keep proactive messages at 9.7 a
second or more (1,160 due at once still go out within their 2-minute window) and files at 4.8
or more (an export's two files a fraction of a second each in its lane). An answer waits at
most two slots (about 70 ms) for them. When two lanes are owed a slot at once, the one first
served gets it and the other the next slot."""

FILE_ENDPOINTS = frozenset(
    {
        "sendDocument",
        "sendPhoto",
        "sendMediaGroup",
        "sendVideo",
        "sendAudio",
        "sendAnimation",
        "sendVoice",
    }
)
"""Endpoints that carry files: the bulk lane unless a call says otherwise."""


Admit = Callable[[], Awaitable[bool]]
"""Asked once a request has every bucket and its slot, right before the HTTP call: whether it
may still go out. The dispatcher claims its message here (reserve, then claim, then send), so
nothing claimed ever waits in a queue: a SIGKILL can only cut the one request in flight."""


class NotAdmitted(Exception):
    """The request's ``admit`` said no: nothing was sent."""


@dataclass(frozen=True, slots=True)
class RateLimitArgs:
    """What a Bot API call passes as ``rate_limit_args``: its lane (None: ``Lane.BULK`` for a
    file endpoint, else ``Lane.ANSWER``), its retries after a 429 (None: the limiter's) and
    ``admit`` (see ``Admit``; a request with one is never retried inside the limiter: after a
    429 its claim must not wait out the flood here, its caller withdraws it and tries later)."""

    lane: Lane | None = None
    max_retries: int | None = None
    admit: Admit | None = None


_LANE_ARGS = {lane: {"rate_limit_args": RateLimitArgs(lane)} for lane in Lane}


def lane_args(bot: Bot, lane: Lane, admit: Admit | None = None) -> dict[str, Any]:
    """``rate_limit_args`` for a call in ``lane`` (admitted by ``admit``, if given), as keyword
    arguments: none for a bot without a rate limiter (console mode, tests), where PTB refuses
    the argument — its caller then asks ``admit`` itself (see ``has_limiter``)."""
    if not has_limiter(bot):
        return {}
    if admit is None:
        return _LANE_ARGS[lane]
    return {"rate_limit_args": RateLimitArgs(lane, max_retries=0, admit=admit)}


def has_limiter(bot: Bot) -> bool:
    """Whether ``bot``'s requests go through a rate limiter."""
    return isinstance(bot, ExtBot) and bot.rate_limiter is not None


class PriorityGate:
    """Evenly spaced slots, ``rate`` a second with no burst, handed out by lane.

    When the next slot opens, it goes to the first-served lane with a waiter, unless a lane
    below it has been passed over ``LANE_SHARE[lane] - 1`` times in a row while it waited: then
    to that lane. A lane with no waiter builds up no credit (it cannot burst later). Within a
    lane, first come, first served. Slots are never closer than ``1 / rate``.
    """

    def __init__(self, rate: float, shares: Mapping[Lane, int] = LANE_SHARE) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._interval = 1 / rate
        self._shares = shares
        self._queues: dict[Lane, deque[asyncio.Future[None]]] = {lane: deque() for lane in Lane}
        self._passed = dict.fromkeys(Lane, 0)
        self._next_at = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self.granted = dict.fromkeys(Lane, 0)
        """Slots given to each lane so far (for tests and the benchmark)."""

    def waiting(self, lane: Lane) -> int:
        """Requests of ``lane`` waiting for a slot (cancelled ones may be counted until
        their turn)."""
        return len(self._queues[lane])

    async def acquire(self, lane: Lane) -> None:
        """Wait for a slot in ``lane``."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._timer is None and now >= self._next_at and not any(self._queues.values()):
            self._take(lane, now)
            return
        future: asyncio.Future[None] = loop.create_future()
        self._queues[lane].append(future)
        self._arm(loop)
        await future  # cancelled: left in its queue, skipped when its turn comes

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is None:
            self._timer = loop.call_at(max(self._next_at, loop.time()), self._grant, loop)

    def _grant(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        lane = self._pick()
        if lane is None:
            return
        self._queues[lane].popleft().set_result(None)
        for other in Lane:
            self._passed[other] = self._passed[other] + 1 if self._queues[other] else 0
        self._passed[lane] = 0
        self._take(lane, loop.time())
        if any(self._queues.values()):
            self._arm(loop)

    def _pick(self) -> Lane | None:
        """The lane the next slot goes to, or None when nobody waits."""
        waiting = []
        for lane, queue in self._queues.items():
            while queue and queue[0].done():  # cancelled while waiting
                queue.popleft()
            if queue:
                waiting.append(lane)
        for lane in waiting:
            share = self._shares.get(lane)
            if share is not None and self._passed[lane] >= share - 1:
                return lane
        return waiting[0] if waiting else None

    def _take(self, lane: Lane, now: float) -> None:
        self.granted[lane] += 1
        self._next_at = max(now, self._next_at) + self._interval


class FocusRateLimiter(BaseRateLimiter[RateLimitArgs | int]):
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
        # No burst, evenly spaced: never more than the rate within any second.
        self.overall = PriorityGate(overall_per_second)
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
        rate_limit_args: RateLimitArgs | int | None,
    ) -> Result:
        """Wait for every bucket that applies, send, and wait out a 429 before retrying.

        ``rate_limit_args``: a ``RateLimitArgs`` (lane, retries), or an int (retries, as PTB's
        own limiter reads it), or None (the lane from the endpoint, the limiter's retries).
        """
        chat: int | str | None = data.get("chat_id")
        with contextlib.suppress(TypeError, ValueError):
            chat = int(chat)  # type: ignore[arg-type]
        is_group = isinstance(chat, str) or (isinstance(chat, int) and chat < 0)
        given = (
            rate_limit_args
            if isinstance(rate_limit_args, RateLimitArgs)
            else RateLimitArgs(max_retries=rate_limit_args)
        )
        retries = given.max_retries if given.max_retries is not None else self._max_retries
        if given.admit is not None:
            retries = 0  # a claimed message never waits out a flood here (see RateLimitArgs)
        lane = given.lane or (Lane.BULK if endpoint in FILE_ENDPOINTS else Lane.ANSWER)
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
                    await self.overall.acquire(lane)
                # Admitted: every bucket and the slot are ours. Only now may the caller claim
                # (and nothing it claimed waits: the HTTP call follows at once).
                if given.admit is not None and not await given.admit():
                    raise NotAdmitted(endpoint)
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
