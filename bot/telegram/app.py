"""The one wiring place: ``build_application`` registers everything and owns the lifecycle."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.core.clock import Clock, SystemClock
from bot.core.service import FocusService, SessionDefaults
from bot.core.settings import Settings
from bot.telegram import diagnostics, handlers, texts
from bot.telegram.changes import TelegramChanges
from bot.telegram.context import BotData, FocusApplication, FocusContext
from bot.telegram.dispatcher import Dispatcher
from bot.telegram.ordering import RUNNING, PerUserOrder
from bot.telegram.ratelimit import FocusRateLimiter
from bot.telegram.reminders import ReminderDispatcher
from storage import open_storage

__all__ = ["build_application", "close_application", "open_application"]

log = logging.getLogger(__name__)


def build_application(
    settings: Settings,
    *,
    clock: Clock | None = None,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    token: str | None = None,
    rate_limiter: bool = True,
    concurrent_updates: int = RUNNING,
) -> FocusApplication:
    """Build the bot: handlers in order, error handler, storage opened and closed with it.

    ``request`` / ``get_updates_request`` replace the HTTP transport (console mode, tests,
    benchmarks); ``token`` overrides the settings' token for them. ``concurrent_updates``: how
    many updates run at once (see ``bot.telegram.ordering``; 1 is PTB's one at a time, for
    comparison).
    """
    clock = clock or SystemClock()
    secret = settings.telegram_bot_token
    bot_token = token or (secret.get_secret_value() if secret else None)
    if not bot_token:
        raise ValueError("no bot token: set TELEGRAM_BOT_TOKEN or use console mode")

    async def post_init(app: Application[Any, Any, Any, Any, BotData, Any]) -> None:
        """Open storage, build the services, arm the dispatcher for whatever is due."""
        if settings.focus_time_scale != 1:
            log.warning(
                "FOCUS_TIME_SCALE is %s: every duration runs %s times faster than real time",
                settings.focus_time_scale,
                settings.focus_time_scale,
            )
        store = await open_storage(settings.focus_database)
        service = FocusService(
            store,
            settings.limits(),
            clock,
            SessionDefaults(
                minutes=settings.focus_default_minutes,
                block_minutes=settings.focus_block_minutes,
                break_minutes=settings.focus_break_minutes,
            ),
        )
        dispatcher = Dispatcher(service, app.bot, app.job_queue)
        # The one owner of "a session changed" is the core; this is what acts on it.
        service.changes = TelegramChanges(dispatcher)
        app.bot_data.service, app.bot_data.dispatcher = service, dispatcher
        # Reminders and weekly reviews: their own job, armed from their rows.
        reminders = ReminderDispatcher(service, app.bot, app.job_queue)
        service.routine_wake = reminders.arm
        app.bot_data.reminders = reminders
        app.bot_data.allowed_users = settings.focus_allowed_users
        try:
            await app.bot.set_my_commands(texts.bot_commands())
        except TelegramError as error:  # the menu is a nicety; the bot works without it
            log.warning("could not set the command menu: %s", error)
        # Recovery after a restart: one run, right away, over everything due while we were
        # down (the policy drops what is too late, and ends what ended, with a late summary).
        dispatcher.arm(clock.now())
        reminders.arm(clock.now())
        diagnostics.install()  # kill -USR1 <pid>: one line of counts (bot/telegram/diagnostics.py)

    async def post_shutdown(app: Application[Any, Any, Any, Any, BotData, Any]) -> None:
        """Close storage (after in-flight handlers have finished)."""
        diagnostics.uninstall()
        if app.bot_data.dispatcher is not None:
            app.bot_data.dispatcher.awake.stop()
        service = app.bot_data.service
        if service is not None:
            await service.store.close()

    async def on_overflow(update: object) -> None:
        """Someone's updates came faster than they can be answered (``bot.telegram.ordering``)."""
        await handlers.slow_down(update, settings.focus_allowed_users)

    builder = (
        ApplicationBuilder()
        .token(bot_token)
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.file_base_url())
        .context_types(ContextTypes(context=FocusContext, bot_data=BotData))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .concurrent_updates(PerUserOrder(concurrent_updates, on_overflow=on_overflow))
        .application_class(FocusApplication)
    )
    if rate_limiter:
        # Telegram's limits kept ahead of time (29/s, 1/s per chat, 20/min per group); a
        # 429 is waited out for its chat and retried up to 3 times. See bot/telegram/ratelimit.py
        # for the gaps of PTB's AIORateLimiter this closes.
        builder = builder.rate_limiter(FocusRateLimiter(max_retries=3))  # type: ignore[arg-type]
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    app = builder.build()
    assert isinstance(app, FocusApplication)  # noqa: S101 - application_class above
    _register(app)
    return app


