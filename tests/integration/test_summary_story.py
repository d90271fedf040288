"""Issue "A companion, not only a timer" (plan, summary, notes, /status), through the real
Application offline: a fake clock, a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.offline.local_api import OutgoingMessage
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
        (round((m.sent_at - T0).total_seconds() / 60), kinds[(m.shown_text or " ")[0]])
        for m in bot.api.messages_to(USER)
        if (m.shown_text or " ")[0] in kinds
    ]


async def run_minutes(bot: BotHarness, minutes: int) -> None:
    for _ in range(minutes):
        await bot.tick(minutes=1)


# --- long sessions ---------------------------------------------------------------------------


async def test_extending_to_180_at_the_start_gives_a_sensible_session(bot: BotHarness) -> None:
    """The report: /focus 90, then /extend 45 twice. Before: 8 breaks messages by minute
    120, no check-in, then 80 minutes alone; now 3 breaks spread out and 2 check-ins."""
    await bot.send("/focus 90")
    await bot.send("/extend 45")
    await bot.send("/extend 45")
    await run_minutes(bot, 200)
    assert proactive(bot) == [
        (22, "checkin"),
        (45, "break"),
        (50, "back"),
        (95, "break"),
        (100, "back"),
        (122, "checkin"),
        (145, "break"),
        (150, "back"),
    ]
    [session], _ = await bot.service.store.reports.history(USER, 0, 1)
    assert session.ended_at == T0 + timedelta(minutes=195)


async def test_extending_late_keeps_the_blocks_behind(bot: BotHarness) -> None:
    """Extended at minute 60 of a 90: the breaks at 25 and 55 stay; the 130 minutes left get
    the one break the budget still holds, in their middle; the blocks behind are stored."""
    await bot.send("/focus 90")
    await run_minutes(bot, 60)
    await bot.send("/extend 45")
    await bot.send("/extend 45")
    running = await bot.service.active(USER, USER)
    assert running is not None and running.settled_blocks == (25, 25)
    await run_minutes(bot, 140)
    assert proactive(bot) == [
        (12, "checkin"),
        (25, "break"),
        (30, "back"),
        (42, "checkin"),
        (55, "break"),
        (60, "back"),
        (125, "break"),
        (130, "back"),
    ]


# --- /status ---------------------------------------------------------------------------------


async def test_status_says_what_it_counts_and_when(bot: BotHarness) -> None:
    """The report: "Time left: 45 min (focused under a minute of 40 min)" mixed focus and
    breaks without saying so. Now focus done and left add up to the plan, and the end (breaks
    included) says so, with relative and clock times."""
    await bot.send("/focus 40")  # 25 + 5-min break + 15: ends at 09:45
    [status] = await bot.send("/status")
    text = status.shown_text or ""
    assert "Focus: under a minute done · 40 min left of 40 min" in text
    assert "Ends in 45 min · 09:45 (with a 5-min break)" in text
    assert "Break in 25 min · 09:25" in text


async def test_status_during_a_break_says_when_it_ends_not_the_next_break(
    bot: BotHarness,
) -> None:
    await bot.send("/focus 90")
    await run_minutes(bot, 27)  # the break 25–30
    [status] = await bot.send("/status")
    text = status.shown_text or ""
    assert "On a break until 09:30" in text
    assert "Back to work in 3 min · 09:30" in text
    assert "Break in" not in text and "Next break" not in text
    assert "Focus: 25 min done · 1 h 5 min left of 90 min" in text
    assert "Ends in 1 h 18 min · 10:45 (with 2 breaks of 5 min)" in text


# --- the summary's comparison and the streak: no noise -----------------------------------------


def summaries(bot: BotHarness) -> list[str]:
    return [t for t in bot.texts() if "How focused were you?" in t]


async def test_no_comparison_with_an_average_of_tries(bot: BotHarness) -> None:
    """The report: "700% longer than your average (6 min)". Sessions of 5 minutes, or one
    stopped at once, are not an average to compare with (limits.AVERAGE_MIN_MINUTES)."""
    for _ in range(3):
        await bot.send("/focus 5")
        await run_minutes(bot, 6)
    await bot.send("/focus 10")
    await run_minutes(bot, 1)
    await bot.send("/stop")
    await bot.send("/focus 45")
    await run_minutes(bot, 51)
    assert "average" not in summaries(bot)[-1]


async def test_the_comparison_counts_completed_sessions_of_ten_minutes(bot: BotHarness) -> None:
    for minutes in (20, 20, 5, 20):  # the 5 does not count; three do
        await bot.send(f"/focus {minutes}")
        await run_minutes(bot, minutes + 1)
    await bot.send("/focus 30")
    await run_minutes(bot, 36)
    assert (
        "50% longer than your average (20 min, from 3 completed sessions)." in (summaries(bot)[-1])
    )


async def test_stats_shows_no_streak_before_there_is_one(bot: BotHarness) -> None:
    """The report: "Streak: 0 days (best 0)" for a new user."""
    await bot.send("/focus 25")
    await run_minutes(bot, 3)
    await bot.send("/stop")
    [stats] = [m for m in await bot.send("/stats") if "Your focus" in (m.shown_text or "")]
    assert "Sessions: 1" in (stats.shown_text or "")
    assert "Streak" not in (stats.shown_text or "")
    await bot.send("/focus 25")
    await run_minutes(bot, 26)
    await bot.send("/stats")
    stats_text = [t for t in bot.texts() if "Your focus" in t]
    assert "🔥 Streak: 1 day (best 1)" in stats_text[-1]


# --- the summary says why ----------------------------------------------------------------------


async def test_a_session_ended_by_the_pause_limit_says_so(bot: BotHarness) -> None:
    """The report: it just said "Session ended early"."""
    await bot.send("/focus 45")
    await run_minutes(bot, 10)
    await bot.send("/pause")
    await run_minutes(bot, 31)
    [summary] = summaries(bot)
    assert "Session ended early" in summary
    assert "Ended by the pause limit: paused for 30 minutes" in summary


async def test_a_stopped_session_does_not_blame_the_pause_limit(bot: BotHarness) -> None:
    await bot.send("/focus 45")
    await run_minutes(bot, 10)
    await bot.send("/pause")
    await bot.send("/stop")
    [summary] = summaries(bot)
    assert "pause limit" not in summary


async def test_a_break_missed_while_the_bot_was_down_is_explained(bot: BotHarness) -> None:
    """The report: "Breaks: 0" and no word why. The bot is down from minute 20 to 31: the
    break due at 25 is dropped (never sent late), and the summary says so."""
    await bot.send("/focus 45")
    await run_minutes(bot, 20)
    bot.clock.advance(minutes=11)  # down: nothing runs
    await run_minutes(bot, 30)
    [summary] = summaries(bot)
    assert "Breaks: 0 (1 skipped: I was offline when it was due" in summary


# --- notes -------------------------------------------------------------------------------------


def summary_message(bot: BotHarness) -> OutgoingMessage:
    return next(m for m in bot.api.messages_to(USER) if "How focused" in (m.shown_text or ""))


async def test_a_reply_to_the_summary_is_the_sessions_note(bot: BotHarness) -> None:
    await bot.send("/focus 25 report")
    await run_minutes(bot, 26)
    summary = summary_message(bot)
    assert "keep them as this session's note" in (summary.shown_text or "")
    [ack] = await bot.send("phone kept buzzing <b>", reply_to_message_id=summary.message_id)
    assert "📝 Note for “report” saved" in (ack.shown_text or "")
    [session], _ = await bot.service.store.reports.history(USER, 0, 1)
    assert session.note == "phone kept buzzing <b>"
    [page] = await bot.send("/history")
    assert "📝 <i>phone kept buzzing &lt;b&gt;</i>" in (page.text or "")
    [again] = await bot.send("no, the neighbours", reply_to_message_id=summary.message_id)
    assert "updated" in (again.shown_text or "")


async def test_a_reply_to_the_score_answer_is_a_note_too(bot: BotHarness) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 26)
    [ack] = await bot.send("4")
    assert "Saved: focus 4/5" in (ack.shown_text or "")
    [note] = await bot.send("good morning", reply_to_message_id=ack.message_id)
    assert "Note saved" in (note.shown_text or "")
    [session], _ = await bot.service.store.reports.history(USER, 0, 1)
    assert (session.score, session.note) == (4, "good morning")


async def test_a_score_replied_to_the_summary_still_scores(bot: BotHarness) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 26)
    await bot.send("3", reply_to_message_id=summary_message(bot).message_id)
    [session], _ = await bot.service.store.reports.history(USER, 0, 1)
    assert (session.score, session.note) == (3, None)


async def test_notes_that_are_not_kept(bot: BotHarness) -> None:
    """Too long: a friendly answer, nothing stored; a plain text (no reply): the hint; a
    reply to another message of the bot: the hint."""
    await bot.send("/focus 25")
    await run_minutes(bot, 26)
    summary = summary_message(bot)
    [long] = await bot.send("x" * 501, reply_to_message_id=summary.message_id)
    assert "longer than the 500 characters" in (long.shown_text or "")
    [hint] = await bot.send("just chatting")
    assert "focus companion" in (hint.shown_text or "")
    card = bot.api.messages_to(USER)[0]
    [hint] = await bot.send("about the card", reply_to_message_id=card.message_id)
    assert "focus companion" in (hint.shown_text or "")
    [session], _ = await bot.service.store.reports.history(USER, 0, 1)
    assert session.note is None


async def test_in_a_group_only_the_owner_writes_the_note(bot: BotHarness) -> None:
    group = -100
    await bot.send("/focus 25", chat_id=group, chat_type="group")
    await run_minutes(bot, 26)
    summary = next(m for m in bot.api.messages_to(group) if "How focused" in (m.shown_text or ""))
    answer = await bot.send(
        "mine now",
        user_id=77,
        chat_id=group,
        chat_type="group",
        reply_to_message_id=summary.message_id,
    )
    assert answer == []
    await bot.send("ok", chat_id=group, chat_type="group", reply_to_message_id=summary.message_id)
    [session], _ = await bot.service.store.reports.history(USER, 0, 1)
    assert session.note == "ok"


async def test_the_note_is_exported_in_the_last_csv_column_and_in_the_json(
    bot: BotHarness,
) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 26)
    await bot.send('a, "quoted" note', reply_to_message_id=summary_message(bot).message_id)
    files = [m for m in await bot.send("/export") if m.file_bytes is not None]
    csv_file = next(m for m in files if (m.file_name or "").endswith(".csv"))
    json_file = next(m for m in files if (m.file_name or "").endswith(".json"))
    assert csv_file.file_bytes is not None and json_file.file_bytes is not None
    rows = list(csv.reader(io.StringIO(csv_file.file_bytes.decode("utf-8"))))
    # Appended after the columns before it (later features' columns follow it).
    at = rows[0].index("note")
    assert rows[0][at - 2 : at] == ["start_energy", "interruption_reasons"]
    assert rows[1][at] == 'a, "quoted" note'
    [exported] = json.loads(json_file.file_bytes)["sessions"]
    assert exported["note"] == 'a, "quoted" note'


# --- planning from the person's own data ---------------------------------------------------------


async def finish(bot: BotHarness, minutes: int, *, stop_after: int | None = None) -> None:
    await bot.send(f"/focus {minutes}")
    if stop_after is None:
        await run_minutes(bot, minutes + 5 * (minutes // 25) + 1)
    else:
        await run_minutes(bot, stop_after)
        await bot.send("/stop")


async def test_no_planning_line_before_five_sessions(bot: BotHarness) -> None:
    for _ in range(4):
        await finish(bot, 10)
    [card] = await bot.send("/focus")
    assert "You finish" not in (card.shown_text or "")
    # No length offer: the card's own buttons (and the companion's start-energy row) only.
    assert [text for text, _ in card.buttons()][:2] == ["⏸ Pause", "⏹ End"]
    assert not any("min" in text for text, _ in card.buttons())


async def test_focus_without_a_length_offers_what_they_finish(bot: BotHarness) -> None:
    """3 of 3 30-minute sessions finished, 1 of 3 45-minute ones: the card says so and
    offers 30; pressing it makes the session 30 minutes long, the card follows."""
    for _ in range(3):
        await finish(bot, 30)
    await finish(bot, 45)
    for _ in range(2):
        await finish(bot, 45, stop_after=20)
    [card] = await bot.send("/focus")  # the default, 25
    text = card.shown_text or ""
    assert "📈 You finish 100% of 30-minute sessions, 33% of 45-minute ones." in text
    labels = [label for label, _ in card.buttons()]
    assert labels[:3] == ["⏱ Make it 30 min", "⏸ Pause", "⏹ End"]  # then the start energy
    assert await bot.press(card, "Make it 30") == "Now 30 minutes."
    running = await bot.service.active(USER, USER)
    assert running is not None and running.planned_minutes == 30
    edited = bot.api.messages[(USER, card.message_id)]
    assert "Focus: 30 min" in (edited.shown_text or "")
    assert [label for label, _ in edited.buttons()][:2] == ["⏸ Pause", "⏹ End"]
    assert not any("min" in label for label, _ in edited.buttons())


async def test_the_offer_expires_once_the_session_is_under_way(bot: BotHarness) -> None:
    for _ in range(5):
        await finish(bot, 30)
    [card] = await bot.send("/focus")
    await run_minutes(bot, 13)  # the first check-in went out
    assert await bot.press(card, "Make it 30") == (
        "Too late to change it now — /extend adds minutes."
    )
    running = await bot.service.active(USER, USER)
    assert running is not None and running.planned_minutes == 25


async def test_a_session_far_above_the_usual_gets_one_gentle_line(bot: BotHarness) -> None:
    for _ in range(5):
        await finish(bot, 25)
    [card] = await bot.send("/focus 90")
    text = card.shown_text or ""
    assert text.count("🌱") == 1
    assert "well above the 25 minutes you usually finish" in text
    assert "You finish" not in text  # a length was given: no rates
    await bot.send("/stop")
    [card] = await bot.send("/focus 30")
    assert "🌱" not in (card.shown_text or "")


# --- the summary's story -------------------------------------------------------------------------


async def test_the_summary_names_the_friction_and_draws_the_curve(bot: BotHarness) -> None:
    """/focus 45: distracted at the check-in (minute 12), paused 20–26: the summary names
    both, and the curve has a mark per 5 minutes."""
    await bot.send("/focus 45")
    await run_minutes(bot, 12)
    checkin = next(m for m in bot.api.messages_to(USER) if (m.shown_text or "").startswith("👀"))
    await bot.press(checkin, "Distracted")
    await run_minutes(bot, 8)
    await bot.send("/pause")
    await run_minutes(bot, 6)
    await bot.send("/resume")
    await run_minutes(bot, 31)
    [summary] = summaries(bot)
    assert "Friction: 12′ distracted · 20′ paused 6 min" in summary
    curve = summary.split("Focus curve (5 min a mark):\n")[1].splitlines()
    # 0–20 focus (distracted in 10–15), paused 20–26, the break at wall 31–36, the end at
    # 56 (the last minute is under half a mark): 11 marks, one line.
    assert curve[:2] == ["██▒█░█▁████", "█ focused ▒ distracted ░ paused ▁ break"]
