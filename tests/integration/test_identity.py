"""Who a message is from: Telegram's shared accounts never get sessions, and the update kinds
the bot does not use are ignored quietly.

Telegram gives every anonymous group admin the same user id (GroupAnonymousBot), every message
posted "as a channel" another (Channel_Bot), and automatic forwards from a linked channel a
third (777000). Treating any of them as a person mixes different people's sessions: the
anonymous admin of one group could read and score another group's. These tests go through the
real Application, offline (``tests/support/harness.py``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram.constants import ChatID

from bot.offline.local_api import OutgoingMessage
from tests.support.harness import USER, BotHarness

ANON = int(ChatID.ANONYMOUS_ADMIN)
CHANNEL_BOT = int(ChatID.FAKE_CHANNEL)
TELEGRAM = int(ChatID.SERVICE_CHAT)
GROUP_A, GROUP_B, GROUP_C = -100_111, -100_222, -100_333
CHANNEL = -100_999
LABEL = "merger plan for ACME (confidential)"
SHARED_LINE = "Post as yourself"


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotHarness]:
    async with BotHarness(tmp_path / "focus.db") as harness:
        yield harness


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of the bot and of PTB, down to DEBUG."""
    caplog.set_level(logging.DEBUG)
    return caplog


async def as_anonymous_admin(bot: BotHarness, text: str, group: int) -> list[OutgoingMessage]:
    """An anonymous admin of ``group`` sends ``text``, exactly as Telegram delivers it."""
    return await bot.send(
        text,
        user_id=ANON,
        chat_id=group,
        chat_type="supergroup",
        first_name="Group",
        username="GroupAnonymousBot",
        is_bot=True,
        sender_chat={"id": group, "type": "supergroup", "title": f"Group {group}"},
    )


async def as_channel(
    bot: BotHarness, text: str, group: int, *, automatic_forward: bool = False
) -> list[OutgoingMessage]:
    """A message in ``group`` sent on behalf of a channel: posted "as the channel" by one of
    its admins (Channel_Bot), or the linked channel's post mirrored in (Telegram, 777000)."""
    return await bot.send(
        text,
        user_id=TELEGRAM if automatic_forward else CHANNEL_BOT,
        chat_id=group,
        chat_type="supergroup",
        first_name="Telegram" if automatic_forward else "Channel",
        username=None if automatic_forward else "Channel_Bot",
        is_bot=not automatic_forward,
        sender_chat={"id": CHANNEL, "type": "channel", "title": "ACME News"},
        automatic_forward=automatic_forward,
    )


def everything_in(messages: list[OutgoingMessage]) -> str:
    """Every text, caption and file the bot sent, as one string to search."""
    return "\n".join(
        (m.shown_text or "") + (m.file_bytes or b"").decode("utf-8", "replace") for m in messages
    )


async def assert_nothing_stored(bot: BotHarness, user_id: int, *chats: int) -> None:
    """No user row, no session of any kind under ``user_id``; nothing running in ``chats``."""
    store = bot.service.store
    assert await store.users.get_user(user_id) is None
    assert (await store.reports.history(user_id, 0, 100))[1] == 0
    for chat in chats:
        assert await store.sessions.running_in_chat(chat) == []


def assert_quiet(logs: pytest.LogCaptureFixture) -> None:
    """No ERROR (or worse) record: the error handler was never reached."""
    assert [r for r in logs.records if r.levelno >= logging.ERROR] == []


# --- the leak, as reported --------------------------------------------------------------------


