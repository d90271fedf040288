"""Telegram's service messages about a chat itself: a group upgraded to a supergroup."""

from __future__ import annotations

from telegram import Update

from bot.telegram.chats import follow_chat
from bot.telegram.context import FocusContext

__all__ = ["chat_migrated"]


async def chat_migrated(update: Update, context: FocusContext) -> None:
    """A group became a supergroup: its sessions (and note targets) follow to the new id.

    Telegram sends two service messages: ``migrate_to_chat_id`` in the old group and
    ``migrate_from_chat_id`` in the new supergroup; either one moves them (the second finds
    nothing left to move). Registered before the gatekeeper, and it lets the update go on: it
    is Telegram's word about the chat, whoever is shown as its sender.
    """
    message = update.message
    if message is None:
        return
    if message.migrate_to_chat_id is not None:
        await follow_chat(context.service.store, message.chat.id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id is not None:
        await follow_chat(context.service.store, message.migrate_from_chat_id, message.chat.id)
