"""The daily goal, reminders, quiet hours and the weekly review, through the real handlers
with a fake clock, a real file and restarts on it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.insights import Stats
from bot.offline.local_api import OutgoingMessage
from bot.telegram.ratelimit import FocusRateLimiter, Lane, PriorityGate
from storage import ReminderKind
from tests.support.fakes import FakeClock
from tests.support.harness import USER, BotHarness

WED = datetime(2026, 3, 25, 12, 0, tzinfo=UTC)  # the Wednesday before Berlin's spring forward


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotHarness]:
    async with BotHarness(tmp_path / "focus.db", FakeClock(WED)) as harness:
        yield harness


async def run_until(bot: BotHarness, until: datetime, step: float = 5) -> None:
    """Run both dispatchers now (as at a start), then move the clock in steps, running them
    each time (as their jobs would)."""
    reminders = bot.app.bot_data.reminders
    assert reminders is not None
    while True:
        await bot.dispatcher.run_due()
        await reminders.run_due()
        if bot.clock.now() >= until:
            return
        bot.clock.advance(minutes=min(step, (until - bot.clock.now()).total_seconds() / 60))


def reminders(bot: BotHarness) -> list[OutgoingMessage]:
    """Every reminder sent, as it is now (a pressed one shows its answer)."""
    marks = ("⏰ Time", "Okay — not today", "⏰ Starting")
    return [m for m in bot.api.messages_to(USER) if (m.shown_text or "").startswith(marks)]


def questions(bot: BotHarness) -> list[OutgoingMessage]:
    """Every "keep reminding you?" question sent, as it is now (answered or not)."""
    marks = ("⏰ My last", "Reminders stay on. ⏰")
    return [m for m in bot.api.messages_to(USER) if (m.shown_text or "").startswith(marks)]


async def answer_each_day(bot: BotHarness, until: datetime) -> None:
    """Run day by day, pressing "Not today" on each reminder as it comes."""
    while bot.clock.now() < until:
        await run_until(bot, min(until, bot.clock.now() + timedelta(days=1)))
        for message in reminders(bot):
            if message.buttons():
                assert await bot.press(message, "Not today") == "Not today."


# --- /goal -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("/goal 2h", 120), ("/goal 90m", 90), ("/goal 90", 90), ("/goal 1h30", 90)],
)
async def test_goal_forms(bot: BotHarness, text: str, minutes: int) -> None:
    [reply, _zone_question] = await bot.send(text)
    assert "Daily goal" in (reply.shown_text or "")
    assert (await bot.service.routine_of(USER)).goal_minutes == minutes


@pytest.mark.parametrize("text", ["/goal 5", "/goal 13h", "/goal abc", "/goal", "/goal 2h x"])
async def test_goal_bad_input_changes_nothing(bot: BotHarness, text: str) -> None:
    await bot.send("/goal 1h")
    [reply] = await bot.send(text)
    assert "10 minutes to 12 hours" in (reply.shown_text or "")
    assert (await bot.service.routine_of(USER)).goal_minutes == 60


async def test_goal_in_status_and_summaries_congratulates_once(bot: BotHarness) -> None:
    await bot.send("/goal 30")
    await bot.send("/focus 25")
    await run_until(bot, bot.clock.now() + timedelta(minutes=10), step=1)
    [status] = await bot.send("/status")
    assert "🎯 Today: 10 min of your 30 min goal" in (status.shown_text or "")
    await run_until(bot, bot.clock.now() + timedelta(minutes=16), step=1)
    await bot.send("/focus 10")
    await run_until(bot, bot.clock.now() + timedelta(minutes=11), step=1)
    await bot.send("/focus 10")
    await run_until(bot, bot.clock.now() + timedelta(minutes=11), step=1)
    summaries = [
        m.shown_text or ""
        for m in bot.api.messages_to(USER)
        if "How focused" in (m.shown_text or "")
    ]
    assert len(summaries) == 3
    assert "🎯 Today: 25 min of your 30 min goal" in summaries[0]
    assert "✅ Today: 35 min of your 30 min goal" in summaries[1]
    assert "✅ Today: 45 min of your 30 min goal" in summaries[2]
    assert ["🎉" in s for s in summaries] == [False, True, False]  # one congratulation, inside


async def test_goal_off(bot: BotHarness) -> None:
    await bot.send("/goal 2h")
    [reply] = await bot.send("/goal off")
    assert "removed" in (reply.shown_text or "")
    assert (await bot.service.routine_of(USER)).goal_minutes is None


# --- /remind ---------------------------------------------------------------------------------


async def test_remind_bad_input_and_groups(bot: BotHarness) -> None:
    for text in ("/remind 25:00", "/remind soon", "/remind", "/remind 9:30 10:30"):
        [reply] = await bot.send(text)
        assert "/remind 09:30" in (reply.shown_text or ""), text
    [reply] = await bot.send("/remind 09:30", chat_id=-100, chat_type="group")
    assert "private chat" in (reply.shown_text or "")
    assert (await bot.service.routine_of(USER)).remind_minute is None


async def test_a_week_of_reminders_across_dst_and_restarts(tmp_path: Path) -> None:
    """09:30 Berlin, Wed 25 March to Wed 1 April (clocks go forward on Sunday 29th): one a
    day at 09:30 local — 08:30 UTC before, 07:30 after — none skipped, none doubled; a restart
    10 minutes after one was due sends it then; downtime of 2 hours over one drops it."""
    db, clock = tmp_path / "focus.db", FakeClock(WED)
    async with BotHarness(db, clock) as bot:
        await bot.send("/timezone Europe/Berlin")
        [reply] = await bot.send("/remind 09:30")
        assert "next: Thu 26 Mar 09:30" in (reply.shown_text or "")
        await run_until(bot, datetime(2026, 3, 27, 8, 20, tzinfo=UTC))
        for message in reminders(bot):
            assert await bot.press(message, "Not today") == "Not today."
        sent_before = [m.sent_at for m in reminders(bot)]
    # Down over Friday's 08:30 UTC; back at 08:40: 10 minutes late, inside the window.
    clock.set(datetime(2026, 3, 27, 8, 40, tzinfo=UTC))
    async with BotHarness(db, clock) as bot:
        await run_until(bot, datetime(2026, 3, 28, 8, 0, tzinfo=UTC))
        late = reminders(bot)
        for message in late:
            await bot.press(message, "Not today")
    # Down over Saturday's reminder for two hours: dropped, never sent late.
    clock.set(datetime(2026, 3, 28, 10, 30, tzinfo=UTC))
    async with BotHarness(db, clock) as bot:
        await answer_each_day(bot, datetime(2026, 4, 1, 12, 0, tzinfo=UTC))
        after = reminders(bot)
        rows = await bot.service.store.reminders.reminders_of(USER)
    assert sent_before == [datetime(2026, 3, 26, 8, 30, tzinfo=UTC)]
    assert [m.sent_at for m in late] == [datetime(2026, 3, 27, 8, 40, tzinfo=UTC)]
    assert [m.sent_at for m in after] == [
        datetime(2026, 3, 29, 7, 30, tzinfo=UTC),  # Sunday, the first day of summer time
        datetime(2026, 3, 30, 7, 30, tzinfo=UTC),
        datetime(2026, 3, 31, 7, 30, tzinfo=UTC),
        datetime(2026, 4, 1, 7, 30, tzinfo=UTC),
    ]
    assert [(r.day, r.status.value) for r in rows] == [
        ("2026-03-26", "sent"),
        ("2026-03-27", "sent"),
        ("2026-03-28", "dropped"),
        ("2026-03-29", "sent"),
        ("2026-03-30", "sent"),
        ("2026-03-31", "sent"),
        ("2026-04-01", "sent"),
    ]
    assert rows[2].reason == "late: the bot was not running at its time"


async def test_spring_forward_gap_reminder_goes_once_at_three(bot: BotHarness) -> None:
    await bot.send("/timezone Europe/Berlin")
    await bot.send("/remind 02:30")
    for day in range(26, 31):
        await run_until(bot, datetime(2026, 3, day, 3, 0, tzinfo=UTC), step=10)
        for message in reminders(bot):
            if message.buttons():
                await bot.press(message, "Not today")
    assert [m.sent_at for m in reminders(bot)] == [
        datetime(2026, 3, 26, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 27, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 03:00 CEST, the first valid local time
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),  # 02:30 CEST
    ]


async def test_reminder_button_starts_a_session_in_one_tap(bot: BotHarness) -> None:
    for _ in range(3):  # a usual length of 45 minutes
        await bot.send("/focus 45")
        await run_until(bot, bot.clock.now() + timedelta(minutes=51), step=1)
    await bot.send("/remind 13:00")
    await run_until(bot, datetime(2026, 3, 26, 13, 0, tzinfo=UTC))
    [reminder] = reminders(bot)
    labels = [label for label, _ in reminder.buttons()]
    assert labels == ["▶ Start 25 min", "▶ Start 45 min", "Not today"]
    assert await bot.press(reminder, "Start 45") == "Started."
    session = await bot.service.active(USER, USER)
    assert session is not None and session.planned_minutes == 45
    assert "Starting 45 minutes" in (reminder.shown_text or "") and not reminder.buttons()


async def test_no_reminder_while_a_session_runs_or_after_focus_today(bot: BotHarness) -> None:
    await bot.send("/remind 13:00")
    await run_until(bot, datetime(2026, 3, 26, 12, 50, tzinfo=UTC))
    await bot.send("/focus 25")  # runs over 13:00
    await run_until(bot, datetime(2026, 3, 27, 12, 0, tzinfo=UTC))
    await bot.send("/focus 10")  # focused on Friday before 13:00
    await run_until(bot, datetime(2026, 3, 28, 14, 0, tzinfo=UTC))
    rows = await bot.service.store.reminders.reminders_of(USER)
    assert [(r.day, r.status.value, r.reason) for r in rows] == [
        ("2026-03-25", "sent", None),  # set at 12:00 on Wednesday: that day's came at 13:00
        ("2026-03-26", "dropped", "a session is running"),
        ("2026-03-27", "dropped", "focused today already"),
        ("2026-03-28", "sent", None),
    ]
    assert len(reminders(bot)) == 2


async def test_three_unanswered_then_one_question_then_silence(bot: BotHarness) -> None:
    await bot.send("/remind 13:00")
    await run_until(bot, datetime(2026, 4, 2, 14, 0, tzinfo=UTC), step=15)
    assert [m.sent_at.day for m in reminders(bot)] == [25, 26, 27]
    [question] = questions(bot)
    assert question.sent_at == datetime(2026, 3, 28, 13, 0, tzinfo=UTC)
    # Five more days of silence: nothing, not even the question again.
    assert (await bot.service.routine_of(USER)).remind_held
    assert await bot.press(question, "Yes, keep") == "Saved."
    await run_until(bot, datetime(2026, 4, 3, 14, 0, tzinfo=UTC), step=15)
    assert [m.sent_at for m in reminders(bot)][-1] == datetime(2026, 4, 3, 13, 0, tzinfo=UTC)
    assert len(questions(bot)) == 1


async def test_the_question_answered_no_turns_reminders_off(bot: BotHarness) -> None:
    await bot.send("/remind 13:00")
    await run_until(bot, datetime(2026, 3, 28, 14, 0, tzinfo=UTC), step=15)
    [question] = questions(bot)
    await bot.press(question, "No, stop")
    routine = await bot.service.routine_of(USER)
    assert routine.remind_minute is None and routine.next_remind_at is None


async def test_a_session_started_after_a_reminder_answers_it(bot: BotHarness) -> None:
    await bot.send("/remind 13:00")
    await run_until(bot, datetime(2026, 3, 25, 13, 10, tzinfo=UTC))
    await bot.send("/focus 10")
    await run_until(bot, datetime(2026, 3, 29, 12, 0, tzinfo=UTC), step=15)
    assert questions(bot) == []  # the 25th answered by focusing; 26th-28th unanswered: 3
    await run_until(bot, datetime(2026, 3, 29, 14, 0, tzinfo=UTC), step=15)
    assert len(reminders(bot)) == 4 and len(questions(bot)) == 1


# --- /quiet ----------------------------------------------------------------------------------


async def test_quiet_hours_hold_reminders_and_quiet_sessions(bot: BotHarness) -> None:
    [reply] = await bot.send("/quiet 22:00-07:00")
    assert "22:00–07:00" in (reply.shown_text or "")
    [reply, _zone_question] = await bot.send("/remind 06:30")
    assert "inside your quiet hours" in (reply.shown_text or "")
    await run_until(bot, datetime(2026, 3, 25, 23, 0, tzinfo=UTC), step=30)
    await bot.send("/focus 45")
    session = await bot.service.active(USER, USER)
    assert session is not None and not session.checkins  # they chose to start: no check-ins
    await bot.send("/stop")
    [settings] = await bot.send("/settings")
    assert "Quiet hours: <b>22:00–07:00</b>" in (settings.text or "") or "22:00–07:00" in (
        settings.shown_text or ""
    )
    assert await bot.press(settings, "Check-ins in quiet hours") == "Saved."
    await bot.send("/focus 45")
    session = await bot.service.active(USER, USER)
    assert session is not None and session.checkins
    await bot.send("/stop")
    await run_until(bot, datetime(2026, 3, 27, 12, 0, tzinfo=UTC), step=30)
    assert reminders(bot) == []


@pytest.mark.parametrize("text", ["/quiet 22:00", "/quiet 22:00-22:00", "/quiet late", "/quiet"])
async def test_quiet_bad_input(bot: BotHarness, text: str) -> None:
    [reply] = await bot.send(text)
    assert "/quiet 22:00-07:00" in (reply.shown_text or "")
    assert (await bot.service.routine_of(USER)).quiet is None


# --- the weekly review -----------------------------------------------------------------------


async def test_weekly_review_once_a_week_restart_safe_skipped_when_empty(tmp_path: Path) -> None:
    db, clock = tmp_path / "focus.db", FakeClock(WED)
    async with BotHarness(db, clock) as bot:
        [settings] = await bot.send("/settings")
        await bot.press(settings, "Weekly review: turn on")
        await bot.send("/focus 25")
        await run_until(bot, datetime(2026, 3, 29, 18, 5, tzinfo=UTC), step=15)
        reviews = [m for m in bot.api.messages_to(USER) if "week in review" in (m.shown_text or "")]
        assert [m.sent_at for m in reviews] == [datetime(2026, 3, 29, 18, 0, tzinfo=UTC)]
    async with BotHarness(db, clock) as bot:  # a restart right after: not again
        await run_until(bot, datetime(2026, 4, 6, 12, 0, tzinfo=UTC), step=30)
        again = [m for m in bot.api.messages_to(USER) if "week in review" in (m.shown_text or "")]
        rows = await bot.service.store.reminders.reminders_of(USER)
    assert again == []  # nor on 5 April: a week without a session
    assert [(r.day, r.status.value, r.reason) for r in rows if r.kind.value == "review"] == [
        ("2026-W13", "sent", None),
        ("2026-W14", "dropped", "no session this week"),
    ]


async def test_weekly_review_chart_has_the_daily_goal(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.telegram.charts as charts

    handed: list[tuple[str, int | None]] = []
    real = charts.render_stats_chart

    def spy(stats: Stats, title: str, goal_minutes: int | None = None) -> bytes | None:
        handed.append((title, goal_minutes))
        return real(stats, title, goal_minutes)

    monkeypatch.setattr(charts, "render_stats_chart", spy)
    [settings] = await bot.send("/settings")
    await bot.press(settings, "Weekly review: turn on")
    await bot.send("/goal 20m")
    await bot.send("/focus 25")
    await run_until(bot, datetime(2026, 3, 29, 18, 5, tzinfo=UTC), step=30)
    assert handed == [("Your week", 20)]
    assert [m.kind for m in bot.api.messages_to(USER)].count("photo") == 1


async def test_help_menu_and_export_know_the_new_commands(bot: BotHarness) -> None:
    [reply] = await bot.send("/help")
    for command in ("/goal", "/remind", "/quiet"):
        assert command in (reply.shown_text or "")
    assert {"goal", "remind", "quiet"} <= {c["command"] for c in bot.api.commands}


# --- storage: the row is the guarantee --------------------------------------------------------


async def test_a_reminder_can_be_claimed_once_per_day_and_goes_with_the_user(
    bot: BotHarness,
) -> None:
    store, now = bot.service.store, bot.clock.now()
    await bot.send("/remind 13:00")
    claim = store.reminders.claim_reminder
    assert await claim(USER, "2026-03-25", ReminderKind.REMIND, now, now) is None
    assert await claim(USER, "2026-03-25", ReminderKind.REMIND, now, now) == "already handled"
    await store.reminders.unclaim_reminder(USER, "2026-03-25", ReminderKind.REMIND)
    assert await claim(USER, "2026-03-25", ReminderKind.REMIND, now, now) is None
    await store.reminders.confirm_reminder(USER, "2026-03-25", ReminderKind.REMIND, 7, now)
    await store.reminders.drop_reminder(USER, "2026-03-25", ReminderKind.REMIND, now, now, "x")
    [row] = await store.reminders.reminders_of(USER)
    assert (row.status.value, row.message_id) == ("sent", 7)  # a sent one stays sent
    await store.users.delete_user(USER)
    assert await store.reminders.reminders_of(USER) == []
    assert (await store.reminders.routine(USER)).remind_minute is None


async def test_a_stray_session_does_not_answer_the_days_reminder(bot: BotHarness) -> None:
    """A start stopped within a minute (recorded as cancelled) was no focus: that day's
    reminder still comes."""
    await bot.send("/remind 13:00")
    await run_until(bot, datetime(2026, 3, 26, 12, 0, tzinfo=UTC))
    await bot.send("/focus 25")
    bot.clock.advance(minutes=0.5)
    await bot.send("/stop")
    await run_until(bot, datetime(2026, 3, 26, 13, 5, tzinfo=UTC))
    rows = await bot.service.store.reminders.reminders_of(USER)
    assert [(r.day, r.status.value) for r in rows] == [
        ("2026-03-25", "sent"),
        ("2026-03-26", "sent"),  # old code: dropped, "focused today already"
    ]


class _HeldGate(PriorityGate):
    """The overall gate, holding proactive requests until released (a busy second, made to
    last as long as the test needs)."""

    def __init__(self) -> None:
        super().__init__(1000)
        self.held = 0
        self.release = asyncio.Event()

    async def acquire(self, lane: Lane) -> None:
        if lane is Lane.PROACTIVE:
            self.held += 1
            await self.release.wait()
        await super().acquire(lane)


async def test_a_reminder_is_claimed_only_once_the_rate_limiter_lets_it_through(
    tmp_path: Path,
) -> None:
    """While the reminder waits for its turn in the rate limiter, nothing is claimed: a
    session started in that wait is seen by the claim, and the reminder is not sent."""
    async with BotHarness(tmp_path / "f.db", FakeClock(WED), rate_limiter=True) as harness:
        await harness.send("/remind 13:00")
        await run_until(harness, datetime(2026, 3, 26, 12, 59, tzinfo=UTC))
        limiter = harness.app.bot.rate_limiter
        assert isinstance(limiter, FocusRateLimiter)
        gate = limiter.overall = _HeldGate()
        harness.clock.advance(minutes=1)
        reminders_job = harness.app.bot_data.reminders
        assert reminders_job is not None
        waiting = asyncio.create_task(reminders_job.run_due())
        for _ in range(500):
            if gate.held or waiting.done():
                break
            await asyncio.sleep(0.01)
        assert gate.held == 1, "the reminder never reached the rate limiter"
        rows = await harness.service.store.reminders.reminders_of(USER)
        assert [r.day for r in rows] == ["2026-03-25"]  # nothing claimed while it waits
        await harness.send("/focus 25")  # an answer: not held
        gate.release.set()
        report = await waiting
        assert report.sent == 0
        rows = await harness.service.store.reminders.reminders_of(USER)
        assert [(r.day, r.status.value, r.reason) for r in rows][-1] == (
            "2026-03-26",
            "dropped",
            "a session is running",
        )  # old code: claimed before the wait, sent during the session
        assert len(reminders(harness)) == 1


async def test_export_says_which_session_a_reminder_started(bot: BotHarness) -> None:
    """/export's ``reminded``: 1 for the session a reminder's ▶ Start began, 0 for the others;
    the JSON's reminder row names that session."""
    await bot.send("/remind 13:00")
    await run_until(bot, datetime(2026, 3, 26, 13, 0, tzinfo=UTC))
    reminder = reminders(bot)[-1]
    assert await bot.press(reminder, "Start 25") == "Started."
    await run_until(bot, bot.clock.now() + timedelta(minutes=26), step=1)
    await bot.send("/focus 10 by hand")
    await run_until(bot, bot.clock.now() + timedelta(minutes=11), step=1)
    sent = await bot.send("/export")
    csv_doc, json_doc = [m for m in sent if m.kind == "document"]
    rows = list(csv.DictReader(io.StringIO((csv_doc.file_bytes or b"").decode())))
    assert [(r["session_id"], r["reminded"]) for r in rows] == [("1", "1"), ("2", "0")]
    document = json.loads(json_doc.file_bytes or b"")
    assert [(r["day"], r["session_id"]) for r in document["reminders"]] == [
        ("2026-03-25", None),  # sent, not answered
        ("2026-03-26", 1),
    ]