async def test_anonymous_admins_of_two_groups_never_share_sessions(
    bot: BotHarness, logs: pytest.LogCaptureFixture
) -> None:
    # Group A's anonymous admin starts a confidential session, and ends it.
    shown_in_a = await as_anonymous_admin(bot, f"/focus 30 {LABEL}", GROUP_A)
    shown_in_a += await as_anonymous_admin(bot, "/stop", GROUP_A)
    # Group B's anonymous admin — to Telegram the very same user — asks for "their" data,
    # scores "their" last session and asks to erase "their" account.
    shown_in_b: list[OutgoingMessage] = []
    for text in ("/history", "/export", "1", "/stats", "/delete_me"):
        shown_in_b += await as_anonymous_admin(bot, text, GROUP_B)
    # And a second anonymous admin of group A replies "1" to the summary.
    shown_in_a += await as_anonymous_admin(bot, "1", GROUP_A)

    assert "ACME" not in everything_in(shown_in_b)
    assert [m.kind for m in shown_in_b] == ["message"]  # no file, no chart, no buttons
    assert [m.buttons() for m in shown_in_b] == [[]]
    # Each group heard once how to use the bot, and nothing else.
    for shown in (shown_in_a, shown_in_b):
        [line] = shown
        assert SHARED_LINE in (line.shown_text or "")
        assert "Remain anonymous" in (line.shown_text or "")
    await assert_nothing_stored(bot, ANON, GROUP_A, GROUP_B)
    assert_quiet(logs)


async def test_sessions_stored_under_a_shared_id_by_earlier_versions_stay_unreachable(
    bot: BotHarness, logs: pytest.LogCaptureFixture
) -> None:
    # What an earlier version stored for an anonymous admin of group A: an ended session.
    old = await bot.service.start(ANON, GROUP_A, 30, LABEL, owner_name="Group")
    ended = await bot.service.stop(old)
    assert ended is not None and ended.score is None
    shown: list[OutgoingMessage] = []
    for group in (GROUP_B, GROUP_A):
        for text in ("/history", "/export", "/stats", "1", "/status", "/delete_me"):
            shown += await as_anonymous_admin(bot, text, group)
    assert "ACME" not in everything_in(shown)
    assert all(m.kind == "message" and not m.buttons() for m in shown)
    kept = await bot.service.get(old.id)
    assert kept is not None and kept.score is None and kept.label == LABEL
    assert_quiet(logs)


async def test_a_session_left_running_under_a_shared_id_just_runs_out(bot: BotHarness) -> None:
    # Running when the bot was upgraded: no shared sender can pause or stop it any more (each
    # would be someone else's), and it ends on its own with its one summary.
    old = await bot.service.start(ANON, GROUP_A, 25, LABEL, owner_name="Group")
    bot.dispatcher.arm(old.next_due_at)
    for text in ("/pause", "/stop", "/extend 30"):
        await as_anonymous_admin(bot, text, GROUP_A)
    running = await bot.service.get(old.id)
    assert running is not None and running.running and running.paused_at is None
    assert running.planned_minutes == 25
    for _ in range(30):
        await bot.tick(minutes=1)
    ended = await bot.service.get(old.id)
    assert ended is not None and not ended.running
    summaries = [m for m in bot.api.messages_to(GROUP_A) if "How focused" in (m.shown_text or "")]
    assert len(summaries) == 1


# --- other shared senders ------------------------------------------------------------------


async def test_a_channel_posting_in_a_group_gets_one_line_and_starts_nothing(
    bot: BotHarness, logs: pytest.LogCaptureFixture
) -> None:
    [line] = await as_channel(bot, "/focus 30 launch", GROUP_A)
    assert SHARED_LINE in (line.shown_text or "")
    assert line.reply_to is not None  # answers the post, so the group sees whose it is
    assert await as_channel(bot, "/focus 45", GROUP_A) == []
    assert await as_channel(bot, "4", GROUP_A) == []
    await assert_nothing_stored(bot, CHANNEL_BOT, GROUP_A)
    assert await bot.service.store.users.get_user(CHANNEL) is None
    assert_quiet(logs)


async def test_an_automatic_forward_from_the_linked_channel_is_ignored(
    bot: BotHarness, logs: pytest.LogCaptureFixture
) -> None:
    # A channel's post mirrored into its discussion group: nobody is talking to the bot.
    for text in ("/focus 30 from the channel", "4", "the weekly update"):
        assert await as_channel(bot, text, GROUP_A, automatic_forward=True) == []
    await assert_nothing_stored(bot, TELEGRAM, GROUP_A)
    assert_quiet(logs)


async def test_a_message_from_an_ordinary_bot_is_ignored(bot: BotHarness) -> None:
    # Bots talk to bots only by accident (a bridge, a relay): no session, no answer.
    sent = await bot.send("/focus 30", user_id=555, chat_id=GROUP_A, chat_type="group", is_bot=True)
    assert sent == []
    await assert_nothing_stored(bot, 555, GROUP_A)


