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

__all__ = ["FaultyBotApi"]


class FaultyBotApi(LocalBotApi):
    """A :class:`LocalBotApi` whose next calls of a method can be made to fail or to stall.

    Without a ``clock`` it uses real time: the end-to-end tests serve it to a real bot process,
    which reads the system clock too.
    """

    def __init__(self, *, clock: Callable[[], datetime] | None = None, **kwargs: Any) -> None:
        super().__init__(clock=clock or SystemClock().now, **kwargs)
        self._failures: dict[str, list[LocalApiError]] = {}
        self._stalls: dict[str, list[float]] = {}

    def fail_next(self, method: str, error: LocalApiError, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``error``."""
        self._failures.setdefault(self._canonical(method), []).extend([error] * times)

    def stall_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` answer only after ``seconds`` (the call
        still takes effect): a client with a shorter read timeout sees a timeout."""
        self._stalls.setdefault(self._canonical(method), []).extend([seconds] * times)

    async def _before(self, name: str) -> None:
        queued = self._failures.get(name)
        if queued:
            raise queued.pop(0)

    async def _after(self, name: str) -> None:
        stalls = self._stalls.get(name)
        if stalls:
            await asyncio.sleep(stalls.pop(0))
