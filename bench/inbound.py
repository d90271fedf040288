"""Inbound updates/s: many users driving the real Application through long polling.

Why polling and not ``process_update`` from many tasks: production runs ``run_polling``, so
updates are fetched by the Updater (getUpdates, up to 100 at a time), put on ``update_queue``
and handed to the update processor — ours, ``bot.telegram.ordering.PerUserOrder``: up to 8 users'
updates at once, each user's in order. The benchmark runs exactly that —
``Updater.start_polling`` and ``Application.start`` — over the in-process transport, so what it
measures is what a production bot can absorb. The echo bot keeps PTB's default (one update at
a time), as a bare echo bot would.

Users are closed-loop: each has one update in flight and sends the next (its next command, or
a press of a button the bot sent it) as soon as the bot has handled the previous one. With
many users, the queue never runs dry. A handler in group -1000 and one in group 1000 bracket
every update: the time between them is the handler time (every group, storage included).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackContext,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.core.clock import SystemClock
from bot.offline.local_api import LocalBotApi, LocalRequest, OutgoingMessage
from bot.telegram.app import build_application, close_application, open_application
from bot.telegram.callbacks import CardButton, RestoreButton, ScoreButton, decode
from bot.telegram.ordering import RUNNING
from tests.support.standin import BotApiStandin

from .common import BENCH_TOKEN, bench_settings, percentile

__all__ = ["InboundResult", "run_inbound"]

AnyApp = Application[Any, Any, Any, Any, Any, Any]

FOCUS_SCRIPT = (
    "/focus 25 write the report",
    "/status",
    "press:card",  # ⏸ Pause
    "press:card",  # ▶ Resume (the card was edited in place)
    "/status",
    "/stop",
    "press:summary",  # score 4 (or ↩ Count it: stopped at once, the session is a stray)
)
"""One user's cycle: 7 updates — 4 commands, 3 button presses — each with storage writes."""

_SCORE_BUTTON = 3  # the fourth of 1 2 3 4 5


@dataclass
class InboundResult:
    """What one inbound run measured."""

    bot: str
    transport: str
    users: int
    updates: int
    seconds: float
    handler_ms: list[float] = field(repr=False)
    e2e_ms: list[float] = field(repr=False)
    errors: int
    fallbacks: int
    api_calls: dict[str, int]

    @property
    def per_s(self) -> float:
        """Updates handled per second."""
        return self.updates / self.seconds if self.seconds else 0.0

    def handler_p(self, q: float) -> float:
        """Handler time percentile, ms."""
        return percentile(self.handler_ms, q)

    def e2e_p(self, q: float) -> float:
        """Enqueue-to-handled percentile, ms (queueing behind other users included)."""
        return percentile(self.e2e_ms, q)


class _Users:
    """Closed-loop simulated users over one LocalBotApi."""

    def __init__(
        self, api: LocalBotApi, user_ids: list[int], budget: int, script: tuple[str, ...]
    ) -> None:
        self.api = api
        self.user_ids = user_ids
        self.budget = budget
        self.script = script
        self.sent = 0
        self.handled = 0
        self.fallbacks = 0
        self.step: dict[int, int] = dict.fromkeys(user_ids, 0)
        self.enqueued: dict[int, float] = {}
        self.e2e_ms: list[float] = []
        self.card: dict[int, int] = {}
        self.summary: dict[int, int] = {}
        self.summary_button: dict[int, int] = {}
        self.finished = asyncio.Event()

    def on_outgoing(self, _change: str, msg: OutgoingMessage) -> None:
        """Remember the messages whose buttons a user will press next."""
        buttons = msg.buttons()
        if not buttons:
            return
        data = decode(buttons[0][1])
        if isinstance(data, CardButton):
            self.card[msg.chat_id] = msg.message_id
        elif isinstance(data, ScoreButton):
            self.summary[msg.chat_id] = msg.message_id
            self.summary_button[msg.chat_id] = _SCORE_BUTTON
        elif isinstance(data, RestoreButton):  # a stray's summary: its one button, undo
            self.summary[msg.chat_id] = msg.message_id
            self.summary_button[msg.chat_id] = 0

    def start(self) -> None:
        """Every user sends a first update."""
        for user_id in self.user_ids:
            self._next(user_id)

    def handled_one(self, update: Update, now: float) -> None:
        """An update was handled: time it, and let its user send the next one."""
        self.handled += 1
        started = self.enqueued.pop(update.update_id, None)
        if started is not None:
            self.e2e_ms.append((now - started) * 1000)
        user = update.effective_user
        if user is not None and user.id in self.step:
            self._next(user.id)
        if self.handled >= self.budget:
            self.finished.set()

    def _next(self, user_id: int) -> None:
        if self.sent >= self.budget:
            return
        step = self.step[user_id]
        self.step[user_id] = step + 1
        action = self.script[step % len(self.script)]
        payload = self._payload(user_id, action)
        self.sent += 1
        self.enqueued[int(payload["update_id"])] = time.perf_counter()

    def _payload(self, user_id: int, action: str) -> dict[str, Any]:
        if action.startswith("press:"):
            target = (self.card if action == "press:card" else self.summary).pop(user_id, None)
            if target is not None:
                button = 0 if action == "press:card" else self.summary_button.get(user_id, 0)
                if action == "press:card":
                    self.card[user_id] = target  # pressed twice (pause, then resume)
                return self.api.user_press(user_id=user_id, message_id=target, button=button)
            self.fallbacks += 1
            action = "/status"
        if "{" in action:
            action = action.format(n=self.step[user_id])
        return self.api.user_message(user_id=user_id, text=action)


