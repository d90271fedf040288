"""A summary no crash can take (issue 14): when a summary's send has an unknown fate — a 5xx,
a timeout, a crash between its claim and its confirmation — it is never sent again as a
message; the session's start card is edited into it, with its score buttons. And a session
whose summary went out never keeps a card with live ⏸ Pause · ⏹ End buttons.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.offline.local_api import LocalApiError, OutgoingMessage
from nudges import limits as product
from storage import SUMMARY_SLOT
from tests.support.harness import USER, BotHarness

ASK = "How focused were you?"


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotHarness]:
    async with BotHarness(tmp_path / "focus.db") as harness:
        yield harness


async def run_minutes(bot: BotHarness, minutes: int) -> None:
    for _ in range(minutes):
        await bot.tick(minutes=1)


def card(bot: BotHarness) -> OutgoingMessage:
    """The session's start card: the bot's first message in the chat."""
    return bot.api.messages_to(USER)[0]


def summary_attempts(bot: BotHarness) -> int:
    """sendMessage calls made since the session's last check-in (``before_the_end``)."""
    return bot.api.calls["sendMessage"] - bot.api.calls["before the end"]


async def before_the_end(bot: BotHarness, minutes: int = 25) -> None:
    """Start a session and run it to a minute before its end; remember the calls so far."""
    await bot.send(f"/focus {minutes} report")
    await run_minutes(bot, minutes - 1)
    bot.api.calls["before the end"] = bot.api.calls["sendMessage"]


def live_buttons(message: OutgoingMessage) -> list[str]:
    return [text for text, _ in message.buttons() if "Pause" in text or "End" in text]


async def end_with_a_500_on_the_summary(bot: BotHarness, *, delivered: bool = False) -> None:
    await before_the_end(bot)
    error = LocalApiError(500, "Internal Server Error")
    if delivered:
        bot.api.fail_after_next("sendMessage", error)
    else:
        bot.api.fail_next("sendMessage", error)
    await bot.tick(minutes=1)  # the end: the summary's send fails with a 500


# --- a send of unknown fate ------------------------------------------------------------------


async def test_a_500_on_the_summary_turns_the_card_into_it(bot: BotHarness) -> None:
    await end_with_a_500_on_the_summary(bot)
    shown = card(bot).shown_text or ""
    assert "Session complete" in shown and ASK in shown
    assert [text for text, _ in card(bot).buttons()] == ["1", "2", "3", "4", "5"]
    assert summary_attempts(bot) == 1  # one sendMessage for the summary, never a second
    edits = card(bot).edits
    await run_minutes(bot, 30)
    assert summary_attempts(bot) == 1
    assert card(bot).edits == edits  # done once, not redone on every run
    edit = await bot.service.store.cards.get(1)
    assert edit is not None and (edit.shows, edit.status) == ("summary", "done")


async def test_a_500_after_delivery_leaves_no_live_buttons_on_the_card(bot: BotHarness) -> None:
    """The summary arrived but the bot cannot know it: the card shows the summary too (a
    message edited, never a second message), and no ⏸ Pause · ⏹ End is left behind."""
    await end_with_a_500_on_the_summary(bot, delivered=True)
    summaries = [m for m in bot.api.messages_to(USER) if ASK in (m.shown_text or "")]
    assert len(summaries) == 2 and summaries[0] is card(bot)
    assert live_buttons(card(bot)) == []
    assert summary_attempts(bot) == 1


async def test_a_timed_out_summary_is_shown_on_the_card(tmp_path: Path) -> None:
    """A hung request (the read timeout passed; Telegram may still deliver it)."""
    async with BotHarness(tmp_path / "f.db") as bot:
        await before_the_end(bot)
        bot.api.stall_next("sendMessage", 6.0)  # LocalRequest's read timeout is 5 s
        await bot.tick(minutes=1)  # goes on without the stalled send (it holds up nothing)
        await bot.dispatcher.settled()  # until its timeout: fate unknown
        assert ASK in (card(bot).shown_text or "")
        assert summary_attempts(bot) == 1


async def test_a_card_edit_that_fails_passingly_is_retried_later(bot: BotHarness) -> None:
    await before_the_end(bot)
    bot.api.fail_next("sendMessage", LocalApiError(502, "Bad Gateway"))
    bot.api.fail_next("editMessageText", LocalApiError(500, "Internal Server Error"))
    await bot.tick(minutes=1)
    assert ASK not in (card(bot).shown_text or "")  # the edit failed too
    await bot.tick(seconds=product.CARD_EDIT_RETRY.total_seconds() + 1)
    assert ASK in (card(bot).shown_text or "")
    assert summary_attempts(bot) == 1


async def test_card_edits_are_bounded(bot: BotHarness) -> None:
    await before_the_end(bot)
    bot.api.fail_next("sendMessage", LocalApiError(500, "Internal Server Error"))
    bot.api.fail_next("editMessageText", LocalApiError(500, "Internal Server Error"), times=99)
    await bot.tick(minutes=1)
    for _ in range(12):
        await bot.tick(minutes=30)
    # CARD_EDIT_ATTEMPTS tries in all (at the end, then 30 s, 1, 2, 4 min apart), no more.
    assert bot.api.calls["editMessageText"] == product.CARD_EDIT_ATTEMPTS
    edit = await bot.service.store.cards.get(1)
    assert edit is not None and edit.status == "failed"
    assert summary_attempts(bot) == 1


