"""Who sent a message: a person, or one of the accounts Telegram shares between many people.

Telegram gives every anonymous admin of every group the same sender (GroupAnonymousBot), every
message posted "as a channel" another (Channel_Bot), and every automatic forward from a linked
channel a third ("Telegram", 777000); the real sender is then ``sender_chat``, a chat, not a
person. Sessions stored under one of these ids would mix different people's data, so the bot
never stores or reads anything for them (``bot.telegram.handlers.gatekeeper``).
"""

from __future__ import annotations

from telegram import Message, User
from telegram.constants import ChatID

__all__ = ["SHARED_ACCOUNTS", "is_shared_sender"]

SHARED_ACCOUNTS = frozenset({ChatID.ANONYMOUS_ADMIN, ChatID.FAKE_CHANNEL, ChatID.SERVICE_CHAT})
"""The stand-in user ids Telegram puts in ``from`` for messages sent on behalf of a chat."""


def is_shared_sender(user: User, message: Message | None) -> bool:
    """Whether ``user`` (the update's sender) stands for a chat rather than a person: one of
    SHARED_ACCOUNTS, or ``message`` (the user's own message, if any) sent on behalf of a chat."""
    return user.id in SHARED_ACCOUNTS or (message is not None and message.sender_chat is not None)
