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
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Hashable
from typing import Any

from telegram import Update
from telegram.constants import ChatID
from telegram.ext import BaseUpdateProcessor

__all__ = ["RUNNING", "PerUserOrder", "order_keys"]

RUNNING = 8
"""Updates run at once. Measured in BENCHMARKS.md: 1 → 8 took the inbound figure from about
430 to about 620 updates/s with handler p99 under 40 ms; 64 gave 710/s but p99 170 ms, because
each handler then shares the CPU with 63 others."""

_NOT_A_LIMIT = 1 << 30
"""What PTB's own semaphore is given. It is taken before ``do_process_update`` runs, so an update
waiting for its user's earlier ones would hold a slot there; a flood from one user would fill
them all and stall everyone. The real limit is ``running``, taken after the user's turn comes."""


_STAND_INS = frozenset({ChatID.ANONYMOUS_ADMIN, ChatID.FAKE_CHANNEL, ChatID.SERVICE_CHAT})
"""Accounts Telegram puts as the sender in groups for anonymous admins, messages sent as a
channel and automatic forwards: the same id in every group, so not a person to order by."""


def order_keys(update: object) -> tuple[Hashable, ...]:
    """Whose earlier updates an update waits for: its user's, and its chat's unless the chat
    is the user's own (private chats have the user's id); none for what is not an update.
    A stand-in sender (an anonymous admin, a channel) is ordered by its chat alone."""
    if not isinstance(update, Update):
        return ()
    user, chat = update.effective_user, update.effective_chat
    message = update.effective_message
    if user is not None and (
        user.id in _STAND_INS or (message is not None and message.sender_chat is not None)
    ):
        user = None
    keys: list[Hashable] = []
    if user is not None:
        keys.append(("user", user.id))
    if chat is not None and (user is None or chat.id != user.id):
        keys.append(("chat", chat.id))
    return tuple(keys)


class PerUserOrder(BaseUpdateProcessor):
    """Concurrent across users, in order within one user and one group chat; at most
    ``running`` at once."""

    __slots__ = ("_running", "_tails")

    def __init__(self, running: int = RUNNING) -> None:
        super().__init__(_NOT_A_LIMIT)
        if running < 1:
            raise ValueError("running must be at least 1")
        self._running = asyncio.Semaphore(running)
        self._tails: dict[Hashable, asyncio.Future[None]] = {}

    @property
    def waiting_keys(self) -> int:
        """Users and chats with an update in flight (emptied as they finish)."""
        return len(self._tails)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the earlier updates of this user and chat, then for a slot, then run."""
        keys = order_keys(update)
        if not keys:
            try:
                async with self._running:
                    await coroutine
            finally:
                _close_if_never_started(coroutine)
            return
        previous = [self._tails[key] for key in keys if key in self._tails]
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._tails[key] = mine
        try:
            for earlier in previous:
                # Each earlier update's task sets its future in a ``finally``, so this ends
                # even when that handler failed or was cancelled.
                await asyncio.shield(earlier)
            async with self._running:
                await coroutine
        finally:
            _close_if_never_started(coroutine)
            pending = [earlier for earlier in previous if not earlier.done()]
            if pending:
                # Cancelled while waiting: the updates after this one still wait for these.
                after = asyncio.gather(*pending)
                after.add_done_callback(lambda _: self._release(keys, mine))
            else:
                self._release(keys, mine)

    def _release(self, keys: tuple[Hashable, ...], mine: asyncio.Future[None]) -> None:
        mine.set_result(None)
        for key in keys:
            if self._tails.get(key) is mine:
                del self._tails[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release: PTB waits for the update tasks before it shuts down."""


def _close_if_never_started(coroutine: Awaitable[Any]) -> None:
    """Cancelled before its turn: it never started, so there is nothing to undo, and closing
    it spares the "coroutine was never awaited" warning."""
    if inspect.iscoroutine(coroutine) and inspect.getcoroutinestate(coroutine) == (
        inspect.CORO_CREATED
    ):
        coroutine.close()
