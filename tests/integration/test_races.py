"""Regressions from review: races, send failures, rounding, stale and forged input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.offline.local_api import LocalApiError, OutgoingMessage
from bot.telegram.dispatcher import JOB_NAME
from bot.telegram.parsing import parse_focus
from tests.support.fakes import T0, FakeClock
from tests.support.harness import USER, BotHarness


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotHarness]:
    async with BotHarness(tmp_path / "focus.db") as harness:
        yield harness


def shown(bot: BotHarness) -> list[str]:
    return [m.shown_text or "" for m in bot.api.messages_to(USER)]


def summaries(bot: BotHarness) -> list[OutgoingMessage]:
    return [m for m in bot.api.messages_to(USER) if "How focused were you?" in (m.shown_text or "")]


async def run_minutes(bot: BotHarness, minutes: int) -> None:
    for _ in range(minutes):
        await bot.tick(minutes=1)


# --- a handler and the dispatcher at the same moment -----------------------------------------


@pytest.mark.parametrize("yields", range(0, 12, 2))
async def test_extend_racing_the_end_is_never_both_extended_and_complete(
    bot: BotHarness, yields: int
) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 24)
    bot.clock.advance(minutes=1)  # the session is due to end right now

    async def extend_later() -> list[OutgoingMessage]:
        for _ in range(yields):
            await asyncio.sleep(0)
        return await bot.send("/extend 10")

    # What arrived while /extend was handled: its answer, and perhaps the dispatcher's
    # message of the same moment (a break, when the extension came first).
    arrived, _ = await asyncio.gather(extend_later(), bot.dispatcher.run_due())
    texts = [m.shown_text or "" for m in arrived]
    extended = any("Added 10 min" in t for t in texts)
    completed = len(summaries(bot)) == 1
    assert extended != completed, (texts, [s.shown_text for s in summaries(bot)])
    session = await bot.service.get(1)
    assert session is not None and session.running == extended


@pytest.mark.parametrize("yields", range(0, 16, 3))
async def test_no_checkin_after_a_confirmed_pause(bot: BotHarness, yields: int) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 11)
    bot.clock.advance(minutes=1)  # the check-in at 12 is due

    async def pause_later() -> None:
        for _ in range(yields):
            await asyncio.sleep(0)
        await bot.send("/pause")

    await asyncio.gather(pause_later(), bot.dispatcher.run_due())
    texts = shown(bot)
    paused = next(i for i, t in enumerate(texts) if t.startswith("⏸ Paused"))
    checkins = [i for i, t in enumerate(texts) if t.startswith("👀")]
    assert all(i < paused for i in checkins), texts  # sent before the pause, or not at all


# --- send failures ---------------------------------------------------------------------------


async def test_summary_with_unknown_outcome_is_not_sent_twice(bot: BotHarness) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 24)
    bot.api.fail_next("sendMessage", LocalApiError(502, "Bad Gateway"))
    await run_minutes(bot, 5)
    # The 502 came back: maybe delivered, so never resent; shown on the start card instead.
    [on_card] = summaries(bot)
    assert on_card.message_id == bot.api.messages_to(USER)[0].message_id
    statuses = {d.slot: d.status for d in await bot.service.store.deliveries.deliveries(1)}
    assert statuses["summary"] == "sending"


async def test_summary_refused_by_flood_control_is_retried_once_delivered(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    await bot.send("/focus 25")
    await run_minutes(bot, 24)
    bot.api.fail_next("sendMessage", LocalApiError.too_many_requests(3))
    await bot.tick(minutes=1)
    assert summaries(bot) == []
    await bot.tick(seconds=31)  # SUMMARY_RETRY later
    assert len(summaries(bot)) == 1
    await run_minutes(bot, 10)
    assert len(summaries(bot)) == 1


async def test_a_break_with_unknown_outcome_still_counts_and_is_not_resent(
    bot: BotHarness,
) -> None:
    await bot.send("/focus 45")
    await run_minutes(bot, 24)
    bot.api.fail_next("sendMessage", LocalApiError(500, "Internal Server Error"))
    await run_minutes(bot, 30)
    texts = shown(bot)
    assert not any(t.startswith("☕") for t in texts)  # the failed send
    assert any(t.startswith("🔔 Back to work") for t in texts)  # its break counted
    [summary] = summaries(bot)
    assert "Breaks: 1" in (summary.shown_text or "")


async def test_a_refused_message_is_dropped_not_counted(bot: BotHarness) -> None:
    await bot.send("/focus 45")
    await run_minutes(bot, 11)
    bot.api.fail_next("sendMessage", LocalApiError.blocked_by_user())
    await bot.tick(minutes=1)
    statuses = {d.slot: d.status for d in await bot.service.store.deliveries.deliveries(1)}
    assert statuses["checkin:1.1"] == "dropped"


# --- the dispatcher keeps going --------------------------------------------------------------


async def test_dispatcher_rearms_even_when_a_run_fails(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bot.app.job_queue is not None
    await bot.send("/focus 25")

    async def broken(now: object, limit: int) -> list[int]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(bot.service.store.deliveries, "pending_summaries", broken)
    await bot.app.job_queue.start()  # a real scheduler; nothing is due for 12 minutes
    try:
        with pytest.raises(RuntimeError):
            await bot.dispatcher.run_due()
        [job] = bot.app.job_queue.get_jobs_by_name(JOB_NAME)
        assert job.next_t is not None
    finally:
        await bot.app.job_queue.stop(wait=False)


async def test_arming_keeps_one_job_and_the_earliest_time(bot: BotHarness) -> None:
    assert bot.app.job_queue is not None
    await bot.dispatcher.run_due()  # the start-up arming ("run now") is used up
    for job in bot.app.job_queue.jobs():
        job.schedule_removal()
    await bot.app.job_queue.start()
    try:
        now = bot.clock.now()
        for seconds in (600, 300, 900, 100):
            bot.dispatcher.arm(now + timedelta(seconds=seconds))
        [job] = bot.app.job_queue.get_jobs_by_name(JOB_NAME)
        assert job.next_t is not None
        # APScheduler runs on the real clock: the earliest arming (100 s ahead) won.
        assert 95 <= (job.next_t - datetime.now(UTC)).total_seconds() <= 100.5
    finally:
        await bot.app.job_queue.stop(wait=False)


@pytest.mark.parametrize("scale", [7, 13, 3599])
async def test_odd_time_scales_never_leave_a_session_due(tmp_path: Path, scale: int) -> None:
    clock = FakeClock(T0 + timedelta(microseconds=123_457))
    async with BotHarness(tmp_path / "f.db", clock, focus_time_scale=scale) as bot:
        await bot.send("/focus 45")
        for _ in range(400):
            await bot.dispatcher.run_due()
            soonest = await bot.service.store.deliveries.soonest_due()
            if soonest is None:
                break
            assert soonest > clock.now()  # nothing left due: no spinning
            clock.set(soonest)
        assert len(summaries(bot)) == 1


# --- input edges -----------------------------------------------------------------------------


async def test_extension_never_announces_a_break_in_the_past(bot: BotHarness) -> None:
    await bot.send("/focus 28")  # 28 = 25 + 3: too short a tail for a break
    await run_minutes(bot, 26)
    await bot.send("/extend 5")  # now 33: block 1 would have had a break at 25
    await run_minutes(bot, 15)
    assert not any(t.startswith("☕") for t in shown(bot))
    [summary] = summaries(bot)
    assert "Focused 33 min of 33 planned" in (summary.shown_text or "")
    statuses = {
        d.slot: (d.status, d.reason) for d in await bot.service.store.deliveries.deliveries(1)
    }
    assert statuses["break:1"][0] == "dropped"


def test_labels_keep_joined_emoji_and_lose_bidi_overrides() -> None:
    assert parse_focus("30 👩‍💻 code review").label == "👩‍💻 code review"
    assert parse_focus("30 abc\u202edef\u0007").label == "abcdef"


async def test_forged_checkin_argument_and_double_taps(bot: BotHarness) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 12)
    checkin = bot.api.messages_to(USER)[-1]
    assert await bot.press_data(checkin, "ci:1:zzz") == "This button has expired."
    await bot.press_data(checkin, "ci:1:dis")
    await bot.press_data(checkin, "ci:1:dis")
    session = await bot.service.active(USER, USER)
    assert session is not None and session.interruptions == 1


async def test_delete_confirmation_expires(bot: BotHarness) -> None:
    await bot.send("/start")
    [question] = await bot.send("/delete_me")
    bot.clock.advance(minutes=11)
    assert await bot.press(question, "Yes") == "Expired."
    assert await bot.service.store.users.get_user(USER) is not None


# --- a chat that is gone ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        LocalApiError.blocked_by_user(),
        LocalApiError(400, "Bad Request: chat not found"),
    ],
)
async def test_a_blocked_bot_ends_the_chats_sessions_quietly(
    bot: BotHarness, error: LocalApiError
) -> None:
    await bot.send("/focus 45")
    await run_minutes(bot, 11)
    bot.api.fail_next("sendMessage", error)
    await bot.tick(minutes=1)  # the check-in at 12 is refused: the user blocked the bot
    before = len(bot.api.sent)
    await run_minutes(bot, 60)
    assert len(bot.api.sent) == before  # nothing more is sent to that chat
    session = await bot.service.get(1)
    assert session is not None and not session.running
    statuses = {
        d.slot: (d.status, d.reason) for d in await bot.service.store.deliveries.deliveries(1)
    }
    assert statuses["summary"] == ("dropped", "chat unreachable")
    assert statuses["checkin:1.1"][0] == "dropped"


async def test_a_passing_failure_is_retried_within_the_window(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    await bot.send("/focus 25")
    await run_minutes(bot, 11)
    bot.api.fail_next("sendMessage", LocalApiError.too_many_requests(5), times=2)
    await bot.tick(minutes=1)  # 12:00 refused (flood wait) -> retry 12:30
    await bot.tick(seconds=30)  # 12:30 refused again -> retry 13:00
    assert not any(t.startswith("👀") for t in shown(bot))
    await bot.tick(seconds=30)  # 13:00, still within the 2-minute window: delivered
    checkins = [m for m in bot.api.messages_to(USER) if (m.shown_text or "").startswith("👀")]
    assert [round((m.sent_at - T0).total_seconds()) for m in checkins] == [13 * 60]


async def test_a_passing_failure_past_the_window_is_dropped(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    await bot.send("/focus 25")
    await run_minutes(bot, 11)
    bot.api.fail_next("sendMessage", LocalApiError.too_many_requests(5), times=10)
    for _ in range(8):
        await bot.tick(seconds=30)
    assert not any(t.startswith("👀") for t in shown(bot))
    statuses = {
        d.slot: (d.status, d.reason) for d in await bot.service.store.deliveries.deliveries(1)
    }
    assert statuses["checkin:1.1"] == ("dropped", "missed: too late to send")


async def test_dispatcher_keeps_running_when_it_rearms_itself_for_now(
    tmp_path: Path,
) -> None:
    """On a real, started JobQueue: a backlog re-arms the job for "now" from inside its own
    run. APScheduler used to skip that run (one instance per job) and drop the job: the
    dispatcher stopped for good. Found by the recovery benchmark."""
    async with BotHarness(tmp_path / "f.db") as bot:
        assert bot.app.job_queue is not None
        for user in range(1, 6):
            await bot.send("/focus 25", user_id=user, chat_id=user)
        bot.dispatcher.batch, bot.dispatcher.max_batches = 1, 1  # one session a run: backlog
        bot.clock.advance(minutes=12)  # every check-in is due
        await bot.dispatcher.run_due()  # the start-up arming is used up; one sent, backlog
        await bot.app.job_queue.start()
        try:
            for _ in range(150):  # up to 3 s of real time for the job to work through it
                sent = [m for m in bot.api.sent if (m.shown_text or "").startswith("👀")]
                if len(sent) == 5:
                    break
                await asyncio.sleep(0.02)
            assert len(sent) == 5
        finally:
            await bot.app.job_queue.stop(wait=True)


# --- the dispatcher decides on what its pass read; a change before its lock is seen ----------


@pytest.mark.parametrize("command", ["/pause", "/stop"])
async def test_a_change_between_the_pass_reading_and_stepping_sends_nothing_stale(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 11)
    bot.clock.advance(minutes=1)  # the check-in at 12 is due
    store = bot.service.store
    read = store.deliveries.due_work

    async def read_then_change(now: datetime, limit: int) -> object:
        due = await read(now, limit)
        assert [s.id for s, _ in due] == [1]
        await bot.send(command)  # after the pass read the session, before it steps it
        return due

    monkeypatch.setattr(store.deliveries, "due_work", read_then_change)
    report = await bot.dispatcher.run_due()
    assert report.sent == 0
    assert not [t for t in shown(bot) if t.startswith("👀")]
    records = {r.slot: r.status for r in await store.deliveries.deliveries(1)}
    assert "checkin:1.1" not in records  # neither sent nor recorded as dropped


async def test_an_extension_between_reading_and_stepping_is_decided_on_fresh(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 11)
    bot.clock.advance(minutes=1)
    store = bot.service.store
    read = store.deliveries.due_work

    async def read_then_extend(now: datetime, limit: int) -> object:
        due = await read(now, limit)
        await bot.send("/extend 10")  # version 0 -> 1: the pass's copy is stale
        return due

    monkeypatch.setattr(store.deliveries, "due_work", read_then_extend)
    report = await bot.dispatcher.run_due()
    assert report.sent == 1  # the check-in at 12 is still in the longer plan: sent once
    assert [t for t in shown(bot) if t.startswith("👀")] != []
    session = await bot.service.get(1)
    assert session is not None and session.version == 1 and session.planned_minutes == 35
    # The next look was stored for the longer plan (its planned end is 40 min + 0 pause).
    assert session.planned_end_at == T0 + timedelta(minutes=40)
    assert session.next_due_at is not None and session.next_due_at > bot.clock.now()
