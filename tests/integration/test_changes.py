"""The core is the one owner of "a session changed": every use case that changes a session
tells the port once, after committing, and the Telegram side acts on it (re-arm, card,
summary). Handlers do none of it themselves."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.core.changes import SessionChange, SessionChanges
from tests.support.harness import USER, BotHarness


class Recorder:
    """A port that records each change and passes it on to the real one."""

    def __init__(self, inner: SessionChanges) -> None:
        self.inner = inner
        self.changes: list[SessionChange] = []

    async def session_changed(self, change: SessionChange) -> None:
        self.changes.append(change)
        await self.inner.session_changed(change)


def _card_buttons(bot: BotHarness) -> list[str]:
    card = next(m for m in bot.api.messages_to(USER) if "Focus:" in (m.shown_text or ""))
    return [text for text, _ in card.buttons()]


async def test_each_change_is_told_once_with_what_follows(tmp_path: Path) -> None:
    async with BotHarness(tmp_path / "focus.db") as bot:
        port = Recorder(bot.service.changes)
        bot.service.changes = port

        await bot.send("/focus 45 report")
        [start] = port.changes
        assert (start.card, start.summary) == (False, False)  # the card is not sent yet
        assert start.wake_at is not None and start.wake_at == start.session.next_due_at

        await bot.send("/pause")
        await bot.send("/pause")  # already paused: nothing changed, nothing told
        assert len(port.changes) == 2
        assert port.changes[-1].card and port.changes[-1].session.paused_at is not None
        assert any("Resume" in b for b in _card_buttons(bot))  # the adapter refreshed it

        await bot.send("/resume")
        assert port.changes[-1].session.paused_at is None
        assert any("Pause" in b for b in _card_buttons(bot))

        await bot.send("/extend 10")
        assert port.changes[-1].session.planned_minutes == 55

        bot.clock.advance(timedelta(minutes=3))  # not a stray: its summary is the usual one
        await bot.send("/stop")
        stop = port.changes[-1]
        assert (stop.card, stop.summary, stop.wake_at) == (False, True, None)
        assert len(port.changes) == 5
        assert sum("How focused were you?" in t for t in bot.texts()) == 1

        await bot.send("/stop")  # nothing runs: nothing told
        await bot.send("/extend 10")
        assert len(port.changes) == 5


async def test_a_refused_extension_changes_nothing(tmp_path: Path) -> None:
    async with BotHarness(tmp_path / "focus.db") as bot:
        port = Recorder(bot.service.changes)
        bot.service.changes = port
        await bot.send("/focus 90")
        for _ in range(2):
            await bot.send("/extend 45")
        [refused] = await bot.send("/extend 45")  # 180 reached: refused, with the room left
        assert "180" in (refused.shown_text or "")
        assert [c.session.planned_minutes for c in port.changes] == [90, 135, 180]
