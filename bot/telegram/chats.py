"""A group that became a supergroup (issue 14): what was sent to it follows to the new id.

When a group is upgraded to a supergroup, Telegram gives the chat a new id and refuses every
later call on the old one with 400 "group chat was upgraded to a supergroup chat", carrying
the new id in ``parameters.migrate_to_chat_id`` (PTB raises :class:`telegram.error.ChatMigrated`
for it). That refusal is certain — nothing was delivered — so sending once more, to the new
id, can never make a message arrive twice. Before that one resend, storage moves whatever
holds the old id (sessions, note targets), so every later message goes to the new chat.
"""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import ChatMigrated

from bot.telegram.ratelimit import Admit, Lane
from bot.telegram.sending import Markup, edit_html, send_html
from storage import Storage

__all__ = ["edit_following", "follow_chat", "send_following"]

log = logging.getLogger(__name__)


async def follow_chat(store: Storage, old_chat_id: int, new_chat_id: int) -> int:
    """Move what storage holds of a chat to its new id; how many sessions moved."""
    moved = await store.sessions.move_chat(old_chat_id, new_chat_id)
    log.info("chat %d became supergroup %d: %d sessions follow", old_chat_id, new_chat_id, moved)
    return moved


async def send_following(
    bot: Bot,
    store: Storage,
    chat_id: int,
    text: str,
    markup: Markup = None,
    *,
    lane: Lane = Lane.ANSWER,
    thread_id: int | None = None,
    admit: Admit | None = None,
) -> tuple[int, int]:
    """``send_html``, following a group that became a supergroup: (chat id, message id) of
    the message as sent. Any other failure (and one of the resend) is the caller's.

    ``admit`` (the claim, see ``send_html``) is asked on the first attempt only: Telegram's
    "migrated" refusal means nothing was delivered, so the claim made then stands for the one
    resend to the new id."""
    try:
        message_id = await send_html(
            bot, chat_id, text, markup, thread_id=thread_id, lane=lane, admit=admit
        )
        return chat_id, message_id
    except ChatMigrated as error:
        new_chat_id = int(error.new_chat_id)
        await follow_chat(store, chat_id, new_chat_id)
        message_id = await send_html(bot, new_chat_id, text, markup, thread_id=thread_id, lane=lane)
        return new_chat_id, message_id


async def edit_following(
    bot: Bot,
    store: Storage,
    chat_id: int,
    message_id: int,
    text: str,
    markup: Markup = None,
    *,
    lane: Lane = Lane.ANSWER,
) -> int:
    """``edit_html``, following a group that became a supergroup (the message is looked for
    once under the new id); the chat id it was edited in."""
    try:
        await edit_html(bot, chat_id, message_id, text, markup, lane=lane)
    except ChatMigrated as error:
        new_chat_id = int(error.new_chat_id)
        await follow_chat(store, chat_id, new_chat_id)
        await edit_html(bot, new_chat_id, message_id, text, markup, lane=lane)
        return new_chat_id
    return chat_id
