"""The Telegram side of the core's change port: re-arm, refresh the start card, send the summary.

Every use case that changes a session tells :class:`TelegramChanges` what follows from it
(``bot.core.changes``); handlers only reply.
"""

from __future__ import annotations

import logging

from telegram.error import TelegramError

from bot.core.changes import SessionChange
from bot.core.timefmt import zone
from bot.telegram import texts
from bot.telegram.dispatcher import Dispatcher
from bot.telegram.ratelimit import Lane
from bot.telegram.sending import edit_html
from storage import Session

__all__ = ["TelegramChanges"]

log = logging.getLogger(__name__)


class TelegramChanges:
    """Acts on a committed change of a session."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.service = dispatcher.service

    async def session_changed(self, change: SessionChange) -> None:
        """Arm the dispatcher for the session's next look; then the summary or the card."""
        self.dispatcher.arm(change.wake_at)
        if change.summary:
            # Only a person's /stop or ⏹ ends a session through the port: the summary is
            # its answer, so it goes in the answers' lane.
            await self.dispatcher.send_summary(change.session.id, lane=Lane.ANSWER)
        elif change.card:
            await self.refresh_card(change.session)

    async def refresh_card(self, session: Session) -> None:
        """Bring the start card up to date: its end time, and ⏸ Pause or ▶ Resume."""
        if session.card_message_id is None:
            return
        tz_name = await self.service.timezone_of(session.user_id)
        card = texts.start_card(
            session, zone(tz_name), tz_name, checkins=await self.service.has_checkins(session)
        )
        try:
            await edit_html(
                self.dispatcher.bot,
                session.chat_id,
                session.card_message_id,
                card,
                texts.card_keyboard(session),
            )
        except TelegramError as error:  # best effort: deleted by the user, unchanged, ...
            log.debug("card of session %d not refreshed: %s", session.id, error)
