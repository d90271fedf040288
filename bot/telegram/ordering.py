"""Updates of different users at once, each user's in the order they came.

PTB's default handles one update at a time: while one user's handler waits for SQLite's commit,
for the Bot API, or for the long read of ``/stats all``, every other user waits behind it, and
the event loop spins a turn per await. PTB's ``concurrent_updates`` removes the wait but gives
up the order, and a user who taps ⏸ then ▶ must get pause then resume. ``PerUserOrder`` keeps
both: an update waits for the earlier updates of its own user (and group chat, below), then for
one of ``running`` slots; other users' updates overtake it.

What it does not do: a handler keeps its slot while the rate limiter holds its reply back
(a group past 20 a minute, a private chat past its burst of 3), and waiting carries through
(a user's private update waits for their earlier group update, which waits for that group's
earlier ones). Eight such chats at once fill every slot; one at a time, one such chat stalled
everything.

All of a user's state is theirs (sessions, cards, settings), so a user is the unit of order.
A group chat is one too: its replies share Telegram's 20-a-minute group limit, and the rate
limiter makes a handler wait for it, so without this eight people in one busy group could hold
every slot while the rest of the bot waited. An update in a group waits for the earlier updates
of its user and of its group; one without a user (a channel post, say) for its chat's.
Waiting only ever goes to updates that arrived earlier, so no two updates wait for each other.
The dispatcher's jobs were already concurrent with handlers; storage's writes are conditional on
the version they read (see ``storage``), which is what makes the two safe together.

A line has room for ``BACKLOG`` updates (the running one included). PTB's fetcher pulls every
update it is given and hands each to ``do_process_update`` at once, so without a bound one
person's 20,000 messages became 20,000 waiting tasks (RSS 110 → 237 MB in 10 s) answered at
the chat's 1 a second for hours, and a SIGTERM waited for all of them. An update that finds its
user's or its chat's line full is dropped: its coroutine closed, never run. The first drop of
a burst (until that line empties again) calls ``on_overflow`` with the update, which answers
once that some were skipped (``handlers.slow_down``); later drops say nothing.

``stop_waiting`` (called as the Application stops) drops every update still waiting for its
turn, and every one that comes after: PTB's ``stop`` waits for the update tasks, and now only
the running ones (at most ``running``) have anything left to do.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.telegram.identity import is_shared_sender

__all__ = ["BACKLOG", "RUNNING", "PerUserOrder", "order_keys"]

log = logging.getLogger(__name__)

RUNNING = 8
"""Updates run at once. Measured in BENCHMARKS.md: 1 → 8 took the inbound figure from about
430 to about 620 updates/s with handler p99 under 40 ms; 64 gave 710/s but p99 170 ms, because
each handler then shares the CPU with 63 others."""

BACKLOG = 8
"""Updates one person (or one group chat) may have queued, the running one included.

A person typing and tapping as fast as people do — /pause, then ▶, a score, a few words —
stays well under it. Their answers leave at the chat's 1 a second after a burst of 3 (a group's
at 20 a minute), so 8 queued is already about 6 seconds of answers still to come; what comes
faster than that is not a conversation, and queueing it only delays the answer to what the
person types once they stop."""

_NOT_A_LIMIT = 1 << 30
"""What PTB's own semaphore is given. It is taken before ``do_process_update`` runs, so an update
waiting for its user's earlier ones would hold a slot there; a flood from one user would fill
them all and stall everyone. The real limit is ``running``, taken after the user's turn comes."""


def order_keys(update: object) -> tuple[Hashable, ...]:
    """Whose earlier updates an update waits for: its user's, and its chat's unless the chat
    is the user's own (private chats have the user's id); none for what is not an update.
    A stand-in sender (an anonymous admin, a channel) is ordered by its chat alone."""
    if not isinstance(update, Update):
        return ()
    user, chat = update.effective_user, update.effective_chat
    message = update.effective_message
    # Telegram's shared accounts (anonymous admins, channels, automatic forwards) are the same
    # id in every group, so not a person to order by (``bot.telegram.identity``).
    if user is not None and is_shared_sender(user, message):
        user = None
    keys: list[Hashable] = []
    if user is not None:
        keys.append(("user", user.id))
    if chat is not None and (user is None or chat.id != user.id):
        keys.append(("chat", chat.id))
    return tuple(keys)


class _Line:
    """One user's or one chat's updates in flight: the latest one's future, how many are
    queued (the running one included), and whether this burst's overflow was answered."""

    __slots__ = ("queued", "tail", "warned")

    def __init__(self, tail: asyncio.Future[None]) -> None:
        self.tail = tail
        self.queued = 0
        self.warned = False