async def test_a_shared_sender_pressing_a_button_is_refused(bot: BotHarness) -> None:
    # Telegram sends a button press with the presser's own account, anonymous admin or not;
    # should it ever send a shared one, the press changes nothing.
    await bot.send("/focus 25", chat_id=GROUP_A, chat_type="group")
    [card] = [m for m in bot.api.messages_to(GROUP_A) if "Focus:" in (m.shown_text or "")]
    answer = await bot.press(card, "End", user_id=ANON)
    assert answer is not None and "yourself" in answer
    session = await bot.service.active(USER, GROUP_A)
    assert session is not None and session.running
    await assert_nothing_stored(bot, ANON)


# --- the friendly line: once per chat per hour ----------------------------------------------


async def test_the_friendly_line_comes_once_per_chat_per_hour(
    bot: BotHarness, logs: pytest.LogCaptureFixture
) -> None:
    [first] = await as_anonymous_admin(bot, "/focus 30", GROUP_A)
    assert SHARED_LINE in (first.shown_text or "")
    # A flood from the same chat — commands and text, anonymous admins and channels — gets
    # nothing more within the hour.
    for n in range(50):
        assert await as_anonymous_admin(bot, f"/focus {n}", GROUP_A) == []
        assert await as_channel(bot, "/history", GROUP_A) == []
        assert await as_channel(bot, f"buy now {n}", GROUP_A) == []
    bot.clock.advance(minutes=59)
    assert await as_anonymous_admin(bot, "/stats", GROUP_A) == []
    # Another group has its own hour.
    [other] = await as_anonymous_admin(bot, "/stats", GROUP_B)
    assert SHARED_LINE in (other.shown_text or "")
    # An hour after the first line, group A may hear it once more.
    bot.clock.advance(minutes=1)
    [again] = await as_channel(bot, "/focus", GROUP_A)
    assert SHARED_LINE in (again.shown_text or "")
    assert await as_channel(bot, "/focus", GROUP_A) == []
    await assert_nothing_stored(bot, ANON, GROUP_A, GROUP_B)
    await assert_nothing_stored(bot, CHANNEL_BOT)
    assert_quiet(logs)


async def test_only_our_commands_get_the_line_never_plain_text(bot: BotHarness) -> None:
    # Plain text, another bot's command and a command we don't have: silence, even the first
    # time, so a shared sender can't make the bot talk in a group.
    for text in ("4", "hello everyone", "/ban@ModBot spammer", "/focus@OtherBot 30", "/warn"):
        assert await as_anonymous_admin(bot, text, GROUP_C) == []
    [line] = await as_anonymous_admin(bot, "/focus@FocusCompanionBot 30", GROUP_C)
    assert SHARED_LINE in (line.shown_text or "")
    await assert_nothing_stored(bot, ANON, GROUP_C)


# --- real people in the same group -----------------------------------------------------------


async def test_a_real_member_of_the_group_is_unaffected(
    bot: BotHarness, logs: pytest.LogCaptureFixture
) -> None:
    await as_anonymous_admin(bot, "/focus 30", GROUP_A)
    await as_channel(bot, "/focus 30", GROUP_A)
    [card] = await bot.send("/focus 25 real work", chat_id=GROUP_A, chat_type="supergroup")
    assert "Focus: 25 min" in (card.shown_text or "")
    bot.clock.advance(timedelta(minutes=3))  # not a stray: a session that can be scored
    assert await bot.press(card, "Pause") is not None
    await bot.send("/stop", chat_id=GROUP_A, chat_type="supergroup")
    [ack] = await bot.send("4", chat_id=GROUP_A, chat_type="supergroup")
    assert "4" in (ack.shown_text or "")
    [page] = await bot.send("/history", chat_id=GROUP_A, chat_type="supergroup")
    assert "real work" in (page.shown_text or "")
    # The shared senders' lines never reached storage, the member's session did.
    [session], total = await bot.service.history(USER, 0, 10)
    assert total == 1 and session.score == 4 and session.chat_id == GROUP_A
    await assert_nothing_stored(bot, ANON)
    assert_quiet(logs)


# --- update kinds the bot does not use -------------------------------------------------------


