"""/settings, /timezone, /history, /export, /delete_me through the offline transport."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.export import CSV_COLUMNS
from bot.offline.local_api import OutgoingMessage
from storage.models import to_ms
from tests.support.fakes import T0
from tests.support.harness import USER, BotHarness


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotHarness]:
    async with BotHarness(tmp_path / "focus.db") as harness:
        yield harness


async def finish_sessions(bot: BotHarness, count: int, minutes: int = 25) -> None:
    for n in range(count):
        await bot.send(f"/focus {minutes} task {n}")
        for _ in range(minutes + 1):
            await bot.tick(minutes=1)


# --- /settings and /timezone -----------------------------------------------------------------


async def test_settings_show_defaults_and_buttons(bot: BotHarness) -> None:
    [reply] = await bot.send("/settings")
    text = reply.shown_text or ""
    assert "Timezone: UTC" in text
    assert "Default session: 25 min" in text
    assert "Focus block: 25 min · Break: 5 min" in text
    assert "Nudges: normal" in text
    assert [b for b, _ in reply.buttons()] == [
        "Default → 45 min",
        "Block → 30 min",
        "Break → 10 min",
        "🔕 Nudges: quiet",
        "🗓 Weekly review: turn on",
    ]


async def test_settings_buttons_change_the_next_session(bot: BotHarness) -> None:
    [reply] = await bot.send("/settings")
    assert await bot.press(reply, "Default") == "Saved."
    assert await bot.press(reply, "Nudges") == "Saved."
    assert "Default session: 45 min" in (reply.shown_text or "")
    assert "Nudges: quiet" in (reply.shown_text or "")
    [card] = await bot.send("/focus")
    assert "Focus: 45 min" in (card.shown_text or "")
    for _ in range(60):
        await bot.tick(minutes=1)
    sent = [m.shown_text or "" for m in bot.api.messages_to(USER)]
    assert not any(t.startswith("👀") for t in sent)  # quiet: no check-ins
    assert any(t.startswith("☕") for t in sent)  # but the break still comes


async def test_settings_by_command_and_bad_values(bot: BotHarness) -> None:
    [reply] = await bot.send("/settings block 45")
    assert "Focus block: 45 min" in (reply.shown_text or "")
    [reply] = await bot.send("/settings break 2")
    assert "Break can be 5–30 minutes" in (reply.shown_text or "")
    [reply] = await bot.send("/settings loudness 11")
    assert "don't have a setting" in (reply.shown_text or "")
    user = await bot.service.store.users.get_user(USER)
    assert user is not None and (user.block_minutes, user.break_minutes) == (45, None)


async def test_start_card_tip_states_the_users_own_default(bot: BotHarness) -> None:
    await bot.send("/settings default 45")
    [card] = await bot.send("/focus")
    text = card.shown_text or ""
    assert "Focus: 45 min" in text
    assert "45 minutes is your default" in text
    assert "25 minutes" not in text


async def test_start_card_tip_states_the_operators_default(tmp_path: Path) -> None:
    async with BotHarness(tmp_path / "op.db", focus_default_minutes=40) as bot:
        [card] = await bot.send("/focus")
        assert "40 minutes is your default" in (card.shown_text or "")
        [card] = await bot.send("/focus 30", chat_id=-5, chat_type="group")
        assert "default" not in (card.shown_text or "")  # a length was given: no tip


async def test_someone_elses_settings_button_changes_nothing(bot: BotHarness) -> None:
    group = -42
    [reply] = await bot.send("/settings", chat_id=group, chat_type="group")
    answer = await bot.press(reply, "Default", user_id=777)
    assert answer == "That button belongs to someone else."
    assert await bot.service.store.users.get_user(777) is None


@pytest.mark.parametrize(
    ("typed", "stored", "local"),
    [
        ("Europe/Berlin", "Europe/Berlin", "10:00"),  # T0 is 09:00 UTC, CET in March
        ("america/new_york", "America/New_York", "05:00"),  # EDT from March 8
        ("+05:30", "+05:30", "14:30"),
    ],
)
async def test_timezone_is_stored_and_used(
    bot: BotHarness, typed: str, stored: str, local: str
) -> None:
    [reply] = await bot.send(f"/timezone {typed}")
    assert f"Timezone set to {stored}" in (reply.shown_text or "")
    assert f"it's {local} there" in (reply.shown_text or "")
    [card] = await bot.send("/focus 25")
    assert stored in (card.shown_text or "")


@pytest.mark.parametrize("typed", ["", "Mars/Olympus", "+25:00", "../../etc/passwd", "x" * 500])
async def test_bad_timezone_is_explained(bot: BotHarness, typed: str) -> None:
    [reply] = await bot.send(f"/timezone {typed}")
    assert "/timezone Europe/Berlin" in (reply.shown_text or "")
    user = await bot.service.store.users.get_user(USER)
    assert user is None or user.timezone == "UTC"


# --- /history --------------------------------------------------------------------------------


async def test_history_pages_newest_first_and_edits_in_place(bot: BotHarness) -> None:
    await finish_sessions(bot, 12, minutes=5)
    [page] = await bot.send("/history")
    lines = (page.shown_text or "").splitlines()
    assert lines[0] == "🗂 Your sessions (page 1 of 2, 12 in all)"
    # ten numbered lines, then the hint that each number opens its session (issue 13)
    hint = "Tap a number to open that session (/correct and /delete take it too)."
    assert len(lines) == 13 and lines[-1] == hint
    assert "task 11" in lines[1] and "task 2" in lines[10]
    # Each line and its button carry the session's own number, the one /correct takes: a
    # position on the page would name another session once a new one starts.
    assert lines[1].startswith("#12 ") and "5/5 min · ✅" in lines[1]
    assert [b for b, _ in page.buttons()] == [f"#{n}" for n in range(12, 2, -1)] + ["Older ▶"]
    await bot.press(page, "Older")
    assert (page.shown_text or "").startswith("🗂 Your sessions (page 2 of 2")
    assert "task 0" in (page.shown_text or "")
    assert [b for b, _ in page.buttons()] == ["#2", "#1", "◀ Newer"]


async def test_history_when_empty(bot: BotHarness) -> None:
    [reply] = await bot.send("/history")
    assert "No sessions yet" in (reply.shown_text or "")


# --- /export ---------------------------------------------------------------------------------


async def test_export_sends_csv_and_json(bot: BotHarness) -> None:
    await bot.send("/timezone Europe/Berlin")
    await finish_sessions(bot, 2)
    await bot.press(bot.api.messages_to(USER)[-1], "4")
    sent = await bot.send("/export")
    csv_doc, json_doc = [m for m in sent if m.kind == "document"]
    assert csv_doc.file_name is not None and csv_doc.file_name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO((csv_doc.file_bytes or b"").decode())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["label"] for r in rows] == ["task 0", "task 1"]
    assert rows[0]["started_at"] == "2026-03-09T10:00:00+01:00"
    assert rows[0]["outcome"] == "completed" and rows[0]["focused_minutes"] == "25.0"
    assert rows[1]["score"] == "4"
    document = json.loads(json_doc.file_bytes or b"")
    assert document["user"] == {"id": USER, "timezone": "Europe/Berlin"}
    kinds = [e["kind"] for e in document["sessions"][0]["events"]]
    assert kinds[0] == "started" and "nudge" in kinds and "ended" in kinds


async def test_export_with_nothing_stored(bot: BotHarness) -> None:
    [reply] = await bot.send("/export")
    assert "nothing to export" in (reply.shown_text or "")


async def test_export_of_ten_thousand_sessions(bot: BotHarness) -> None:
    await bot.service.register(USER)
    db = bot.service.store.connection
    start = to_ms(T0) - 10_000 * 3_600_000
    await db.executemany(
        "INSERT INTO sessions (user_id, chat_id, label, planned_minutes, block_minutes, "
        "break_minutes, started_at, ended_at, focused_ms, outcome) "
        "VALUES (?, ?, ?, 25, 25, 5, ?, ?, 1500000, 'completed')",
        [
            (USER, USER, f"s{n}", start + n * 3_600_000, start + n * 3_600_000 + 1_500_000)
            for n in range(10_000)
        ],
    )
    sent = await bot.send("/export")
    csv_doc, json_doc = [m for m in sent if m.kind == "document"]
    assert (csv_doc.file_bytes or b"").count(b"\n") == 10_001
    assert len(json.loads(json_doc.file_bytes or b"")["sessions"]) == 10_000


FIRST_COLUMNS = (
    "session_id",
    "started_at",
    "ended_at",
    "label",
    "planned_minutes",
    "focused_minutes",
    "outcome",
    "interruptions",
    "breaks",
    "score",
    "scored_at",
    "start_energy",
    "interruption_reasons",
    "note",
    "cancelled",
    "edits",
    "edited_at",
)
"""The columns before the goal's, in their order: readers of older exports rely on it."""


