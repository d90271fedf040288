"""The companion end to end: the real ``python -m bot`` over HTTP against the Bot API stand-in,
two people at once. One answers 👍 twice in a 50-minute block of a 90-minute session and gets
no further check-in before the break; the other answers 😵 (with a reason) at the first
check-in of a 45-minute session and gets the next one before the first break, never within
5 minutes of the previous message."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from bot.offline.local_api import OutgoingMessage
from tests.e2e.test_e2e import BotProcess, standin, until  # noqa: F401 - standin: a fixture
from tests.support.faults import FaultyBotApi
from tests.support.standin import BotApiStandin

pytestmark = pytest.mark.e2e

SCALE = 240  # a minute lasts a quarter of a second: the 95-minute session runs in 24 s
FLOW_USER = 6001
DISTRACTED_USER = 6002


def at_minute(start: datetime, message: OutgoingMessage) -> float:
    """Virtual minutes between a session's start and a message."""
    return (message.sent_at - start).total_seconds() * SCALE / 60


def proactive(api: FaultyBotApi, user: int) -> list[OutgoingMessage]:
    return [m for m in api.messages_to(user) if (m.shown_text or "").startswith(("👀", "☕", "🔔"))]


def checkins(api: FaultyBotApi, user: int) -> list[OutgoingMessage]:
    return [m for m in proactive(api, user) if (m.shown_text or "").startswith("👀")]


def summary_of(api: FaultyBotApi, user: int) -> list[OutgoingMessage]:
    return [m for m in api.messages_to(user) if "How focused were you?" in (m.shown_text or "")]


def card_of(api: FaultyBotApi, user: int) -> OutgoingMessage | None:
    return next((m for m in api.messages_to(user) if "Focus:" in (m.shown_text or "")), None)


async def press(api: FaultyBotApi, user: int, message: OutgoingMessage, label: str) -> str | None:
    """Press the button whose text holds ``label``; the bot's callback answer."""
    data = next(d for text, d in message.buttons() if label in text)
    before = len(api.callback_answers)
    api.user_press(user_id=user, message_id=message.message_id, data=data)
    await until(api, lambda: len(api.callback_answers) > before, 10)
    return api.callback_answers[before].text


async def test_flow_and_distraction_over_http(
    standin: tuple[FaultyBotApi, BotApiStandin],  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    api, server = standin
    db = tmp_path / "focus.db"
    bot = BotProcess(server.base_url, db, tmp_path / "bot.log")
    bot.env["FOCUS_TIME_SCALE"] = str(SCALE)
    await bot.start()
    try:
        await until(api, lambda: api.calls["getUpdates"] > 0, 30)  # the bot is polling
        api.user_message(user_id=FLOW_USER, text="/settings block 50")
        await until(api, lambda: len(api.messages_to(FLOW_USER)) == 1, 10)
        api.user_message(user_id=FLOW_USER, text="/focus 90")
        api.user_message(user_id=DISTRACTED_USER, text="/focus 45")
        await until(api, lambda: card_of(api, FLOW_USER) is not None, 10)
        await until(api, lambda: card_of(api, DISTRACTED_USER) is not None, 10)
        flow_card, distracted_card = card_of(api, FLOW_USER), card_of(api, DISTRACTED_USER)
        assert flow_card is not None and distracted_card is not None

        # Both first check-ins come at 12: one is 👍, the other 😵 with a reason.
        await until(api, lambda: len(checkins(api, FLOW_USER)) == 1, 15)
        await until(api, lambda: len(checkins(api, DISTRACTED_USER)) == 1, 5)
        assert await press(api, FLOW_USER, checkins(api, FLOW_USER)[0], "On track") == (
            "Great — keep going!"
        )
        first = checkins(api, DISTRACTED_USER)[0]
        assert "Happens to everyone" in (
            await press(api, DISTRACTED_USER, first, "Distracted") or ""
        )
        tip = await press(api, DISTRACTED_USER, first, "people")
        assert tip is not None and "headphones" in tip

        # The second 👍, at 25: flow, said once in the answer.
        await until(api, lambda: len(checkins(api, FLOW_USER)) == 2, 15)
        answer = await press(api, FLOW_USER, checkins(api, FLOW_USER)[1], "On track")
        assert answer == "You're in flow — I'll stay quiet until your break."

        await until(api, lambda: len(summary_of(api, DISTRACTED_USER)) == 1, 30)
        await until(api, lambda: len(summary_of(api, FLOW_USER)) == 1, 60)
        assert await bot.terminate() == 0
    finally:
        if bot.proc and bot.proc.returncode is None:
            await bot.kill()

    def timeline(user: int, card: OutgoingMessage) -> list[tuple[float, str]]:
        return [
            (at_minute(card.sent_at, m), (m.shown_text or "")[:1]) for m in proactive(api, user)
        ]

    flow = timeline(FLOW_USER, flow_card)
    # 12 👍 · 25 👍 (flow: the check-in of 37 is skipped) · 50 break · 55 back · 68 · 81.
    assert [kind for _, kind in flow] == ["👀", "👀", "☕", "🔔", "👀", "👀"], flow
    assert [round(m) for m, _ in flow] == [12, 25, 50, 55, 68, 81], flow
    assert "🌊 In flow: 25 min" in (summary_of(api, FLOW_USER)[0].shown_text or "")

    distracted = timeline(DISTRACTED_USER, distracted_card)
    # 12 😵 · the check-in planned at 40 moved before the break (6 minutes after the answer)
    # · 25 break · 30 back: no check-in at 40 any more.
    assert [kind for _, kind in distracted] == ["👀", "👀", "☕", "🔔"], distracted
    moved = distracted[1][0]
    assert 17 <= moved <= 20, distracted
    for timeline_ in (flow, distracted):
        gaps = [b - a for (a, _), (b, _) in itertools.pairwise(timeline_)]
        assert all(gap >= 5 - 0.25 * SCALE / 60 for gap in gaps), timeline_
        assert len(timeline_) <= 8

    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT s.user_id, d.slot, d.answer, d.answer_reason FROM deliveries d "
            "JOIN sessions s ON s.id = d.session_id WHERE d.answer IS NOT NULL "
            "ORDER BY s.user_id, d.due_at"
        ).fetchall()
        assert rows == [
            (FLOW_USER, "checkin:1.1", "ok", None),
            (FLOW_USER, "checkin:1.2", "ok", None),
            (DISTRACTED_USER, "checkin:1.1", "distracted", "people"),
        ]
        interruptions = conn.execute(
            "SELECT interruptions FROM sessions WHERE user_id = ?", (DISTRACTED_USER,)
        ).fetchone()
        assert interruptions == (1,)
