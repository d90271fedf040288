"""Your time, from the start: "What time is it for you now?" asked once, answered by a button
or by typing; and /review, the weekly review's day and time — through the real handlers with
a fake clock and a real file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.timefmt import zone
from bot.offline.local_api import OutgoingMessage
from tests.support.fakes import FakeClock
from tests.support.harness import USER, BotHarness

WED = datetime(2026, 3, 25, 12, 7, 30, tzinfo=UTC)  # the Wednesday before Berlin's spring forward
QUESTION = "What time is it for you now?"


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotHarness]:
    async with BotHarness(tmp_path / "focus.db", FakeClock(WED)) as harness:
        yield harness


async def run_until(bot: BotHarness, until: datetime, step: float = 15) -> None:
    """Run both dispatchers now, then move the clock in steps — never past the soonest
    reminder or review, as their job would wake — running them each time."""
    reminders = bot.app.bot_data.reminders
    assert reminders is not None
    while True:
        await bot.dispatcher.run_due()
        await reminders.run_due()
        now = bot.clock.now()
        if now >= until:
            return
        soonest = await bot.service.soonest_routine()
        wake = min(until, now + timedelta(minutes=step))
        if soonest is not None and now < soonest < wake:
            wake = soonest
        bot.clock.set(wake)


def questions(sent: list[OutgoingMessage]) -> list[OutgoingMessage]:
    return [m for m in sent if QUESTION in (m.shown_text or "")]


async def zone_of(bot: BotHarness) -> str:
    return await bot.service.timezone_of(USER)


# --- asked once ------------------------------------------------------------------------------


async def test_start_asks_once_with_the_likely_local_times(bot: BotHarness) -> None:
    [welcome, question] = await bot.send("/start")
    assert "I keep you company" in (welcome.shown_text or "")
    assert QUESTION in (question.shown_text or "")
    labels = [text for text, _ in question.buttons()]
    # 12:07 UTC at -5, -3, 0, +1, +2, +3, +5:30, +7, in the order of the clock.
    assert labels == ["07:07", "09:07", "12:07", "13:07", "14:07", "15:07", "17:37", "19:07"]
    assert all(len(data.encode()) <= 64 for _, data in question.buttons())
    # Never again: not on a second /start, nor on the first /goal or /remind.
    assert questions(await bot.send("/start")) == []
    assert questions(await bot.send("/goal 2h")) == []
    assert questions(await bot.send("/remind 09:30")) == []
    routine = await bot.service.routine_of(USER)
    assert routine.zone_asked and routine.zone_pending
    assert await zone_of(bot) == "UTC"


@pytest.mark.parametrize(
    ("label", "name", "hours"),
    [
        ("15:07", "Etc/GMT-3", 3),  # UTC+3 is Etc/GMT-3: the Etc zones' sign is inverted
        ("07:07", "Etc/GMT+5", -5),
        ("12:07", "UTC", 0),
        ("17:37", "+05:30", 5.5),
    ],
)
async def test_a_button_sets_the_zone_with_the_right_sign(
    bot: BotHarness, label: str, name: str, hours: float
) -> None:
    [_, question] = await bot.send("/start")
    # Pressed late, after other messages and three hours: it still means its offset.
    await bot.send("/help")
    await bot.send("/focus 25")
    await bot.send("/stop")
    bot.clock.advance(hours=3)
    assert await bot.press(question, label) == "Timezone saved."
    assert await zone_of(bot) == name
    assert zone(name).utcoffset(WED) == timedelta(hours=hours)
    local = (WED + timedelta(hours=3)).astimezone(zone(name)).strftime("%H:%M")
    assert f"it's {local} there" in (question.shown_text or "")
    assert "fixed offset" in (question.shown_text or "")  # a city follows daylight saving
    [settings] = await bot.send("/settings")
    assert f"your time now: {local}" in (settings.shown_text or "")
    assert not (await bot.service.routine_of(USER)).zone_pending


async def test_the_settings_name_a_fixed_zone_by_its_real_offset(bot: BotHarness) -> None:
    [_, question] = await bot.send("/start")
    await bot.press(question, "15:07")
    [settings] = await bot.send("/settings")
    assert "Timezone: UTC+03:00" in (settings.shown_text or "")


async def test_someone_else_cannot_press_it(bot: BotHarness) -> None:
    [_, question] = await bot.send("/start")
    answer = await bot.press(question, "15:07", user_id=777)
    assert answer == "That button belongs to someone else."
    assert await zone_of(bot) == "UTC"
    assert await bot.service.timezone_of(777) == "UTC"


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("berlin", "Europe/Berlin"),
        ("New York", "America/New_York"),
        ("Europe/Lisbon", "Europe/Lisbon"),
        ("+02:00", "+02:00"),
        ("15:08", "Etc/GMT-3"),  # read a minute late: still UTC+3
        ("3:07 pm", "Etc/GMT-3"),
        ("17:37", "+05:30"),
    ],
)
async def test_a_typed_answer_sets_it(bot: BotHarness, typed: str, name: str) -> None:
    await bot.send("/start")
    [answer] = await bot.send(typed)
    assert "Timezone set to" in (answer.shown_text or "")
    assert await zone_of(bot) == name


async def test_typing_after_the_answer_is_not_read_as_a_zone(bot: BotHarness) -> None:
    await bot.send("/start")
    await bot.send("Berlin")
    [hint] = await bot.send("Tokyo")
    assert "focus companion" in (hint.shown_text or "")
    assert await zone_of(bot) == "Europe/Berlin"


async def test_words_that_are_no_zone_get_the_usual_hint(bot: BotHarness) -> None:
    await bot.send("/start")
    [hint] = await bot.send("hello there")
    assert "focus companion" in (hint.shown_text or "")
    assert await zone_of(bot) == "UTC"


async def test_not_asked_when_the_zone_is_set(bot: BotHarness) -> None:
    await bot.send("/timezone Europe/Berlin")
    assert questions(await bot.send("/start")) == []
    assert questions(await bot.send("/goal 2h")) == []
    [hint] = await bot.send("Tokyo")  # no question open: not an answer
    assert await zone_of(bot) == "Europe/Berlin"
    assert "focus companion" in (hint.shown_text or "")


async def test_a_city_works_for_timezone_too(bot: BotHarness) -> None:
    [reply] = await bot.send("/timezone new york")
    assert "America/New_York" in (reply.shown_text or "")
    assert await zone_of(bot) == "America/New_York"


async def test_the_first_goal_asks_when_no_zone(bot: BotHarness) -> None:
    [goal, question] = await bot.send("/goal 2h")
    assert "Daily goal" in (goal.shown_text or "")
    assert QUESTION in (question.shown_text or "")
    assert questions(await bot.send("/goal 3h")) == []


async def test_group_commands_do_not_ask(bot: BotHarness) -> None:
    sent = await bot.send("/start", chat_id=-100, chat_type="group")
    assert questions(sent) == []
    assert not (await bot.service.routine_of(USER)).zone_asked
    assert questions(await bot.send("/start"))  # still asked once, in private


async def test_a_reminder_set_before_the_zone_follows_the_answer(bot: BotHarness) -> None:
    [reply, question] = await bot.send("/remind 09:30")
    assert "09:30</b> UTC" in (reply.text or "")  # says which zone it uses until then
    await bot.press(question, "15:07")  # UTC+3
    assert "Your reminder at 09:30 now follows it (next: Thu 26 Mar 09:30)" in (
        question.shown_text or ""
    )
    await run_until(bot, datetime(2026, 3, 26, 8, 0, tzinfo=UTC))
    reminders = [m for m in bot.api.messages_to(USER) if "Time to focus" in (m.shown_text or "")]
    assert [m.sent_at for m in reminders] == [datetime(2026, 3, 26, 6, 30, tzinfo=UTC)]


# --- /review: the weekly review's day and time ----------------------------------------------


def reviews(bot: BotHarness) -> list[OutgoingMessage]:
    return [m for m in bot.api.messages_to(USER) if "week in review" in (m.shown_text or "")]


async def test_review_alone_shows_the_setting_and_buttons(bot: BotHarness) -> None:
    [reply] = await bot.send("/review")
    assert "Weekly review</b>: <b>off</b> (its time: Sun 18:00)" in (reply.text or "")
    assert [text for text, _ in reply.buttons()] == [
        "Sun 18:00",
        "Fri 17:00",
        "Mon 09:00",
        "🗓 Turn on",
    ]
    [settings] = await bot.send("/settings")
    assert "Weekly review: off (its time: Sun 18:00)" in (settings.shown_text or "")


async def test_changing_the_day_moves_the_next_review_sent_once_that_week(
    tmp_path: Path,
) -> None:
    db, clock = tmp_path / "focus.db", FakeClock(WED)
    async with BotHarness(db, clock) as bot:
        await bot.send("/timezone Europe/Berlin")
        [settings] = await bot.send("/settings")
        await bot.press(settings, "Weekly review: turn on")  # Sunday 18:00 by default
        await bot.send("/focus 25")
        [reply] = await bot.send("/review fri 17:30")
        assert "Next: Fri 27 Mar 17:30" in (reply.shown_text or "")
        routine = await bot.service.routine_of(USER)
        assert routine.next_review_at == datetime(2026, 3, 27, 16, 30, tzinfo=UTC)  # CET
        [settings] = await bot.send("/settings")
        assert "Weekly review: Fri 17:30" in (settings.shown_text or "")
        await run_until(bot, datetime(2026, 3, 27, 18, 0, tzinfo=UTC))
        assert [m.sent_at for m in reviews(bot)] == [datetime(2026, 3, 27, 16, 30, tzinfo=UTC)]
        # Moved again, to later this same week: this week's was sent, so not again.
        [reply] = await bot.send("/review sun 20:00")
    async with BotHarness(db, clock) as bot:  # and a restart changes nothing
        await run_until(bot, datetime(2026, 4, 1, 12, 0, tzinfo=UTC), step=30)
        assert reviews(bot) == []
        rows = await bot.service.store.reminders.reminders_of(USER)
    assert [(r.day, r.status.value) for r in rows if r.kind.value == "review"] == [
        ("2026-W13", "sent")
    ]


async def test_a_review_time_in_quiet_hours_is_moved_out_and_said(bot: BotHarness) -> None:
    await bot.send("/quiet 22:00-07:00")
    [reply] = await bot.send("/review sun 23:00")
    assert "Sun 23:00, moved to 07:00: the end of your quiet hours" in (reply.shown_text or "")
    routine = await bot.service.routine_of(USER)
    assert routine.review and routine.next_review_at == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)


async def test_review_buttons_off_and_bad_input(bot: BotHarness) -> None:
    [reply] = await bot.send("/review")
    assert (
        await bot.press(reply, "Fri 17:00", user_id=777) == "That button belongs to someone else."
    )
    assert not (await bot.service.routine_of(USER)).review
    assert await bot.press(reply, "Fri 17:00") == "Saved."
    routine = await bot.service.routine_of(USER)
    assert (routine.review, routine.review_weekday, routine.review_minute) == (True, 4, 17 * 60)
    assert routine.next_review_at == datetime(2026, 3, 27, 17, 0, tzinfo=UTC)
    for text in ("/review someday", "/review sun 25:00", "/review sun mon 18:00"):
        [answer] = await bot.send(text)
        assert "/review sun 18:00" in (answer.shown_text or ""), text
    assert (await bot.service.routine_of(USER)).review_weekday == 4
    [off] = await bot.send("/review off")
    assert "<b>off</b>" in (off.text or "")
    routine = await bot.service.routine_of(USER)
    assert not routine.review and routine.next_review_at is None
    [on] = await bot.send("/review 19:00")  # keeps the day, turns it on
    routine = await bot.service.routine_of(USER)
    assert (routine.review, routine.review_weekday, routine.review_minute) == (True, 4, 19 * 60)
    assert "Fri 19:00" in (on.shown_text or "")


async def test_help_and_menu_know_review(bot: BotHarness) -> None:
    [reply] = await bot.send("/help")
    assert "/review" in (reply.shown_text or "")
    assert "review" in {c["command"] for c in bot.api.commands}
