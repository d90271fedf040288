"""The real Application, offline: an in-process Bot API, a fake clock, a real SQLite file.

Updates go through ``Application.process_update`` (the same path polling uses after fetching),
and the dispatcher is run explicitly after the test moves the clock, so nothing waits on the
wall clock.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from telegram import Update

from bot.core.service import FocusService
from bot.core.settings import Settings
from bot.offline.local_api import LocalRequest, OutgoingMessage
from bot.telegram.app import build_application, close_application, open_application
from bot.telegram.context import FocusApplication
from bot.telegram.dispatcher import Dispatcher, DispatchReport
from tests.support.fakes import FakeClock
from tests.support.faults import FaultyBotApi

__all__ = ["USER", "BotHarness"]

USER = 4242


class BotHarness:
    """One bot process's worth of state, driven by a test."""

    def __init__(
        self,
        db_path: Path,
        clock: FakeClock | None = None,
        api: FaultyBotApi | None = None,
        *,
        rate_limiter: bool = False,
        read_timeout: float = 5.0,
        **settings: Any,
    ) -> None:
        self.clock = clock or FakeClock()
        self.api = api or FaultyBotApi(clock=self.clock.now)
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            telegram_bot_token=None,
            focus_database=db_path,
            **settings,
        )
        self.app: FocusApplication = build_application(
            self.settings,
            clock=self.clock,
            request=LocalRequest(self.api, read_timeout),
            get_updates_request=LocalRequest(self.api),
            token="1:offline",  # noqa: S106 - the in-process API accepts any token
            rate_limiter=rate_limiter,
        )

    async def __aenter__(self) -> BotHarness:
        await open_application(self.app)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await close_application(self.app)

    @property
    def service(self) -> FocusService:
        """The application's service."""
        assert self.app.bot_data.service is not None
        return self.app.bot_data.service

    @property
    def dispatcher(self) -> Dispatcher:
        """The application's dispatcher."""
        assert self.app.bot_data.dispatcher is not None
        return self.app.bot_data.dispatcher

    async def send(
        self,
        text: str,
        *,
        user_id: int = USER,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Ada",
        **message: Any,
    ) -> list[OutgoingMessage]:
        """A user sends ``text``; returns what the bot sent or edited in answer. ``message``:
        more of ``LocalBotApi.user_message``'s keywords (``sender_chat``, ``edited`` ...)."""
        payload = self.api.user_message(
            user_id=user_id,
            text=text,
            chat_id=chat_id,
            chat_type=chat_type,
            first_name=first_name,
            **message,
        )
        return await self.process(payload)

    async def process(self, payload: dict[str, Any]) -> list[OutgoingMessage]:
        """Handle one update given as the Bot API's JSON (any kind, even one we never ask
        for); returns what the bot sent or edited in answer."""
        before = len(self.api.sent)
        await self.app.process_update(Update.de_json(payload, self.app.bot))
        await self.app.bot_data.bulk.idle()  # files (/export, charts) follow in the background
        return self.api.sent[before:]

    async def press(
        self, message: OutgoingMessage, label: str, *, user_id: int = USER
    ) -> str | None:
        """A user presses the button whose text contains ``label``; returns the answer text."""
        data = next(d for text, d in message.buttons() if label in text)
        return await self.press_data(message, data, user_id=user_id)

    async def press_data(
        self, message: OutgoingMessage, data: str, *, user_id: int = USER
    ) -> str | None:
        """A user presses a button with exactly this callback data (it may be forged)."""
        payload = self.api.user_press(
            user_id=user_id, chat_id=message.chat_id, message_id=message.message_id, data=data
        )
        before = len(self.api.callback_answers)
        await self.app.process_update(Update.de_json(payload, self.app.bot))
        await self.app.bot_data.bulk.idle()
        answers = self.api.callback_answers[before:]
        assert len(answers) == 1, f"expected one callback answer, got {answers}"
        return answers[0].text

    async def tick(self, **delta: float) -> DispatchReport:
        """Move the clock, then let the dispatcher do what is due."""
        self.clock.advance(timedelta(**delta))
        return await self.dispatcher.run_due()

    def texts(self, chat_id: int = USER) -> list[str]:
        """What the user sees in the chat, oldest first."""
        return [m.shown_text or "" for m in self.api.messages_to(chat_id)]
