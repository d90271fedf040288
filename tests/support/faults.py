"""Fault injection for the tests: the in-process Bot API, made to fail or stall on demand.

Console mode has no use for failures, so they live here rather than in ``bot.offline``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.core.clock import SystemClock
from bot.offline.local_api import LocalApiError, LocalBotApi

__all__ = ["FaultyBotApi", "ProcessKilled"]


class ProcessKilled(BaseException):
    """Stands for a SIGKILL of the bot in the middle of a request: a ``BaseException``, so no
    ``except Exception`` of the bot's runs and nothing after the request happens (the test
    then starts a new harness on the same file, as a restart would)."""


class FaultyBotApi(LocalBotApi):
    """A :class:`LocalBotApi` whose next calls of a method can be made to fail or to stall.

    Without a ``clock`` it uses real time: the end-to-end tests serve it to a real bot process,
    which reads the system clock too.
    """

    def __init__(self, *, clock: Callable[[], datetime] | None = None, **kwargs: Any) -> None:
        super().__init__(clock=clock or SystemClock().now, **kwargs)
        self._failures: dict[str, list[LocalApiError]] = {}
        self._stalls: dict[str, list[float]] = {}
        self._failures_after: dict[str, list[LocalApiError]] = {}
        self.migrated: dict[int, int] = {}
        """Groups upgraded to supergroups (old id → new id): every call on the old id is
        refused as Telegram refuses it."""
        self.migrated_calls: list[tuple[str, int]] = []
        """(method, old chat id) of every call refused because its group migrated."""

    def fail_next(self, method: str, error: LocalApiError, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``error``."""
        self._failures.setdefault(self._canonical(method), []).extend([error] * times)

    def stall_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` answer only after ``seconds`` (the call
        still takes effect): a client with a shorter read timeout sees a timeout."""
        self._stalls.setdefault(self._canonical(method), []).extend([seconds] * times)

    def fail_after_next(self, method: str, error: LocalApiError, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` take effect, then fail with ``error``
        (a 5xx after delivery: the bot cannot know it arrived)."""
        self._failures_after.setdefault(self._canonical(method), []).extend([error] * times)

    def kill_next(self, method: str, *, delivered: bool = False) -> None:
        """The bot dies during the next call of ``method``: before it takes effect, or (with
        ``delivered``) after it took effect, before the answer came back."""
        killed: list[BaseException] = [ProcessKilled(method)]
        queues = self._failures_after if delivered else self._failures
        queues.setdefault(self._canonical(method), []).extend(killed)  # type: ignore[arg-type]

    def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """The group ``old_chat_id`` becomes the supergroup ``new_chat_id``: from now on every
        call naming the old id fails with Telegram's 400 and ``migrate_to_chat_id``."""
        self.migrated[old_chat_id] = new_chat_id

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """Refuse calls on a migrated group, then answer as the in-process Bot API does."""
        chat_id = params.get("chat_id")
        if chat_id not in (None, "") and int(chat_id) in self.migrated:
            self.calls[self._canonical(method)] += 1
            self.migrated_calls.append((self._canonical(method), int(chat_id)))
            raise LocalApiError.chat_migrated(self.migrated[int(chat_id)])
        return await super().call(method, params)

    async def _before(self, name: str) -> None:
        queued = self._failures.get(name)
        if queued:
            raise queued.pop(0)

    async def _after(self, name: str) -> None:
        after = self._failures_after.get(name)
        if after:
            raise after.pop(0)
        stalls = self._stalls.get(name)
        if stalls:
            await asyncio.sleep(stalls.pop(0))
