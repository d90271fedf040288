"""Records you control (issue 13), through the real Application offline with a fake clock:
stray sessions cancelled (with their undo), a session opened from /history, corrected and
deleted (totals and streaks follow), refusals (running, another person's, forged buttons),
filtered /history, /stats by label, and a bare /focus's 🔁 again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.offline.local_api import OutgoingMessage
from bot.telegram.callbacks import RecordAction, RecordButton, RestoreButton, encode
from tests.support.harness import USER, BotHarness

OTHER = 777


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotHarness]:
    async with BotHarness(tmp_path / "focus.db") as harness:
        yield harness


async def run_session(bot: BotHarness, text: str, minutes: int, *, user_id: int = USER) -> None:
    """/focus ``text`` and let it run ``minutes`` (then stop it if still running)."""
    await bot.send(text, user_id=user_id)
    for _ in range(minutes):
        await bot.tick(minutes=1)
    if await bot.service.active(user_id, user_id) is not None:
        await bot.send("/stop", user_id=user_id)


def last_text(bot: BotHarness, user_id: int = USER) -> str:
    return bot.texts(user_id)[-1]


async def stats(bot: BotHarness, args: str = "today") -> str:
    sent = await bot.send(f"/stats {args}")
    return sent[0].shown_text or ""


# --- 10. stray sessions --------------------------------------------------------------------------


async def test_a_stray_session_is_cancelled_left_out_and_can_be_undone(bot: BotHarness) -> None:
    await run_session(bot, "/focus 25 real work", 25)  # completed
    await run_session(bot, "/focus 45 oops", 1)  # stopped after a minute
    summary = bot.api.messages_to(USER)[-1]
    assert "Session cancelled" in (summary.shown_text or "")
    assert "left it out of your numbers" in (summary.shown_text or "")
    text = await stats(bot)
    # as reported: four stray sessions gave "completed 0 (0%) · You finish 1%"
    assert "Sessions: 1 · completed 1 (100%)" in text
    assert "You finish 100% of what you plan." in text
    session = (await bot.service.find_history(USER, _all(), 0, 10))[0][0]
    assert session.cancelled and session.label == "oops"
    assert await bot.press(summary, "Count it") == "Counted."
    assert "Sessions: 2 · completed 1 (50%)" in await stats(bot)


async def test_the_undo_ends_when_the_next_session_starts(bot: BotHarness) -> None:
    await run_session(bot, "/focus 25 oops", 1)
    summary = bot.api.messages_to(USER)[-1]
    await bot.send("/focus 25 next")
    answer = await bot.press(summary, "Count it")
    assert answer is not None and answer.startswith("Too late")
    assert "No sessions today" in await stats(bot)


async def test_a_session_of_two_minutes_counts(bot: BotHarness) -> None:
    await run_session(bot, "/focus 25 short", 2)
    assert "Session ended early" in last_text(bot)
    assert "Sessions: 1" in await stats(bot)


# --- 5. open, correct, delete --------------------------------------------------------------------


def _all():  # type: ignore[no-untyped-def]
    from storage import HistoryQuery

    return HistoryQuery()


async def open_first(bot: BotHarness, args: str = "") -> OutgoingMessage:
    [page] = await bot.send(f"/history {args}".strip())
    [first, *_] = page.buttons()  # the newest session's: its own number (#12)
    assert await bot.press(page, first[0]) == ""
    return page


async def test_history_opens_corrects_and_deletes_with_totals_and_streak(
    bot: BotHarness,
) -> None:
    await run_session(bot, "/focus 25 report", 26)  # completed today: streak 1
    await bot.tick(hours=20)
    await run_session(bot, "/focus 45 forgot to stop", 50)  # completed the next day: streak 2
    assert "🔥 Streak: 2 days" in await stats(bot, "week")
    page = await open_first(bot)
    record = page.shown_text or ""
    assert "forgot to stop" in record and "Focused 45 of 45 min planned" in record
    assert "✅ completed" in record and "Log" in record
    assert [b for b, _ in page.buttons()] == ["✏️ Correct", "🗑 Delete"]
    assert await bot.press(page, "Correct") == ""
    session_id = int((page.shown_text or "").split("#")[1].split()[0].split("<")[0])
    [answer] = await bot.send(f"/correct {session_id} focused 30")
    assert "focused 30 of 45 min, ⏹ ended early" in (answer.shown_text or "")
    text = await stats(bot, "week")
    assert "completed 1 (50%)" in text and "Focused: 55 min" in text
    assert "🔥 Streak: 1 day " in text  # yesterday's completion alone; today's no longer
    [answer] = await bot.send(f"/correct {session_id} score 4")
    assert "⭐4" in (answer.shown_text or "")
    events = await bot.service.store.reports.events(session_id)
    edits = [e.detail for e in events if e.kind == "edit"]
    assert edits == ["focused 45.0→30.0 min", "outcome completed→ended_early", "score –→4"]
    # delete: asks first, then the session and its events go in one go
    page = await open_first(bot)
    assert await bot.press(page, "Delete") == ""
    assert "can't be undone" in (page.shown_text or "")
    assert await bot.press(page, "Yes, delete") == "Deleted."
    assert await bot.service.get(session_id) is None
    assert await bot.service.store.reports.events(session_id) == []
    text = await stats(bot, "week")
    assert "Sessions: 1 · completed 1 (100%)" in text


async def test_correct_refuses_running_and_others_sessions(bot: BotHarness) -> None:
    await bot.send("/focus 25 running")
    running = await bot.service.active(USER, USER)
    assert running is not None
    [answer] = await bot.send(f"/correct {running.id} focused 10")
    assert "still running" in (answer.shown_text or "")
    page = await open_first(bot)
    assert "Running: correct or delete it once it has ended." in (page.shown_text or "")
    assert page.buttons() == []
    # a forged delete of the running session
    forged = encode(RecordButton(USER, running.id, RecordAction.CONFIRM_DELETE))
    assert "still running" in (await bot.press_data(page, forged) or "")
    assert await bot.service.get(running.id) is not None
    await bot.send("/stop")
    # another person's session: their buttons, and forged ones with our own id
    await run_session(bot, "/focus 25 theirs", 26, user_id=OTHER)
    [theirs] = (await bot.service.find_history(OTHER, _all(), 0, 1))[0]
    [answer] = await bot.send(f"/correct {theirs.id} score 1")
    assert "can't find that session" in (answer.shown_text or "")
    for action in RecordAction:
        mine = encode(RecordButton(USER, theirs.id, action))
        assert "can't find" in (await bot.press_data(page, mine) or "")
        owned = encode(RecordButton(OTHER, theirs.id, action))
        assert "someone else" in (await bot.press_data(page, owned) or "")
    assert "someone else" in (await bot.press_data(page, encode(RestoreButton(theirs.id))) or "")
    after = await bot.service.get(theirs.id)
    assert after is not None and after.score is None and not after.cancelled


async def test_correct_bad_input_gets_a_short_answer(bot: BotHarness) -> None:
    await run_session(bot, "/focus 25 a", 26)
    session = (await bot.service.find_history(USER, _all(), 0, 1))[0][0]
    for args, expected in [
        ("", "Say which session"),
        (f"{session.id} focused 500", "Focused minutes can be 0–180"),
        (f"{session.id} score 7", "A score is a number 1–5"),
        (f"{session.id} colour blue", "I can correct"),
        ("99999999999999999999 score 3", "can't find"),
        (f"{session.id} score 5", "Saved"),
        (f"{session.id} score 5", "Nothing to change"),
    ]:
        [answer] = await bot.send(f"/correct {args}")
        assert expected in (answer.shown_text or ""), (args, answer.shown_text)


# --- 6. filtered history ------------------------------------------------------------------------


async def test_filtered_history(bot: BotHarness) -> None:
    await run_session(bot, "/focus 25 Write the REPORT", 26)
    await run_session(bot, "/focus 25 email", 10)
    await bot.tick(days=10)
    await run_session(bot, "/focus 25 report  draft", 26)
    [page] = await bot.send("/history report")
    text = page.shown_text or ""
    assert "2 in all" in text and "email" not in text
    [page] = await bot.send("/history early")
    assert "1 in all" in (page.shown_text or "") and "email" in (page.shown_text or "")
    [page] = await bot.send("/history completed")
    assert "2 in all" in (page.shown_text or "")
    [page] = await bot.send("/history week")
    assert "1 in all" in (page.shown_text or "") and "draft" in (page.shown_text or "")
    [page] = await bot.send("/history nothing like this")
    assert "No sessions match" in (page.shown_text or "")


async def test_filtered_history_pages(bot: BotHarness) -> None:
    for n in range(12):
        await run_session(bot, f"/focus 5 deep {n}", 6)
    [page] = await bot.send("/history deep")
    assert "page 1 of 2, 12 in all" in (page.shown_text or "")
    assert await bot.press(page, "Older") == ""
    assert "page 2 of 2" in (page.shown_text or "")
    assert "deep 1" in (page.shown_text or "") and "deep 11" not in (page.shown_text or "")


# --- 7. /stats by label ------------------------------------------------------------------------


async def test_stats_by_label(bot: BotHarness) -> None:
    await run_session(bot, "/focus 25 report", 26)
    await run_session(bot, "/focus 25 Report ", 10)
    await run_session(bot, "/focus 25 email", 26)
    sent = await bot.send("/stats today")
    text = sent[0].shown_text or ""
    assert "🏷 Top labels" in text
    assert "report · 2 sessions · 35 min · 50%" in text.replace("Report", "report")
    assert "email · 1 session · 25 min · 100%" in text
    text = (await bot.send("/stats today  REPORT"))[0].shown_text or ""
    assert "Sessions: 2 · completed 1 (50%)" in text and "“REPORT”" in text
    text = (await bot.send("/stats nothing"))[0].shown_text or ""
    assert "No sessions labelled “nothing”" in text


# --- 8. again -----------------------------------------------------------------------------------


async def test_bare_focus_offers_the_latest_labels_again(bot: BotHarness) -> None:
    await run_session(bot, "/focus 45 report", 50)
    await run_session(bot, "/focus 15 email", 15)
    await run_session(bot, "/focus 25 REPORT", 26)  # the same label as the first
    [card] = await bot.send("/focus")
    assert "🔁 Again?" in (card.shown_text or "")
    labels = [b for b, _ in card.buttons()]
    # the start energy's row (the companion) stays above the offer's own row
    assert labels == [
        "⏸ Pause",
        "⏹ End",
        "🔋 fresh",
        "🙂 ok",
        "🪫 tired",
        "🔁 REPORT · 25 min",
        "🔁 email · 15 min",
    ]
    [again] = [d for b, d in card.buttons() if "email" in b]
    await bot.send("/stop")  # a stray: cancelled (the card loses its buttons)
    assert await bot.press_data(card, again) == "Started."
    running = await bot.service.active(USER, USER)
    assert running is not None and (running.label, running.planned_minutes) == ("email", 15)
