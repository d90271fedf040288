"""/stats end to end through the offline transport, and the query plans behind it."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.insights import Stats
from storage.models import to_ms
from tests.support.fakes import T0
from tests.support.harness import USER, BotHarness


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotHarness]:
    async with BotHarness(tmp_path / "focus.db") as harness:
        yield harness


async def session(bot: BotHarness, minutes: int, *, stop_after: int | None = None) -> None:
    await bot.send(f"/focus {minutes} work")
    for _ in range(stop_after if stop_after is not None else minutes + 1):
        await bot.tick(minutes=1)
    if stop_after is not None:
        await bot.send("/stop")


async def test_stats_of_a_day_with_hand_computed_numbers(bot: BotHarness) -> None:
    # Monday 9 March (T0 09:00 UTC, the user stays in UTC): 25 done, 25 done, 25 stopped at 10.
    await session(bot, 25)  # 09:00-09:25
    await bot.send("4")
    await session(bot, 25)  # 09:26-09:51
    await bot.send("2")
    await session(bot, 25, stop_after=10)  # 09:52, stopped at 10 min: unscored
    sent = await bot.send("/stats today")
    text = sent[0].shown_text or ""
    assert "Your focus — today" in text
    assert "Sessions: 3 · completed 2 (67%)" in text
    assert "Focused: 1 h · about 20 min a session" in text  # 25 + 25 + 10 = 60
    assert "Focus score: 3.0 average (1 not rated)" in text  # (4 + 2) / 2, unscored excluded
    assert "You finish 80% of what you plan." in text  # 60 / 75
    assert "Peak hours: 09:00" in text
    assert "Streak: 1 day (best 1)" in text
    assert "Rate 3 more sessions to unlock personal insights." in text  # 2 of 5 scored
    [photo] = [m for m in sent if m.kind == "photo"]
    png = photo.file_bytes or b""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1000, 600)


async def test_stats_for_an_empty_period_has_no_chart(bot: BotHarness) -> None:
    sent = await bot.send("/stats")
    assert [m.kind for m in sent] == ["message"]
    assert "No sessions this week yet" in (sent[0].shown_text or "")


@pytest.mark.parametrize("arg", ["year", "7", "week please", "x" * 300])
async def test_stats_with_an_unknown_period_explains(bot: BotHarness, arg: str) -> None:
    # not a period: read as a label (issue 13), with nothing under it, and the periods named
    [reply] = await bot.send(f"/stats {arg}")
    assert "No sessions labelled" in (reply.shown_text or "")
    assert "Choose a period" in (reply.shown_text or "")


async def test_summary_carries_a_per_session_insight(bot: BotHarness) -> None:
    for _ in range(3):
        await session(bot, 5)
    summary = [
        m.shown_text or ""
        for m in bot.api.messages_to(USER)
        if "How focused" in (m.shown_text or "")
    ][-1]
    assert "3rd completed session today" in summary


async def test_main_queries_use_indexes(bot: BotHarness) -> None:
    db = bot.service.store.connection
    queries = {
        "session_facts": (
            "SELECT started_at FROM sessions WHERE user_id = ? AND started_at >= ? "
            "AND started_at < ? AND ended_at IS NOT NULL AND cancelled = 0 ORDER BY started_at",
            (USER, 0, to_ms(T0)),
            "sessions_user_facts",  # covering: the rows are read from the index alone
        ),
        "history": (
            "SELECT id FROM sessions WHERE user_id = ? "
            "ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?",
            (USER, 10, 0),
            "sessions_user_started",
        ),
        "due_sessions": (
            "SELECT id FROM sessions WHERE next_due_at IS NOT NULL AND next_due_at <= ? "
            "ORDER BY next_due_at LIMIT ?",
            (to_ms(T0), 500),
            "sessions_due",
        ),
        "active_session": (
            "SELECT id FROM sessions WHERE user_id = ? AND chat_id = ? AND ended_at IS NULL",
            (USER, USER),
            "sessions_one_active",
        ),
    }
    for name, (sql, params, index) in queries.items():
        async with db.execute(f"EXPLAIN QUERY PLAN {sql}", params) as cursor:
            plan = " | ".join(str(row[3]) for row in await cursor.fetchall())
        assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, (
            name,
            plan,
        )
        assert "SCAN sessions" not in plan.replace(f"SCAN sessions USING INDEX {index}", ""), (
            name,
            plan,
        )


async def test_streak_follows_each_ended_session_the_timezone_and_erasure(
    bot: BotHarness,
) -> None:
    def streak_line(sent: list[object]) -> str:
        text = getattr(sent[0], "shown_text", "") or ""
        return next((line for line in text.splitlines() if "Streak" in line), "")

    await session(bot, 25)  # Monday 09:00
    assert "Streak: 1 day (best 1)" in streak_line(await bot.send("/stats"))  # now kept
    bot.clock.advance(hours=23)  # Tuesday 08:26 UTC
    await session(bot, 25)
    assert "Streak: 2 days (best 2)" in streak_line(await bot.send("/stats"))
    # Early on Wednesday in UTC is still Tuesday in New York: no third day there.
    bot.clock.advance(hours=16)
    await session(bot, 25)  # Wednesday 01:2x UTC = Tuesday evening in New York
    assert "Streak: 3 days (best 3)" in streak_line(await bot.send("/stats"))
    await bot.send("/timezone America/New_York")
    assert "Streak: 2 days (best 2)" in streak_line(await bot.send("/stats"))
    [question] = await bot.send("/delete_me")
    assert await bot.press(question, "Yes") == "Deleted."
    # Nothing about an erased user stays in memory either.
    assert USER not in bot.service._days
    assert USER not in bot.service._ends
    assert USER not in bot.service.store.users._users
    await session(bot, 25)  # a fresh start: one day, not the erased three
    assert "Streak: 1 day (best 1)" in streak_line(await bot.send("/stats"))


async def test_stats_adds_up_from_indexes_alone(bot: BotHarness) -> None:
    await session(bot, 25)
    await bot.send("/focus 25 labelled")
    await bot.tick(minutes=3)  # not a stray: that would be left out of the figures
    await bot.send("/stop")
    await bot.send("/timezone Europe/Berlin")  # a zone with offset changes: the CASE arms
    db = bot.service.store.connection
    statements: list[str] = []
    await db.set_trace_callback(statements.append)
    numbers = await bot.service.stats(USER, "all")
    await db.set_trace_callback(None)
    assert numbers.sessions == 2
    aggregates = [sql for sql in statements if "total(" in sql or "count(*)" in sql]
    assert len(aggregates) == 3, statements
    for sql in aggregates:
        async with db.execute(f"EXPLAIN QUERY PLAN {sql}") as cursor:
            plan = " | ".join(str(row[3]) for row in await cursor.fetchall())
        if "label IS NOT NULL" in sql:
            assert "USING INDEX sessions_user_labelled" in plan, plan
        else:
            assert "USING COVERING INDEX sessions_user_facts" in plan, plan


async def test_stats_chart_gets_the_daily_goal_but_not_for_one_label(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.telegram.charts as charts

    handed: list[tuple[str, int | None]] = []
    real = charts.render_stats_chart

    def spy(stats: Stats, title: str, goal_minutes: int | None = None) -> bytes | None:
        handed.append((stats.period, goal_minutes))
        return real(stats, title, goal_minutes)

    monkeypatch.setattr(charts, "render_stats_chart", spy)
    await session(bot, 25)
    await bot.send("/stats")
    await bot.send("/goal 30m")
    await bot.send("/stats month")
    await bot.send("/stats week work")  # one label's minutes are not the day's
    await bot.send("/goal off")
    await bot.send("/stats")
    assert handed == [("week", None), ("month", 30), ("week", None), ("week", None)]
