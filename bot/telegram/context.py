"""A typed CallbackContext: handlers reach the service and the dispatcher as attributes; and
the Application, whose ``stop`` first drops the work still waiting for its turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.core.service import FocusService
from bot.telegram.bulk import BulkJobs, Job
from bot.telegram.dispatcher import Dispatcher
from bot.telegram.ordering import PerUserOrder
from bot.telegram.parsing import FocusRequest
from bot.telegram.reminders import ReminderDispatcher

__all__ = ["BotData", "FocusApplication", "FocusContext"]


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
    # Files (/export, /stats charts) sent in the background, off the update slots.
    bulk: BulkJobs = field(default_factory=BulkJobs)
    # The label words of each user's last /history <words>, for its ◀ ▶ (they don't fit in
    # a button's 64 bytes); lost on a restart, when those buttons answer "expired".
    history_words: dict[int, tuple[str, ...]] = field(default_factory=dict)
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

    def send_files_later(self, update: object, person: int, job: Job) -> bool:
        """Run ``job`` (it builds and sends ``person``'s files) in the background, off this
        update's slot (``bot.telegram.bulk``); False if that person's previous files are still on
        their way. Its errors go to the error handler, with ``update``."""

        async def on_error(error: Exception) -> None:
            await self.application.process_error(update, error)

        return self.bot_data.bulk.submit(person, job, on_error)


class FocusApplication(
    Application[ExtBot[None], FocusContext, dict[Any, Any], dict[Any, Any], BotData, Any]
):
    """PTB's Application, stopping promptly however much is queued."""

    async def start(self) -> None:
        """PTB's start, taking updates and file jobs again if an earlier ``stop`` refused them."""
        processor = self.update_processor
        if isinstance(processor, PerUserOrder):
            processor.start_taking()
        self.bot_data.bulk.start_taking()
        await super().start()

    async def stop(self) -> None:
        """Drop the updates still waiting for their turn (``PerUserOrder.stop_waiting``), let
        PTB wait for the running ones, then stop the file sends (``BulkJobs.stop``) — all
        before ``post_shutdown`` closes storage."""
        processor = self.update_processor
        if isinstance(processor, PerUserOrder):
            processor.stop_waiting()
        await super().stop()
        await self.bot_data.bulk.stop()
