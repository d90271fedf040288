"""Handlers and dispatcher through the offline transport, with a fake clock and a real file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.offline.local_api import OutgoingMessage
from storage import Outcome
from tests.support.fakes import T0, FakeClock
from tests.support.harness import USER, BotHarness

ENERGY = ["🔋 fresh", "🙂 ok", "🪫 tired"]  # the start card's optional start energy


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotHarness]:
    async with BotHarness(tmp_path / "focus.db") as harness:
        yield harness


def proactive(bot: BotHarness) -> list[tuple[int, str]]:
    """(minute since T0, first line) of every check-in, break and back-to-work message."""
    marks = ("👀", "☕", "🔔")
    return [
        (round((m.sent_at - T0).total_seconds() / 60), (m.shown_text or "").splitlines()[0])
        for m in bot.api.messages_to(USER)
        if (m.shown_text or "").startswith(marks)
    ]


def summaries(bot: BotHarness) -> list[OutgoingMessage]:
    return [m for m in bot.api.messages_to(USER) if "How focused were you?" in (m.shown_text or "")]


async def run_minutes(bot: BotHarness, minutes: int) -> None:
    for _ in range(minutes):
        await bot.tick(minutes=1)


# --- welcome, help, menu ---------------------------------------------------------------------


async def test_start_welcomes_registers_and_menu_is_set(bot: BotHarness) -> None:
    [reply, zone_question] = await bot.send("/start")
    assert "I keep you company while you focus" in (reply.shown_text or "")
    assert "What time is it for you now?" in (zone_question.shown_text or "")
    assert await bot.service.store.users.get_user(USER) is not None
    assert {c["command"] for c in bot.api.commands} >= {"focus", "status", "stop", "help"}


async def test_help_lists_every_command(bot: BotHarness) -> None:
    [reply] = await bot.send("/help")
    for command in ("/focus", "/status", "/pause", "/resume", "/extend", "/stop", "/help"):
        assert command in (reply.shown_text or "")


# --- /focus ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes", "label"),
    [
        ("/focus", 25, None),
        ("/focus 45", 45, None),
        ("/focus 45 write the report", 45, "write the report"),
        ("/focus write the report", 25, "write the report"),
        ("/focus 1h", 60, None),
        ("/focus 1h30", 90, None),
        ("/focus 90m", 90, None),
        ("/focus@FocusCompanionBot 30 Deep   work", 30, "Deep work"),
    ],
)
async def test_focus_forms_start_a_session(
    bot: BotHarness, text: str, minutes: int, label: str | None
) -> None:
    [card] = await bot.send(text)
    session = await bot.service.active(USER, USER)
    assert session is not None
    assert (session.planned_minutes, session.label) == (minutes, label)
    assert f"Focus: {minutes} min" in (card.shown_text or "")
    assert [b for b, _ in card.buttons()] == ["⏸ Pause", "⏹ End", *ENERGY]
    assert session.card_message_id == card.message_id


async def test_start_card_shows_the_planned_end_including_breaks(bot: BotHarness) -> None:
    [card] = await bot.send("/focus 45 write the report")
    # 45 minutes of focus + one 5-minute break, from 09:00 UTC.
    assert "Ends at 09:50 UTC" in (card.shown_text or "")
    assert "write the report" in (card.shown_text or "")


@pytest.mark.parametrize(
    ("text", "explains"),
    [
        ("/focus 0", "5–90 minutes"),
        ("/focus 500", "5–90 minutes"),
        ("/focus 4", "5–90 minutes"),
        ("/focus -5", "couldn't read"),
        ("/focus 45x", "couldn't read"),
        ("/focus 45 " + "x" * 5000, "up to 200 characters"),
    ],
)
async def test_bad_focus_is_explained_and_stores_nothing(
    bot: BotHarness, text: str, explains: str
) -> None:
    [reply] = await bot.send(text)
    assert explains in (reply.shown_text or "")
    assert "/focus 45 write the report" in (reply.shown_text or "")
    assert await bot.service.active(USER, USER) is None


async def test_second_focus_offers_to_replace_or_keep(bot: BotHarness) -> None:
    await bot.send("/focus 45 first")
    [offer] = await bot.send("/focus 30 second")
    assert "already running" in (offer.shown_text or "")
    assert await bot.press(offer, "Keep") == "Keeping the current one."
    running = await bot.service.active(USER, USER)
    assert running is not None and running.label == "first"

    [offer] = await bot.send("/focus 30 second")
    assert await bot.press(offer, "End it") == "Started."
    running = await bot.service.active(USER, USER)
    assert running is not None and (running.label, running.planned_minutes) == ("second", 30)
    first = await bot.service.store.sessions.get_session(running.id - 1)
    assert first is not None and first.outcome is Outcome.ENDED_EARLY
    # replaced at once, the first is a stray (issue 13): cancelled, its one summary says so
    assert first.cancelled
    assert sum("Session cancelled" in t for t in bot.texts()) == 1


# --- the session loop ------------------------------------------------------------------------


async def test_45_minute_session_checkins_break_summary(bot: BotHarness) -> None:
    await bot.send("/focus 45 write the report")
    await run_minutes(bot, 60)
    assert proactive(bot) == [
        (12, "👀 " + proactive(bot)[0][1][2:]),
        (25, "☕ 5-minute break. Stand up, stretch, look away from the screen. Back at 09:30."),
        (30, "🔔 Back to work · write the report. You've got this."),
        (40, "👀 " + proactive(bot)[3][1][2:]),
    ]
    [summary] = summaries(bot)
    assert round((summary.sent_at - T0).total_seconds() / 60) == 50
    text = summary.shown_text or ""
    assert "Session complete" in text
    assert "Focused 45 min of 45 planned" in text
    assert "Breaks: 1" in text
    assert [b for b, _ in summary.buttons()] == ["1", "2", "3", "4", "5"]
    session = await bot.service.store.sessions.get_session(1)
    assert session is not None and session.outcome is Outcome.COMPLETED
    assert session.next_due_at is None


async def test_five_minute_session_gets_no_nudge(bot: BotHarness) -> None:
    await bot.send("/focus 5")
    await run_minutes(bot, 10)
    assert proactive(bot) == []
    assert len(summaries(bot)) == 1


async def test_pause_stops_nudges_and_moves_the_end(bot: BotHarness) -> None:
    [card] = await bot.send("/focus 45")
    await bot.tick(minutes=10)
    [reply, _] = [*(await bot.send("/pause")), None][:2]
    assert reply is not None and "Paused" in (reply.shown_text or "")
    assert [b for b, _ in card.buttons()] == ["▶ Resume", "⏹ End", *ENERGY]
    await run_minutes(bot, 20)
    assert proactive(bot) == []  # the check-in due at minute 12 waits for the resume
    [status] = await bot.send("/status")
    assert "Paused since 09:10" in (status.shown_text or "")
    [resumed] = await bot.send("/resume")
    assert "New end: 10:10" in (resumed.shown_text or "")  # 09:50 + 20 minutes paused
    await run_minutes(bot, 50)
    minutes = [m for m, _ in proactive(bot)]
    assert minutes == [32, 45, 50, 60]
    [summary] = summaries(bot)
    assert "Interruptions: 1" in (summary.shown_text or "")
    assert round((summary.sent_at - T0).total_seconds() / 60) == 70


async def test_a_pause_over_30_minutes_ends_the_session_early(bot: BotHarness) -> None:
    await bot.send("/focus 45")
    await bot.tick(minutes=8)
    await bot.send("/pause")
    await run_minutes(bot, 29)
    assert summaries(bot) == []
    await run_minutes(bot, 2)
    [summary] = summaries(bot)
    assert "ended early" in (summary.shown_text or "")
    assert "Focused 8 min of 45 planned" in (summary.shown_text or "")


async def test_resume_and_pause_when_not_applicable(bot: BotHarness) -> None:
    [reply] = await bot.send("/resume")
    assert "Nothing is running" in (reply.shown_text or "")
    await bot.send("/focus 25")
    [reply] = await bot.send("/resume")
    assert "Nothing is paused" in (reply.shown_text or "")
    await bot.send("/pause")
    [reply] = await bot.send("/pause")
    assert "Already paused" in (reply.shown_text or "")
    session = await bot.service.active(USER, USER)
    assert session is not None and session.interruptions == 1


async def test_status_shows_progress_nudges_and_next_break(bot: BotHarness) -> None:
    await bot.send("/focus 45 report")
    await run_minutes(bot, 15)
    [status] = await bot.send("/status")
    text = status.shown_text or ""
    assert "Focus: 15 min done · 30 min left of 45 min" in text
    assert "Ends in 35 min · 09:50 (with a 5-min break)" in text
    assert "Nudges: 1/8" in text
    assert "Interruptions: 0" in text
    assert "Break in 10 min · 09:25" in text
    assert "30%" in text  # 15 of 50 minutes


async def test_stop_ends_early_with_one_summary(bot: BotHarness) -> None:
    await bot.send("/focus 45")
    await run_minutes(bot, 20)
    sent = await bot.send("/stop")
    [summary] = summaries(bot)
    assert summary in sent
    assert "Focused 20 min of 45 planned" in (summary.shown_text or "")
    [reply] = await bot.send("/end")
    assert "Nothing is running" in (reply.shown_text or "")
    await run_minutes(bot, 60)
    assert len(summaries(bot)) == 1
    assert [m for m, _ in proactive(bot)] == [12]


async def test_extend_adds_minutes_within_limits(bot: BotHarness) -> None:
    await bot.send("/focus 45")
    [reply] = await bot.send("/extend 20")
    assert "Added 20 min — 65 min of focus in all" in (reply.shown_text or "")
    [reply] = await bot.send("/extend 100")
    assert "5–45 minutes" in (reply.shown_text or "")
    for _ in range(2):
        await bot.send("/extend 45")
    [reply] = await bot.send("/extend 45")  # 65 + 90 = 155; 45 more would pass 180
    assert "up to 25 min" in (reply.shown_text or "")
    session = await bot.service.active(USER, USER)
    assert session is not None and session.planned_minutes == 155


async def test_checkin_distracted_counts_an_interruption(bot: BotHarness) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 12)
    checkin = bot.api.messages_to(USER)[-1]
    assert [b for b, _ in checkin.buttons()] == ["👍 On track", "😵 Distracted"]
    answer = await bot.press(checkin, "Distracted")
    assert answer is not None and "Happens to everyone" in answer
    assert len(checkin.buttons()) == 5  # answered in place; its reason is asked (optional)
    await bot.press(checkin, "wandering")
    assert checkin.buttons() == []
    session = await bot.service.active(USER, USER)
    assert session is not None and session.interruptions == 1


# --- scores ----------------------------------------------------------------------------------


async def test_score_by_button_then_replace_by_reply(bot: BotHarness) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 26)
    [summary] = summaries(bot)
    assert await bot.press(summary, "4") == "Saved: focus 4/5. Thanks!"
    [ack] = await bot.send("2")
    assert "Updated your focus score from 4 to 2" in (ack.shown_text or "")
    session = await bot.service.store.sessions.get_session(1)
    assert session is not None and session.score == 2


async def test_plain_reply_scores_latest_unscored_and_rejects_out_of_range(
    bot: BotHarness,
) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 3)  # a real session, not a stray (those can't be scored)
    await bot.send("/stop")
    [reply] = await bot.send("7")
    assert "Scores go from 1" in (reply.shown_text or "")
    [reply] = await bot.send("5")
    assert "Saved: focus 5/5" in (reply.shown_text or "")
    session = await bot.service.store.sessions.get_session(1)
    assert session is not None and session.score == 5


async def test_late_score_hours_later_by_button_still_counts(bot: BotHarness) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 26)
    [summary] = summaries(bot)
    bot.clock.advance(hours=30)
    assert await bot.press(summary, "3") == "Saved: focus 3/5. Thanks!"
    [reply] = await bot.send("4")  # a plain reply only reaches back 24 hours
    assert "don't have a recent session" in (reply.shown_text or "")
    session = await bot.service.store.sessions.get_session(1)
    assert session is not None and session.score == 3


# --- stale, forged and foreign buttons -------------------------------------------------------


async def test_buttons_of_an_ended_session_change_nothing(bot: BotHarness) -> None:
    [card] = await bot.send("/focus 25")
    await run_minutes(bot, 3)  # not a stray: its summary has score buttons
    await bot.send("/stop")
    for forged in ("p:1", "e:1", "ci:1:dis", "r:1"):
        assert await bot.press_data(card, forged) == "This session has already ended."
    session = await bot.service.store.sessions.get_session(1)
    assert session is not None and session.interruptions == 0
    assert len(summaries(bot)) == 1


@pytest.mark.parametrize("data", ["", "nonsense", "p:abc", "sc:1:9", "p:99999", "x" * 64])
async def test_forged_button_data_gets_an_answer(bot: BotHarness, data: str) -> None:
    [card] = await bot.send("/focus 25")
    answer = await bot.press_data(card, data)
    assert answer in {
        "This button has expired.",
        "That session no longer exists.",
        "This session is still running.",
    }
    session = await bot.service.active(USER, USER)
    assert session is not None and session.paused_at is None and session.running


async def test_another_users_button_in_a_group_is_refused(bot: BotHarness) -> None:
    group = -100500
    [card] = await bot.send("/focus 25", chat_id=group, chat_type="group")
    answer = await bot.press(card, "End", user_id=777)
    assert answer == "That button belongs to someone else's session."
    session = await bot.service.active(USER, group)
    assert session is not None and session.running


# --- restarts --------------------------------------------------------------------------------


async def test_restart_drops_missed_nudges_and_continues(tmp_path: Path) -> None:
    clock = FakeClock()
    async with BotHarness(tmp_path / "f.db", clock) as first:
        await first.send("/focus 45")
        await first.tick(minutes=5)
        api = first.api
    clock.advance(minutes=23)  # down from minute 5 to 28: check-in (12), break (25) too late
    async with BotHarness(tmp_path / "f.db", clock, api) as second:
        await second.dispatcher.run_due()
        assert proactive(second) == []  # nothing sent in a burst on start
        await run_minutes(second, 30)
        # The missed break is closed up: block 2 runs 25-45, its check-in at 35.
        assert [m for m, _ in proactive(second)] == [35]
        [summary] = summaries(second)
        assert "Breaks: 0" in (summary.shown_text or "")
        assert "Focused 45 min" in (summary.shown_text or "")
        deliveries = {d.slot: d.status for d in await second.service.store.deliveries.deliveries(1)}
        assert deliveries == {
            "checkin:1.1": "dropped",
            "break:1": "dropped",
            "checkin:2.1": "sent",
            "summary": "sent",
        }


async def test_session_that_ended_while_down_gets_one_late_summary(tmp_path: Path) -> None:
    clock = FakeClock()
    async with BotHarness(tmp_path / "f.db", clock) as first:
        await first.send("/focus 25")
        api = first.api
    clock.advance(hours=2)
    for _ in range(2):  # two restarts: still one summary
        async with BotHarness(tmp_path / "f.db", clock, api) as again:
            await again.dispatcher.run_due()
    [summary] = [m for m in api.messages_to(USER) if "How focused" in (m.shown_text or "")]
    assert "Sent late" in (summary.shown_text or "")
    assert "ended at 09:25" in (summary.shown_text or "")
    nudges = [m for m in api.messages_to(USER) if (m.shown_text or "").startswith(("👀", "☕"))]
    assert nudges == []


async def test_a_claim_left_by_a_crash_is_never_resent(bot: BotHarness) -> None:
    await bot.send("/focus 25")
    # As if the process died after claiming the check-in, before the send returned.
    assert await bot.service.store.deliveries.claim(
        1,
        "checkin:1.1",
        "checkin",
        T0 + timedelta(minutes=12),
        T0 + timedelta(minutes=12),
        max_messages=8,
        min_gap=timedelta(minutes=5),
    )
    await run_minutes(bot, 30)
    assert proactive(bot) == []
    assert len(summaries(bot)) == 1


async def test_send_gate_respects_recorded_budget(bot: BotHarness) -> None:
    await bot.send("/focus 90")
    for n in range(8):  # eight messages recorded, e.g. by an earlier process
        await bot.service.store.deliveries.claim(
            1,
            f"legacy:{n}",
            "checkin",
            T0,
            T0 - timedelta(minutes=6 * (8 - n)),
            max_messages=8,
            min_gap=timedelta(minutes=5),
        )
    await run_minutes(bot, 120)
    assert proactive(bot) == []
    assert len(summaries(bot)) == 1


# --- access ----------------------------------------------------------------------------------


async def test_allowed_users_refuse_others_once_and_store_nothing(tmp_path: Path) -> None:
    async with BotHarness(tmp_path / "a.db", focus_allowed_users=frozenset({USER})) as bot:
        stranger = 999
        [refusal] = await bot.send("/focus 25", user_id=stranger, chat_id=stranger)
        assert "private" in (refusal.shown_text or "")
        assert await bot.send("/start", user_id=stranger, chat_id=stranger) == []
        assert await bot.service.store.users.get_user(stranger) is None
        assert await bot.service.active(stranger, stranger) is None
        [card] = await bot.send("/focus 25")
        assert "Focus: 25 min" in (card.shown_text or "")
        # A stranger's plain text and button presses: no reply (already refused), nothing
        # stored, and the owner's session is untouched.
        assert await bot.send("4", user_id=stranger, chat_id=stranger) == []
        group = -5
        await bot.send("/focus 25", chat_id=group, chat_type="group")
        [group_card] = [m for m in bot.api.messages_to(group) if "Focus:" in (m.shown_text or "")]
        assert await bot.press(group_card, "End", user_id=stranger) == "Sorry, this bot is private."
        assert await bot.service.store.users.get_user(stranger) is None
        owner_session = await bot.service.active(USER, group)
        assert owner_session is not None and owner_session.running


# --- summary insight -------------------------------------------------------------------------


async def test_summary_compares_with_own_average_and_counts_the_streak(bot: BotHarness) -> None:
    for _ in range(3):  # three completed 25-minute sessions on Monday
        await bot.send("/focus 25")
        await run_minutes(bot, 26)
    assert "than your average" not in (summaries(bot)[-1].shown_text or "")
    assert "Streak: 1 day" in (summaries(bot)[-1].shown_text or "")
    await bot.send("/focus 25")
    await run_minutes(bot, 20)
    await bot.send("/stop")
    text = summaries(bot)[-1].shown_text or ""
    assert "20% shorter than your average (25 min, from 3 completed sessions)" in text
    bot.clock.advance(hours=20)  # Tuesday
    await bot.send("/focus 25")
    await run_minutes(bot, 26)
    text = summaries(bot)[-1].shown_text or ""
    assert "Streak: 2 days" in text
    # The stopped 20-minute session does not count (limits.AVERAGE_MIN_MINUTES, completed).
    assert "Right on your average (25 min, from 3 completed sessions)" in text


async def test_a_failing_step_is_retried_later_not_looped(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.telegram import texts

    real = texts.checkin_message
    calls: list[int] = []

    def flaky(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in rendering")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(texts, "checkin_message", flaky)
    await bot.send("/focus 25")
    await run_minutes(bot, 12)
    assert proactive(bot) == []
    session = await bot.service.active(USER, USER)
    assert session is not None and session.next_due_at == T0 + timedelta(minutes=12, seconds=30)
    # Rendering happens before the claim, so nothing was claimed: the retry 30 s later
    # (still inside the 2-minute window) sends the check-in, once.
    await run_minutes(bot, 14)
    assert [m for m, _ in proactive(bot)] == [13]
    assert len(calls) == 2
    # ...and the session still ends with its summary.
    assert len(summaries(bot)) == 1


# --- the card follows the session ------------------------------------------------------------


async def test_card_shows_new_end_paused_state_and_the_end(bot: BotHarness) -> None:
    [card] = await bot.send("/focus 45 report")
    assert "Ends at 09:50" in (card.shown_text or "")
    await bot.send("/extend 10")
    assert "Focus: 55 min" in (card.shown_text or "")
    assert "Ends at 10:05" in (card.shown_text or "")
    await bot.tick(minutes=3)
    await bot.send("/pause")
    assert "Paused at 09:03" in (card.shown_text or "")
    await bot.send("/resume")
    await bot.send("/stop")
    assert (card.shown_text or "").startswith("⏹ Ended early · Focus: 55 min")
    assert card.buttons() == []


async def test_quiet_or_short_sessions_do_not_promise_checkins(bot: BotHarness) -> None:
    [card] = await bot.send("/focus 10")
    assert "I'll stay quiet until the end" in (card.shown_text or "")


@pytest.mark.parametrize(
    ("text", "minutes", "label"),
    [
        ("/focus 45 min write", 45, "write"),
        ("/focus 1h 30 deep work", 90, "deep work"),
        ("/focus 1 h 30 min x", 90, "x"),
        ("/focus 45 5 chapters", 45, "5 chapters"),
    ],
)
async def test_durations_written_with_spaces(
    bot: BotHarness, text: str, minutes: int, label: str
) -> None:
    await bot.send(text)
    session = await bot.service.active(USER, USER)
    assert session is not None and (session.planned_minutes, session.label) == (minutes, label)


async def test_status_time_left_and_done_add_up(bot: BotHarness) -> None:
    await bot.send("/focus 45")
    await run_minutes(bot, 41)
    bot.clock.advance(seconds=30)  # 41.5 of 50: 36.5 focused, 8.5 left
    [status] = await bot.send("/status")
    assert "Focus: 36 min done · 9 min left of 45 min" in (status.shown_text or "")


async def test_rescoring_names_the_session(bot: BotHarness) -> None:
    await bot.send("/focus 5 chapter one")
    await run_minutes(bot, 6)
    await bot.send("4")
    [ack] = await bot.send("3")
    assert "Updated your focus score for “chapter one” from 4 to 3." in (ack.shown_text or "")


async def test_in_a_group_every_message_says_whose_session_it_is(bot: BotHarness) -> None:
    group = -100777
    await bot.send("/focus 25 <b>essay</b>", chat_id=group, chat_type="group", first_name="Ada")
    await bot.send("/focus 25", user_id=99, chat_id=group, chat_type="group", first_name="Bo<b>")
    await run_minutes(bot, 26)
    sent = bot.api.messages_to(group)
    ada = [m for m in sent if 'tg://user?id=4242">Ada</a>' in (m.text or "")]
    bo = [m for m in sent if 'tg://user?id=99">Bo&lt;b&gt;</a>' in (m.text or "")]
    # Each: start card, one check-in, one summary.
    assert len(ada) == 3 and len(bo) == 3, [m.text for m in sent]
    assert all("&lt;b&gt;essay&lt;/b&gt;" in (m.text or "") for m in ada[1:])
    summary = next(m for m in ada if "How focused" in (m.shown_text or ""))
    assert (summary.shown_text or "").startswith("Ada · ✅ Session complete")


async def test_in_a_group_answers_reply_to_the_command_in_private_they_do_not(
    bot: BotHarness,
) -> None:
    group = -100777
    [answer] = await bot.send("/status", chat_id=group, chat_type="supergroup")
    command_id = answer.message_id - 1  # the user's /status took the id before the answer
    assert answer.reply_to == command_id
    [answer] = await bot.send("/status")
    assert answer.reply_to is None