def _register(app: FocusApplication) -> None:
    """Every handler, in order. Groups -2 and -1 run first for every update."""
    # 1. The one gate, before anything touches storage: only new messages with a sender and
    #    button presses get past it (so the handlers below never see an edited message, which
    #    PTB's Command- and MessageHandler would accept, nor a channel post); Telegram's shared
    #    accounts (anonymous admins, channels) are answered there and stop; then access control.
    app.add_handler(TypeHandler(Update, handlers.gatekeeper), group=-1)
    # 1b. Before it, and letting the update go on: a group upgraded to a supergroup (Telegram's
    #     service message) moves its sessions to the new chat id.
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, handlers.chat_migrated), group=-2)
    # 2. Commands. /end is an alias of /stop.
    app.add_handler(CommandHandler("start", handlers.start))
    app.add_handler(CommandHandler("help", handlers.help_command))
    app.add_handler(CommandHandler("focus", handlers.focus))
    app.add_handler(CommandHandler("pause", handlers.pause))
    app.add_handler(CommandHandler("resume", handlers.resume))
    app.add_handler(CommandHandler("status", handlers.status))
    app.add_handler(CommandHandler("extend", handlers.extend))
    app.add_handler(CommandHandler(["stop", "end"], handlers.stop))
    # 3. The user's data: insight, settings, export, erase.
    app.add_handler(CommandHandler("stats", handlers.stats))
    app.add_handler(CommandHandler("history", handlers.history))
    app.add_handler(CommandHandler("settings", handlers.settings))
    app.add_handler(CommandHandler("timezone", handlers.timezone))
    app.add_handler(CommandHandler("export", handlers.export))
    app.add_handler(CommandHandler("delete_me", handlers.delete_me))
    app.add_handler(CommandHandler("correct", handlers.correct))  # a session's own record
    # 3b. Around the sessions: the daily goal, the reminder to start, quiet hours.
    app.add_handler(CommandHandler("goal", handlers.goal))
    app.add_handler(CommandHandler("remind", handlers.remind))
    app.add_handler(CommandHandler("quiet", handlers.quiet))
    app.add_handler(CommandHandler("review", handlers.review))  # the weekly review's time
    # 4. Buttons: one router that checks owner and state.
    app.add_handler(CallbackQueryHandler(handlers.on_button))
    # 5. Plain text: score replies and hints.
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, handlers.on_text))
    # 6. Unknown commands in private chats.
    app.add_handler(
        MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, handlers.unknown_command)
    )
    app.add_error_handler(handlers.error_handler)


AnyApplication = Application[Any, Any, Any, Any, Any, Any]


async def open_application(app: AnyApplication) -> None:
    """What ``run_polling`` does before it polls: initialise, then ``post_init`` (storage
    opened, dispatcher built and armed). For code that drives the Application itself —
    console mode, the tests' harness, the benchmark. Shuts it down again if post_init fails."""
    await app.initialize()
    try:
        if app.post_init is not None:
            await app.post_init(app)
    except BaseException:
        await app.shutdown()
        raise


async def close_application(app: AnyApplication) -> None:
    """What ``run_polling`` does after it stops: shut down, then ``post_shutdown`` (storage
    closed)."""
    await app.shutdown()
    if app.post_shutdown is not None:
        await app.post_shutdown(app)