def _message_without_sender(bot: BotHarness) -> dict[str, Any]:
    return {
        "update_id": 9001,
        "message": {
            "message_id": 77,
            "date": int(bot.clock.now().timestamp()),
            "chat": {"id": GROUP_A, "type": "supergroup", "title": "Group A"},
            "text": "/focus 30 no sender",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


def _channel_post(bot: BotHarness, kind: str) -> dict[str, Any]:
    post: dict[str, Any] = {
        "message_id": 5,
        "date": int(bot.clock.now().timestamp()),
        "chat": {"id": CHANNEL, "type": "channel", "title": "ACME News"},
        "sender_chat": {"id": CHANNEL, "type": "channel", "title": "ACME News"},
        "text": "/focus 30 channel secret",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    if kind == "edited_channel_post":
        post["edit_date"] = int(bot.clock.now().timestamp())
    return {"update_id": 9002, kind: post}


def _my_chat_member(bot: BotHarness) -> dict[str, Any]:
    bot_user = {"id": bot.api.bot_id, "is_bot": True, "first_name": "Focus Companion"}
    return {
        "update_id": 9003,
        "my_chat_member": {
            "chat": {"id": GROUP_A, "type": "supergroup", "title": "Group A"},
            "from": {"id": USER, "is_bot": False, "first_name": "Ada"},
            "date": int(bot.clock.now().timestamp()),
            "old_chat_member": {"status": "left", "user": bot_user},
            "new_chat_member": {"status": "member", "user": bot_user},
        },
    }


def _poll(_bot: BotHarness) -> dict[str, Any]:
    return {
        "update_id": 9004,
        "poll": {
            "id": "1",
            "question": "/focus 30?",
            "options": [
                {"text": "yes", "voter_count": 1, "persistent_id": "y"},
                {"text": "no", "voter_count": 0, "persistent_id": "n"},
            ],
            "total_voter_count": 1,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        },
    }


def _future_kind(_bot: BotHarness) -> dict[str, Any]:
    # A kind of update added to the Bot API after this PTB release: PTB keeps it as api_kwargs.
    return {"update_id": 9005, "some_future_update": {"text": "/focus 30"}}


UNUSED_UPDATES = {
    "message_without_from": _message_without_sender,
    "channel_post": lambda bot: _channel_post(bot, "channel_post"),
    "edited_channel_post": lambda bot: _channel_post(bot, "edited_channel_post"),
    "my_chat_member": _my_chat_member,
    "poll": _poll,
    "unknown_kind": _future_kind,
}


@pytest.mark.parametrize("kind", sorted(UNUSED_UPDATES))
async def test_updates_the_bot_does_not_use_are_ignored_quietly(
    bot: BotHarness, logs: pytest.LogCaptureFixture, kind: str
) -> None:
    payload = UNUSED_UPDATES[kind](bot)
    assert await bot.process(payload) == []
    assert bot.api.callback_answers == []
    assert_quiet(logs)
    # One DEBUG line says what was dropped, without any of the text it carried.
    ignored = [
        r
        for r in logs.records
        if r.name == "bot.telegram.handlers.access" and "ignored" in r.message
    ]
    assert len(ignored) == 1 and ignored[0].levelno == logging.DEBUG
    ours = "\n".join(r.getMessage() for r in logs.records if r.name.startswith("bot"))
    assert "/focus" not in ours and "secret" not in ours
    for chat in (GROUP_A, CHANNEL):
        assert await bot.service.store.sessions.running_in_chat(chat) == []
    assert await bot.service.store.users.get_user(USER) is None


async def test_an_edited_focus_command_starts_nothing(
    bot: BotHarness, logs: pytest.LogCaptureFixture
) -> None:
    # Editing "/focus 3" into "/focus 30" must not start a second session, or a first one.
    assert await bot.send("/focus 30", edited=True) == []
    assert await bot.send("/focus 30", chat_id=GROUP_A, chat_type="group", edited=True) == []
    await assert_nothing_stored(bot, USER, USER, GROUP_A)
    assert_quiet(logs)
    # The same text, sent rather than edited, works.
    [card] = await bot.send("/focus 30")
    assert "Focus: 30 min" in (card.shown_text or "")
