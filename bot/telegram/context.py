"""A typed CallbackContext: handlers reach the service and the dispatcher as attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.core.service import FocusService
from bot.telegram.dispatcher import Dispatcher
from bot.telegram.parsing import FocusRequest
from bot.telegram.reminders import ReminderDispatcher

__all__ = ["BotData", "FocusContext"]


@dataclass
class BotData:
    """What the whole application shares; filled in by ``post_init``."""

    service: FocusService | None = None
    dispatcher: Dispatcher | None = None
    allowed_users: frozenset[int] = frozenset()
    refused_chats: set[int] = field(default_factory=set)
    # When each chat was last told that shared accounts (anonymous admins, channels) can't
    # use the bot; at most once an hour per chat. Lost on restart: one more line at most.
    shared_told: dict[int, datetime] = field(default_factory=dict)
    # "End it and start the new one" needs the /focus that was asked for: kept per
    # (user, chat) until answered. It is only an offer; losing it on restart is harmless.
    offers: dict[tuple[int, int], FocusRequest] = field(default_factory=dict)
    # The reminders' and weekly reviews' job (bot.telegram.reminders).
    reminders: ReminderDispatcher | None = None


class FocusContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """The context every handler receives."""

    @property
    def service(self) -> FocusService:
        """The focus-session use cases."""
        service = self.bot_data.service
        if service is None:
            raise RuntimeError("the application was not initialised (post_init did not run)")
        return service

    @property
    def dispatcher(self) -> Dispatcher:
        """The dispatcher, to arm after a change and to send summaries."""
        dispatcher = self.bot_data.dispatcher
        if dispatcher is None:
            raise RuntimeError("the application was not initialised (post_init did not run)")
        return dispatcher


FocusApplication = Application[
    ExtBot[None], FocusContext, dict[Any, Any], dict[Any, Any], BotData, Any
]
__all__ += ["FocusApplication"]