Overflow = Callable[[object], Awaitable[None]]
"""Called with the first update dropped in a burst (see ``PerUserOrder``)."""


class PerUserOrder(BaseUpdateProcessor):
    """Concurrent across users, in order within one user and one group chat; at most
    ``running`` at once, at most ``backlog`` queued per user and per chat."""

    __slots__ = (
        "_backlog",
        "_lines",
        "_on_overflow",
        "_running",
        "_stopping",
        "_waiting",
        "dropped",
    )

    def __init__(
        self,
        running: int = RUNNING,
        *,
        backlog: int = BACKLOG,
        on_overflow: Overflow | None = None,
    ) -> None:
        super().__init__(_NOT_A_LIMIT)
        if running < 1:
            raise ValueError("running must be at least 1")
        if backlog < 1:
            raise ValueError("backlog must be at least 1")
        self._running = asyncio.Semaphore(running)
        self._backlog = backlog
        self._on_overflow = on_overflow
        self._lines: dict[Hashable, _Line] = {}
        self._waiting: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.dropped = 0
        """Updates dropped so far: over a backlog, or waiting when the bot stopped."""

    @property
    def waiting_keys(self) -> int:
        """Users and chats with an update in flight (emptied as they finish)."""
        return len(self._lines)

    def queued(self, key: Hashable) -> int:
        """Updates of ``key`` (``("user", id)`` or ``("chat", id)``) queued or running."""
        line = self._lines.get(key)
        return line.queued if line is not None else 0

    def stop_waiting(self) -> None:
        """Drop every update still waiting for its turn, and every one handed in from now on;
        those already running finish."""
        self._stopping = True
        for task in list(self._waiting):
            task.cancel()

    def start_taking(self) -> None:
        """Queue updates again (an Application started again after a stop)."""
        self._stopping = False

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the earlier updates of this user and chat, then for a slot, then run;
        or drop the update when its user's or chat's line is full, or the bot is stopping."""
        keys = order_keys(update)
        if self._stopping:
            self._drop(update, coroutine, "the bot is stopping")
            return
        full = [
            line for key in keys if (line := self._lines.get(key)) and line.queued >= self._backlog
        ]
        if full:
            self._drop(update, coroutine, "its line is full")
            first = not all(line.warned for line in full)
            for line in full:
                line.warned = True
            if first and self._on_overflow is not None:
                await self._on_overflow(update)
            return
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        previous = []
        for key in keys:
            line = self._lines.get(key)
            if line is None:
                line = self._lines[key] = _Line(mine)
            else:
                previous.append(line.tail)
                line.tail = mine
            line.queued += 1
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - PTB runs every update in a task of its own
        self._waiting.add(task)
        try:
            for earlier in previous:
                # Each earlier update's task sets its future in a ``finally``, so this ends
                # even when that handler failed or was cancelled.
                await asyncio.shield(earlier)
            async with self._running:
                self._waiting.discard(task)
                await coroutine
        finally:
            self._waiting.discard(task)
            if _close_if_never_started(coroutine):
                self.dropped += 1
                log.debug("update %s dropped while waiting for its turn", _update_id(update))
            pending = [earlier for earlier in previous if not earlier.done()]
            if pending:
                # Cancelled while waiting: the updates after this one still wait for these.
                after = asyncio.gather(*pending)
                after.add_done_callback(lambda _: self._release(keys, mine))
            else:
                self._release(keys, mine)

    def _drop(self, update: object, coroutine: Awaitable[Any], why: str) -> None:
        _close_if_never_started(coroutine)
        self.dropped += 1
        # The update id only: never the text (nor whose it is).
        log.debug("update %s dropped: %s", _update_id(update), why)

    def _release(self, keys: tuple[Hashable, ...], mine: asyncio.Future[None]) -> None:
        mine.set_result(None)
        for key in keys:
            line = self._lines[key]
            line.queued -= 1
            if line.queued == 0:  # released in arrival order: this was the last one
                del self._lines[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release: ``stop_waiting`` ran as the Application stopped, and PTB
        waited for the running updates."""


def _update_id(update: object) -> int | None:
    return update.update_id if isinstance(update, Update) else None


def _close_if_never_started(coroutine: Awaitable[Any]) -> bool:
    """Dropped or cancelled before its turn: it never started, so there is nothing to undo,
    and closing it spares the "coroutine was never awaited" warning. Whether it was closed."""
    if inspect.iscoroutine(coroutine) and inspect.getcoroutinestate(coroutine) == (
        inspect.CORO_CREATED
    ):
        coroutine.close()
        return True
    return False