async def test_without_a_card_it_stays_at_most_once_and_says_so(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    await before_the_end(bot)
    await bot.service.store.connection.run(
        lambda c: c.execute("UPDATE sessions SET card_message_id = NULL")
    )
    bot.api.fail_next("sendMessage", LocalApiError(500, "Internal Server Error"))
    with caplog.at_level(logging.WARNING, logger="bot.telegram.dispatcher"):
        await run_minutes(bot, 10)
    assert "no start card to show it on" in caplog.text
    assert summary_attempts(bot) == 1
    assert not any(ASK in t for t in bot.texts())
    edit = await bot.service.store.cards.get(1)
    assert edit is not None and (edit.status, edit.reason) == ("failed", "no card")


# --- the card as the summary -----------------------------------------------------------------


async def test_a_score_tapped_on_the_card_is_recorded_once(bot: BotHarness) -> None:
    await end_with_a_500_on_the_summary(bot)
    assert await bot.press(card(bot), "4") == "Saved: focus 4/5 for “report”. Thanks!"
    assert await bot.press(card(bot), "4") == "Your focus score for “report” is still 4."
    session = await bot.service.get(1)
    assert session is not None and session.score == 4
    shown = card(bot).shown_text or ""
    assert shown.count("Your score: 4/5") == 1 and ASK in shown  # and it can still be changed
    assert await bot.press(card(bot), "2") == "Updated your focus score for “report” from 4 to 2."
    assert "Your score: 2/5" in (card(bot).shown_text or "")
    session = await bot.service.get(1)
    assert session is not None and session.score == 2


async def test_a_score_on_the_summary_leaves_the_summary_as_it_was(bot: BotHarness) -> None:
    """Only the card says the score (the summary message is not edited, as before)."""
    await before_the_end(bot)
    await bot.tick(minutes=1)
    [summary] = [m for m in bot.api.messages_to(USER) if ASK in (m.shown_text or "")]
    await bot.press(summary, "4")
    assert summary.edits == 0


async def test_a_reply_to_the_card_is_the_sessions_note(bot: BotHarness) -> None:
    await end_with_a_500_on_the_summary(bot)
    [ack] = await bot.send("phone kept buzzing", reply_to_message_id=card(bot).message_id)
    assert "📝 Note for “report” saved" in (ack.shown_text or "")
    session = await bot.service.get(1)
    assert session is not None and session.note == "phone kept buzzing"


# --- a crash between the claim and the confirmation ------------------------------------------


@pytest.mark.parametrize("delivered", [False, True])
async def test_a_summary_cut_by_a_crash_is_shown_on_the_card_once_after_a_restart(
    tmp_path: Path, delivered: bool
) -> None:
    path = tmp_path / "focus.db"
    async with BotHarness(path) as first:
        await before_the_end(first)
        first.api.kill_next("sendMessage", delivered=delivered)
        # Claimed, then killed mid-request: the summary runs in a task of its own, which the
        # "kill" ends (nothing after the request runs in it).
        await first.tick(minutes=1)
        await first.dispatcher.settled()
        deliveries = await first.service.store.deliveries.deliveries(1)
        assert {d.slot: d.status for d in deliveries}[SUMMARY_SLOT] == "sending"
    clock, api = first.clock, first.api
    attempts = api.calls["sendMessage"]
    async with BotHarness(path, clock=clock, api=api) as second:
        await second.tick(seconds=10)  # the restart: too soon to know the request is over
        assert ASK not in (card(second).shown_text or "")
        await second.tick(seconds=product.SUMMARY_SURELY_OVER.total_seconds())
        assert ASK in (card(second).shown_text or "")
        assert [text for text, _ in card(second).buttons()] == ["1", "2", "3", "4", "5"]
        edits = card(second).edits
        await run_minutes(second, 10)
        assert card(second).edits == edits
    async with BotHarness(path, clock=clock, api=api) as third:
        await run_minutes(third, 10)
        assert card(third).edits == edits  # recorded: a later start does not redo it
        assert api.calls["sendMessage"] == attempts  # never resent as a message
        assert attempts == api.calls["before the end"] + 1
        assert await third.press(card(third), "5") == "Saved: focus 5/5 for “report”. Thanks!"
    summaries = [m for m in api.messages_to(USER) if ASK in (m.shown_text or "")]
    assert len(summaries) == (2 if delivered else 1)


async def test_a_summary_still_being_sent_is_not_taken_for_cut(bot: BotHarness) -> None:
    """A send slower than SUMMARY_SURELY_OVER in this process is in flight, not cut: the sweep
    leaves it alone (the card is edited only if its fate turns out unknown)."""
    await bot.send("/focus 25")
    await run_minutes(bot, 24)
    bot.clock.advance(minutes=1)
    bot.dispatcher._summaries_in_flight[1] += 1  # as while send_summary runs
    await bot.service.store.deliveries.claim_summary(1, bot.clock.now())
    bot.clock.advance(minutes=5)
    await bot.dispatcher.repair_cards()
    assert ASK not in (card(bot).shown_text or "")
    assert await bot.service.store.cards.get(1) is None


# --- a confirmed summary, a card that would not close ----------------------------------------


async def test_a_card_that_failed_to_close_is_closed_later(bot: BotHarness) -> None:
    await bot.send("/focus 25")
    await run_minutes(bot, 24)
    bot.api.fail_next("editMessageText", LocalApiError(502, "Bad Gateway"))
    await bot.tick(minutes=1)
    assert sum(ASK in t for t in bot.texts()) == 1  # the summary went out
    assert live_buttons(card(bot))  # the card's close failed
    await bot.tick(seconds=product.CARD_EDIT_RETRY.total_seconds() + 1)
    assert live_buttons(card(bot)) == []
    assert (card(bot).shown_text or "").startswith("✅ Done")