def test_goal_columns_come_after_every_earlier_one() -> None:
    assert (*FIRST_COLUMNS, "goal_minutes", "goal_met", "reminded") == CSV_COLUMNS


def export_files(sent: list[OutgoingMessage]) -> tuple[list[dict[str, str]], dict[str, Any]]:
    csv_doc, json_doc = [m for m in sent if m.kind == "document"]
    rows = list(csv.DictReader(io.StringIO((csv_doc.file_bytes or b"").decode())))
    return rows, json.loads(json_doc.file_bytes or b"")


async def test_export_has_the_goal_the_routine_and_the_reminders(bot: BotHarness) -> None:
    # Mon 9 March, 10:00 in Berlin: a goal of 45 minutes, a weekday reminder at 11:00,
    # quiet hours and the weekly review
    await bot.send("/timezone Europe/Berlin")
    await bot.send("/goal 45m")
    await bot.send("/remind weekdays 11:00")
    await bot.send("/quiet 22:00-07:00")
    [settings] = await bot.send("/settings")
    await bot.press(settings, "Weekly review: turn on")
    reminders = bot.app.bot_data.reminders
    assert reminders is not None
    await finish_sessions(bot, 1)  # 25 minutes on Monday: the goal not met
    bot.clock.advance(minutes=34)  # 11:00: they focused today, so no reminder
    await reminders.run_due()
    bot.clock.advance(hours=24)  # Tue 11:00 in Berlin: the reminder is sent
    await reminders.run_due()
    await finish_sessions(bot, 2)  # 50 minutes on Tuesday: met
    rows, document = export_files(await bot.send("/export"))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [(r["started_at"][:10], r["goal_minutes"], r["goal_met"]) for r in rows] == [
        ("2026-03-09", "45", "0"),
        ("2026-03-10", "45", "1"),
        ("2026-03-10", "45", "1"),
    ]
    assert [(s["goal_minutes"], s["goal_met"]) for s in document["sessions"]] == [
        (45, 0),
        (45, 1),
        (45, 1),
    ]
    assert document["routine"] == {
        "goal_minutes": 45,
        "reminder": {"time": "11:00", "weekdays_only": True, "held": False},
        "quiet_hours": {"from": "22:00", "to": "07:00"},
        "quiet_checkins": False,
        "weekly_review": {"weekday": "sunday", "time": "18:00"},
    }
    monday, tuesday = document["reminders"]
    assert (monday["day"], monday["kind"], monday["status"]) == ("2026-03-09", "remind", "dropped")
    assert monday["reason"] and monday["answered_at"] is None
    assert (tuesday["day"], tuesday["status"], tuesday["reason"]) == ("2026-03-10", "sent", None)
    assert tuesday["due_at"] == "2026-03-10T11:00:00+01:00"


