"""A group that became a supergroup (issue 14): Telegram refuses every call on the old chat id
with 400 and ``migrate_to_chat_id``; the sessions follow to the new id and the message goes
there once (the refusal is certain, so one resend can never make it arrive twice)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.offline.local_api import OutgoingMessage
from tests.support.fakes import FakeClock
from tests.support.harness import USER, BotHarness

GROUP, SUPERGROUP = -100, -1001234567890
ASK = "How focused were you?"


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotHarness]:
    async with BotHarness(tmp_path / "focus.db") as harness:
        yield harness


async def run_minutes(bot: BotHarness, minutes: int) -> None:
    for _ in range(minutes):
        await bot.tick(minutes=1)


def in_chat(bot: BotHarness, chat_id: int, mark: str) -> list[OutgoingMessage]:
    return [m for m in bot.api.messages_to(chat_id) if mark in (m.shown_text or "")]


async def focus_in_the_group(bot: BotHarness, minutes: int = 45) -> None:
    await bot.send(f"/focus {minutes}", chat_id=GROUP, chat_type="group")


async def test_a_checkin_follows_the_group_into_its_supergroup(bot: BotHarness) -> None:
    await focus_in_the_group(bot)
    bot.api.migrate_chat(GROUP, SUPERGROUP)
    await run_minutes(bot, 12)  # the check-in at 12: refused in the group, sent to the new one
    assert len(in_chat(bot, SUPERGROUP, "👀")) == 1
    assert bot.api.migrated_calls == [("sendMessage", GROUP)]
    session = await bot.service.get(1)
    assert session is not None and session.chat_id == SUPERGROUP
    [status] = await bot.send("/status", chat_id=SUPERGROUP, chat_type="supergroup")
    assert "Focus: 12 min done" in (status.shown_text or "")  # the new chat finds it
    await run_minutes(bot, 14)  # the break at 25: straight to the new chat
    assert len(in_chat(bot, SUPERGROUP, "☕")) == 1
    await run_minutes(bot, 30)  # the rest, and the summary
    assert len(in_chat(bot, SUPERGROUP, ASK)) == 1
    assert [m for m, _ in bot.api.migrated_calls].count("sendMessage") == 1


async def test_the_summary_follows_the_group_and_its_note_too(bot: BotHarness) -> None:
    await focus_in_the_group(bot, 25)
    await run_minutes(bot, 24)
    bot.api.migrate_chat(GROUP, SUPERGROUP)
    await bot.tick(minutes=1)
    [summary] = in_chat(bot, SUPERGROUP, ASK)
    assert in_chat(bot, GROUP, ASK) == []
    assert bot.api.migrated_calls[0] == ("sendMessage", GROUP)
    assert await bot.press(summary, "4") == "Saved: focus 4/5. Thanks!"
    [ack] = await bot.send(
        "phone kept buzzing",
        chat_id=SUPERGROUP,
        chat_type="supergroup",
        reply_to_message_id=summary.message_id,
    )
    assert "Note" in (ack.shown_text or "") and "saved" in (ack.shown_text or "")
    session = await bot.service.get(1)
    assert session is not None and (session.chat_id, session.note) == (
        SUPERGROUP,
        "phone kept buzzing",
    )


def service_message(bot: BotHarness, chat_id: int, **fields: Any) -> dict[str, Any]:
    """Telegram's service message about the migration, as an update."""
    chat_type = "group" if chat_id == GROUP else "supergroup"
    return {
        "update_id": 10_000 + len(bot.api.sent),
        "message": {
            "message_id": 999,
            "date": int(bot.clock.now().timestamp()),
            "chat": {"id": chat_id, "type": chat_type, "title": "Team"},
            "from": {"id": USER, "is_bot": False, "first_name": "Ada"},
            **fields,
        },
    }


@pytest.mark.parametrize("side", ["to", "from"])
async def test_the_service_message_moves_the_sessions_before_any_send(
    bot: BotHarness, side: str
) -> None:
    await focus_in_the_group(bot)
    bot.api.migrate_chat(GROUP, SUPERGROUP)
    if side == "to":
        update = service_message(bot, GROUP, migrate_to_chat_id=SUPERGROUP)
    else:
        update = service_message(bot, SUPERGROUP, migrate_from_chat_id=GROUP)
    assert await bot.process(update) == []  # no answer to it
    session = await bot.service.get(1)
    assert session is not None and session.chat_id == SUPERGROUP
    await run_minutes(bot, 12)
    assert len(in_chat(bot, SUPERGROUP, "👀")) == 1
    assert bot.api.migrated_calls == []  # nothing was even tried on the old id


async def test_a_reminder_follows_a_migrated_chat_once(tmp_path: Path) -> None:
    """Reminders go to the person's private chat, which Telegram never migrates; should it
    answer so anyway, the reminder is resent once to the id it names."""
    wednesday = datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    async with BotHarness(tmp_path / "f.db", FakeClock(wednesday)) as bot:
        await bot.send("/remind 09:30")
        bot.api.migrate_chat(USER, SUPERGROUP)
        reminders = bot.app.bot_data.reminders
        assert reminders is not None
        for _ in range(20):
            bot.clock.advance(timedelta(minutes=5))
            await reminders.run_due()
        assert len(in_chat(bot, SUPERGROUP, "⏰ Time")) == 1
        assert bot.api.migrated_calls == [("sendMessage", USER)]
