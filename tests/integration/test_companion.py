"""The companion through the real handlers and dispatcher, a fake clock moved minute by minute:
flow, distraction with its reason and tip, start energy, recovery, the learnt cadence."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.offline.local_api import OutgoingMessage
from storage import SqliteStorage
from tests.support.fakes import T0
from tests.support.harness import USER, BotHarness


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotHarness]:
    async with BotHarness(tmp_path / "focus.db") as harness:
        yield harness


def proactive(bot: BotHarness) -> list[tuple[int, str]]:
    """(minute since T0, kind) of every check-in, break and back-to-work message."""
    kinds = {"👀": "checkin", "☕": "break", "🔔": "back"}
    return [
        (round((m.sent_at - T0).total_seconds() / 60), kinds[(m.shown_text or "")[0]])
        for m in bot.api.messages_to(USER)
        if (m.shown_text or "")[:1] in kinds
    ]


async def run_minutes(bot: BotHarness, minutes: int) -> None:
    for _ in range(minutes):
        await bot.tick(minutes=1)


def last_checkin(bot: BotHarness) -> OutgoingMessage:
    return [m for m in bot.api.messages_to(USER) if (m.shown_text or "").startswith("👀")][-1]


def summary(bot: BotHarness) -> str:
    [message] = [
        m for m in bot.api.messages_to(USER) if "How focused were you?" in (m.shown_text or "")
    ]
    return message.shown_text or ""


def store(bot: BotHarness) -> SqliteStorage:
    assert isinstance(bot.service.store, SqliteStorage)
    return bot.service.store


# --- the bug: 😵 twice ---------------------------------------------------------------------


async def test_pressing_distracted_twice_says_it_once(bot: BotHarness) -> None:
    # As a new user reported: the second tap appended "Happens to everyone…" again.
    await bot.send("/focus 25")
    await run_minutes(bot, 12)
    checkin = last_checkin(bot)
    distracted = next(d for text, d in checkin.buttons() if "Distracted" in text)
    await bot.press_data(checkin, distracted)
    once = checkin.shown_text
    await bot.press_data(checkin, distracted)
    assert checkin.shown_text == once
    assert (checkin.shown_text or "").count("Happens to everyone") == 1
    session = await bot.service.active(USER, USER)
    assert session is not None and session.interruptions == 1


# --- flow ------------------------------------------------------------------------------------


async def test_on_track_twice_in_a_block_keeps_quiet_until_the_break(bot: BotHarness) -> None:
    await bot.send("/settings block 50")
    await bot.send("/focus 90")
    await run_minutes(bot, 12)
    assert await bot.press(last_checkin(bot), "On track") == "Great — keep going!"
    await run_minutes(bot, 13)  # minute 25: the block's second check-in
    second = last_checkin(bot)
    answer = await bot.press(second, "On track")
    assert answer == "You're in flow — I'll stay quiet until your break."
    assert "You're in flow" in (second.shown_text or "")
    await run_minutes(bot, 100)
    # The check-in planned at 37 is gone; the break still comes; after it, check-ins resume.
    assert proactive(bot) == [
        (12, "checkin"),
        (25, "checkin"),
        (50, "break"),
        (55, "back"),
        (68, "checkin"),
        (81, "checkin"),
    ]
    assert "🌊 In flow: 25 min" in summary(bot)  # from the check-in at 25 to the break at 50
    # ... and the curve marks those 25 minutes (5 marks) as flow, with the legend.
    assert "▇▇▇▇▇" in summary(bot) and "▇ flow" in summary(bot)


async def test_flow_is_said_once_and_a_distraction_breaks_the_streak(bot: BotHarness) -> None:
    await bot.send("/settings block 50")
    await bot.send("/focus 90")
    await run_minutes(bot, 12)
    await bot.press(last_checkin(bot), "Distracted")
    await run_minutes(bot, 13)
    # 😵 moved the check-in of 25 to 18; its 👍 is the first in a row, not flow.
    assert [m for m, _ in proactive(bot)] == [12, 18]
    assert await bot.press(last_checkin(bot), "On track") == "Great — keep going!"
    await run_minutes(bot, 12)  # 37
    third = last_checkin(bot)
    flow = "You're in flow — I'll stay quiet until your break."
    on_track = next(data for text, data in third.buttons() if "On track" in text)
    assert await bot.press_data(third, on_track) == flow
    shown = third.shown_text
    # Pressed again: the same answer and the same message, nothing appended.
    assert await bot.press_data(third, on_track) == flow
    assert third.shown_text == shown and (shown or "").count("in flow") == 1


# --- distraction -------------------------------------------------------------------------------


async def test_distracted_moves_the_next_checkin_before_the_break(bot: BotHarness) -> None:
    await bot.send("/focus 45")
    await run_minutes(bot, 12)
    checkin = last_checkin(bot)
    assert "Happens to everyone" in (await bot.press(checkin, "Distracted") or "")
    assert [b for b, _ in checkin.buttons()] == [
        "📱 phone",
        "💬 people",
        "🧠 wandering",
        "😴 tired",
        "other",
    ]
    tip = await bot.press(checkin, "phone")
    assert tip is not None and "face down" in tip
    assert checkin.buttons() == [] and "face down" in (checkin.shown_text or "")
    await run_minutes(bot, 45)
    # Without the answer: 12 check-in · 25 break · 30 back · 40 check-in. With it, the 40 one
    # comes at 18 — 6 minutes after the answer, never within 5 of the previous message.
    assert proactive(bot) == [(12, "checkin"), (18, "checkin"), (25, "break"), (30, "back")]
    rows = await store(bot).connection.run_in_thread(
        lambda c: c.execute(
            "SELECT slot, answer, answer_reason FROM deliveries WHERE answer IS NOT NULL"
        ).fetchall()
    )
    assert rows == [("checkin:1.1", "distracted", "phone")]


async def test_a_late_distracted_answer_moves_nothing_into_the_break(bot: BotHarness) -> None:
    await bot.send("/focus 45")
    await run_minutes(bot, 12)
    checkin = last_checkin(bot)
    await run_minutes(bot, 8)  # answered at 20: 26 would be inside the break's gap
    await bot.press(checkin, "Distracted")
    await run_minutes(bot, 35)
    assert proactive(bot) == [(12, "checkin"), (25, "break"), (30, "back"), (40, "checkin")]


async def test_a_reason_without_a_distracted_answer_is_refused(bot: BotHarness) -> None:
    await bot.send("/focus 45")
    await run_minutes(bot, 12)
    checkin = last_checkin(bot)
    session = await bot.service.active(USER, USER)
    assert session is not None
    answer = await bot.press_data(checkin, f"rs:{session.id}:phone")
    assert answer == "That check-in can't be answered any more."
    assert len(checkin.buttons()) == 2  # still unanswered


# --- start energy and recovery -------------------------------------------------------------------


async def test_start_energy_is_editable_until_the_first_checkin(bot: BotHarness) -> None:
    [card] = await bot.send("/focus 45")
    assert await bot.press(card, "fresh") == "Noted: 🔋 fresh."
    assert await bot.press(card, "tired") == "Noted: 🪫 tired."
    assert "✓ 🪫 tired" in [b for b, _ in card.buttons()]
    session = await bot.service.active(USER, USER)
    assert session is not None and session.start_energy == "tired"
    await run_minutes(bot, 12)
    answer = await bot.press(card, "fresh")
    assert answer == "Your first check-in has come: the start is kept as it was."
    session = await bot.service.active(USER, USER)
    assert session is not None and session.start_energy == "tired"


async def test_no_start_energy_is_stored_as_none(bot: BotHarness) -> None:
    await bot.send("/focus 25")
    session = await bot.service.active(USER, USER)
    assert session is not None and session.start_energy is None


async def test_new_people_get_the_standard_cadence(bot: BotHarness) -> None:
    await bot.send("/focus 25")
    session = await bot.service.active(USER, USER)
    assert session is not None and session.checkin_minutes is None


async def test_a_tired_start_offers_a_longer_break_that_moves_the_plan(bot: BotHarness) -> None:
    [card] = await bot.send("/focus 45")
    await bot.press(card, "tired")
    await run_minutes(bot, 25)
    brk = [m for m in bot.api.messages_to(USER) if (m.shown_text or "").startswith("☕")][-1]
    assert "You started tired" in (brk.shown_text or "")
    assert await bot.press(brk, "Take 10 minutes") == "Longer break it is. I'll call you back."
    assert "10-minute break" in (brk.shown_text or "") and brk.buttons() == []
    assert await bot.press_data(brk, "rb:1:long") == "That break can't be changed any more."
    await run_minutes(bot, 40)
    # The back-to-work message and the check-in after it move 5 minutes; the end too (55).
    assert proactive(bot) == [(12, "checkin"), (25, "break"), (35, "back"), (45, "checkin")]
    assert "Session complete" in summary(bot)
    assert "Started 🪫 tired" in summary(bot)  # the summary tells the start state
    ended = await bot.service.get(1)
    assert ended is not None and ended.ended_at is not None
    assert round((ended.ended_at - T0).total_seconds() / 60) == 55
    assert round(ended.focused_minutes()) == 45


async def test_two_distractions_in_a_block_offer_ending_here(bot: BotHarness) -> None:
    await bot.send("/settings block 50")
    await bot.send("/focus 90")
    await run_minutes(bot, 12)
    await bot.press(last_checkin(bot), "Distracted")
    await run_minutes(bot, 6)  # 18: the moved check-in
    await bot.press(last_checkin(bot), "Distracted")
    await run_minutes(bot, 32)  # 50: the break
    brk = [m for m in bot.api.messages_to(USER) if (m.shown_text or "").startswith("☕")][-1]
    assert "Focus was hard this block" in (brk.shown_text or "")
    assert (
        await bot.press(brk, "End here") == "Session ended — well done for listening to yourself."
    )
    assert await bot.service.active(USER, USER) is None
    assert "Session ended early" in summary(bot)


async def test_without_fatigue_a_break_offers_nothing(bot: BotHarness) -> None:
    await bot.send("/focus 45")
    await run_minutes(bot, 25)
    brk = [m for m in bot.api.messages_to(USER) if (m.shown_text or "").startswith("☕")][-1]
    assert brk.buttons() == [] and "instead" not in (brk.shown_text or "")


# --- the learnt cadence -------------------------------------------------------------------------


async def _session_answered(bot: BotHarness, label: str, score: str) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 12)
    await bot.press(last_checkin(bot), label)
    await run_minutes(bot, 14)
    await bot.send(score)


async def test_someone_always_on_track_gets_fewer_checkins(bot: BotHarness) -> None:
    await bot.send("/settings block 50")
    for _ in range(5):
        await _session_answered(bot, "On track", "5")
    await bot.send("/focus 50")
    session = await bot.service.active(USER, USER)
    assert session is not None and session.checkin_minutes == 20
    start = bot.clock.now()
    await run_minutes(bot, 51)
    minutes = [
        round((m.sent_at - start).total_seconds() / 60)
        for m in bot.api.messages_to(USER)
        if m.sent_at >= start and (m.shown_text or "").startswith("👀")
    ]
    assert minutes == [16, 33]  # one per 20 minutes; the standard 15 would give 12, 25, 37


async def test_someone_often_distracted_gets_them_a_little_more_often(bot: BotHarness) -> None:
    await bot.send("/settings block 50")
    for _ in range(5):
        await _session_answered(bot, "Distracted", "2")
    await bot.send("/focus 50")
    session = await bot.service.active(USER, USER)
    assert session is not None and session.checkin_minutes == 12
    start = bot.clock.now()
    await run_minutes(bot, 51)
    minutes = [
        round((m.sent_at - start).total_seconds() / 60)
        for m in bot.api.messages_to(USER)
        if m.sent_at >= start and (m.shown_text or "").startswith("👀")
    ]
    assert minutes == [10, 20, 30, 40]  # one per 12 minutes; the standard 15: 12, 25, 37


# --- /stats and /export ---------------------------------------------------------------------------

OLD_COLUMNS = (
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
)


async def _two_sessions(bot: BotHarness) -> None:
    """A tired 45 distracted by the phone (scored 2), a fresh 50 in flow from 25 (scored 5)."""
    [card] = await bot.send("/focus 45")
    await bot.press(card, "tired")
    await run_minutes(bot, 12)
    checkin = last_checkin(bot)
    await bot.press(checkin, "Distracted")
    await bot.press(checkin, "phone")
    await run_minutes(bot, 40)
    await bot.send("2")
    await bot.send("/settings block 50")
    [card] = await bot.send("/focus 50")
    await bot.press(card, "fresh")
    await run_minutes(bot, 12)
    await bot.press(last_checkin(bot), "On track")
    await run_minutes(bot, 13)
    await bot.press(last_checkin(bot), "On track")
    await run_minutes(bot, 26)
    await bot.send("5")


async def test_stats_show_flow_reasons_and_score_by_start_energy(bot: BotHarness) -> None:
    await _two_sessions(bot)
    [text, *_] = await bot.send("/stats week")
    shown = text.shown_text or ""
    assert "🌊 In flow: 25 min" in shown
    assert "😵 Distracted 1×: 📱 phone 1 (100%)" in shown
    assert "Score by start energy: 🔋 fresh 5.0 (1) · 🪫 tired 2.0 (1)" in shown


async def test_stats_without_answers_add_nothing(bot: BotHarness) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 26)
    [text, *_] = await bot.send("/stats week")
    shown = text.shown_text or ""
    assert "In flow" not in shown and "Distracted" not in shown and "start energy" not in shown


async def test_export_adds_energy_and_reasons_at_the_end(bot: BotHarness) -> None:
    await _two_sessions(bot)
    sent = await bot.send("/export")
    csv_doc, json_doc = [m for m in sent if m.kind == "document"]
    rows = list(csv.DictReader(io.StringIO((csv_doc.file_bytes or b"").decode())))
    assert tuple(rows[0])[: len(OLD_COLUMNS)] == OLD_COLUMNS  # the old ones first, in order
    # This feature's columns come right after them; later features append after these.
    new = tuple(rows[0])[len(OLD_COLUMNS) :]
    assert new[:2] == ("start_energy", "interruption_reasons")
    assert [(r["start_energy"], r["interruption_reasons"]) for r in rows] == [
        ("tired", "phone"),
        ("fresh", ""),
    ]
    sessions = json.loads(json_doc.file_bytes or b"")["sessions"]
    assert [s["start_energy"] for s in sessions] == ["tired", "fresh"]