async def test_export_without_a_goal_leaves_its_columns_empty(bot: BotHarness) -> None:
    await finish_sessions(bot, 1)
    rows, document = export_files(await bot.send("/export"))
    assert (rows[0]["goal_minutes"], rows[0]["goal_met"]) == ("", "")
    assert document["routine"] == {
        "goal_minutes": None,
        "reminder": None,
        "quiet_hours": None,
        "quiet_checkins": False,
        "weekly_review": None,
    }
    assert document["reminders"] == []


# --- /delete_me ------------------------------------------------------------------------------


async def test_delete_me_erases_everything_after_confirmation(bot: BotHarness) -> None:
    await finish_sessions(bot, 1)
    [card] = await bot.send("/focus 45 running one")
    [question] = await bot.send("/delete_me")
    assert await bot.press(question, "No") == "Nothing deleted."
    assert await bot.service.store.users.get_user(USER) is not None
    [question] = await bot.send("/delete_me")
    assert await bot.press(question, "Yes") == "Deleted."
    assert "erased your data (2 sessions)" in (question.shown_text or "")
    assert await bot.service.store.users.get_user(USER) is None
    assert await bot.service.active(USER, USER) is None
    before = len(bot.api.sent)
    for _ in range(60):  # the running session is gone: nothing more is sent
        await bot.tick(minutes=1)
    assert len(bot.api.sent) == before
    assert await bot.press(card, "End") == "That session no longer exists."
    [reply] = await bot.send("/export")
    assert "nothing to export" in (reply.shown_text or "")
    [reply] = await bot.send("/history")
    assert "No sessions yet" in (reply.shown_text or "")