class _Bracket:
    """Handlers that open and close every update, and count errors."""

    def __init__(self, on_done: Callable[[Update, float], None]) -> None:
        self.on_done = on_done
        self.starts: dict[int, float] = {}
        self.handler_ms: list[float] = []
        self.errors = 0

    def install(self, app: AnyApp) -> None:
        """Add the bracket around every other handler of ``app``."""
        app.add_handler(TypeHandler(Update, self._open), group=-1000)
        app.add_handler(TypeHandler(Update, self._close), group=1000)
        app.add_error_handler(self._error)

    async def _open(self, update: Update, _context: CallbackContext[Any, Any, Any, Any]) -> None:
        self.starts[update.update_id] = time.perf_counter()

    async def _close(self, update: Update, _context: CallbackContext[Any, Any, Any, Any]) -> None:
        now = time.perf_counter()
        self.handler_ms.append((now - self.starts.pop(update.update_id)) * 1000)
        self.on_done(update, now)

    async def _error(self, _update: object, _context: CallbackContext[Any, Any, Any, Any]) -> None:
        self.errors += 1


async def _echo(update: Update, _context: CallbackContext[Any, Any, Any, Any]) -> None:
    """The bare echo bot: reply with the text."""
    message = update.effective_message
    if message is not None and message.text:
        await message.reply_text(message.text)


def _echo_application(builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any]) -> AnyApp:
    app = builder.token(BENCH_TOKEN).build()
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    return app


async def run_inbound(
    *,
    bot: str,
    transport: str,
    database: Path,
    users: int,
    updates: int,
    warmup: int,
    rate_limiter: bool = False,
    first_user: int = 10_000,
    latency: float = 0.0,
    running: int = RUNNING,
) -> InboundResult:
    """Drive ``bot`` ("focus" or "echo") with ``updates`` updates from ``users`` users.

    ``transport`` is "local" (LocalRequest: no sockets) or "http" (PTB's HTTPXRequest to the
    stand-in on 127.0.0.1, served from this process). A warm-up of ``warmup`` updates from other
    users runs first and is not counted. ``latency``: seconds of a round trip to the stand-in
    ("http" only), as to Telegram's servers. ``running``: the focus bot's updates at once
    (``bot.telegram.ordering``; 1 is one at a time).
    """
    current: list[_Users] = []
    api = LocalBotApi(clock=SystemClock().now, on_outgoing=_Forward(current))
    async with AsyncExitStack() as stack:
        base_url = None
        if transport == "http":
            standin = await stack.enter_async_context(BotApiStandin(api, latency=latency))
            base_url = standin.base_url
        app = _build(bot, api, database, base_url, rate_limiter, running)
        script = FOCUS_SCRIPT if bot == "focus" else ("hello {n}", "how are you {n}")
        bracket = _Bracket(lambda update, now: current[-1].handled_one(update, now))
        bracket.install(app)
        await open_application(app)
        stack.push_async_callback(close_application, app)
        assert app.updater is not None  # noqa: S101 - built with the default Updater
        await app.updater.start_polling(
            poll_interval=0, timeout=10, allowed_updates=["message", "callback_query"]
        )
        await app.start()
        stack.push_async_callback(_stop, app, api)

        warm = _Users(api, list(range(first_user, first_user + users)), warmup, script)
        current.append(warm)
        if warmup:
            warm.start()
            await asyncio.wait_for(warm.finished.wait(), timeout=60 + warmup / 20)
        ids = list(range(first_user + users, first_user + 2 * users))
        measured = _Users(api, ids, updates, script)
        current.append(measured)
        handler_before = len(bracket.handler_ms)
        errors_before = bracket.errors
        calls_before = dict(api.calls)
        started = time.perf_counter()
        measured.start()
        await asyncio.wait_for(measured.finished.wait(), timeout=120 + updates / 10)
        seconds = time.perf_counter() - started
        calls = {k: v - calls_before.get(k, 0) for k, v in api.calls.items()}
    return InboundResult(
        bot=bot,
        transport=transport,
        users=users,
        updates=measured.handled,
        seconds=seconds,
        handler_ms=bracket.handler_ms[handler_before:],
        e2e_ms=measured.e2e_ms,
        errors=bracket.errors - errors_before,
        fallbacks=measured.fallbacks,
        api_calls={k: v for k, v in calls.items() if v},
    )


class _Forward:
    """Forwards the API's outgoing messages to the users driving it (they press its buttons)."""

    def __init__(self, current: list[_Users]) -> None:
        self.current = current

    def __call__(self, change: str, msg: OutgoingMessage) -> None:
        if self.current:
            self.current[-1].on_outgoing(change, msg)


def _build(
    bot: str,
    api: LocalBotApi,
    database: Path,
    base_url: str | None,
    rate_limiter: bool,
    running: int,
) -> AnyApp:
    if bot == "echo":
        builder = ApplicationBuilder()
        if base_url is None:
            builder = builder.request(LocalRequest(api)).get_updates_request(LocalRequest(api))
        else:
            builder = builder.base_url(base_url)
        return _echo_application(builder)
    if base_url is None:
        return build_application(
            bench_settings(database),
            clock=SystemClock(),
            request=LocalRequest(api),
            get_updates_request=LocalRequest(api),
            token=BENCH_TOKEN,
            rate_limiter=rate_limiter,
            concurrent_updates=running,
        )
    return build_application(
        bench_settings(database, telegram_base_url=base_url),
        clock=SystemClock(),
        token=BENCH_TOKEN,
        rate_limiter=rate_limiter,
        concurrent_updates=running,
    )


async def _stop(app: AnyApp, api: LocalBotApi) -> None:
    """Stop polling and the application, as run_polling does on the way out."""
    api.interrupt_polls()
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
