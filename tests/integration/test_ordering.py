"""PerUserOrder: other users overtake, one user's updates keep their order."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.ext import TypeHandler

from bot.telegram import texts
from bot.telegram.ordering import BACKLOG, RUNNING, PerUserOrder, order_keys
from tests.support.faults import FaultyBotApi
from tests.support.harness import BotHarness

_api = FaultyBotApi()


def update_from(user_id: int, text: str = "hi", *, group: int | None = None) -> Update:
    if group is None:
        return Update.de_json(_api.user_message(user_id=user_id, text=text), None)
    payload = _api.user_message(user_id=user_id, text=text, chat_id=group, chat_type="group")
    return Update.de_json(payload, None)


class Log:
    """Handlers that note when they start and end, and wait for a gate to open."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.running = 0
        self.most_running = 0

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    async def handler(self, name: str, *, fail: bool = False) -> None:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        self.events.append(f"start {name}")
        try:
            await self.gate(name).wait()
            if fail:
                raise RuntimeError(name)
        finally:
            self.running -= 1
            self.events.append(f"end {name}")


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def done(*tasks: asyncio.Future[Any]) -> None:
    """Wait for ``tasks``, failing instead of hanging if the order is broken for good."""
    await asyncio.wait_for(asyncio.gather(*tasks), 5)


def submit(
    processor: PerUserOrder,
    log: Log,
    user_id: int,
    name: str,
    *,
    fail: bool = False,
    group: int | None = None,
) -> asyncio.Task[None]:
    """What PTB's update fetcher does: one task per update, created in arrival order."""
    update = update_from(user_id, group=group)
    return asyncio.ensure_future(processor.process_update(update, log.handler(name, fail=fail)))


async def test_a_slow_update_holds_back_only_its_own_user() -> None:
    processor, log = PerUserOrder(running=4), Log()
    a1 = submit(processor, log, 1, "a1")
    a2 = submit(processor, log, 1, "a2")
    b1 = submit(processor, log, 2, "b1")
    await settle()
    assert log.events == ["start a1", "start b1"]  # a2 waits for a1; b1 does not
    log.gate("b1").set()
    await done(b1)
    assert "start a2" not in log.events
    log.gate("a2").set()  # a2 is ready, but a1 is still running: a2 must not start
    await settle()
    assert "start a2" not in log.events
    log.gate("a1").set()
    await done(a1, a2)
    assert log.events == ["start a1", "start b1", "end b1", "end a1", "start a2", "end a2"]
    assert processor.waiting_keys == 0


async def test_no_more_than_running_at_once_and_a_flooding_user_holds_no_slot() -> None:
    processor, log = PerUserOrder(running=2, backlog=64), Log()  # room for all 30 (no drops)
    flood = [submit(processor, log, 1, f"a{n}") for n in range(30)]
    others = [submit(processor, log, user, f"u{user}") for user in range(2, 6)]
    await settle()
    # a0 and one other user run; a1..a29 wait for their turn without taking a slot.
    assert log.events == ["start a0", "start u2"]
    for name in ["u2", "u3", "u4", "u5"]:
        log.gate(name).set()
    await done(*others)
    ended = [e for e in log.events if e.startswith("end")]
    assert ended == ["end u2", "end u3", "end u4", "end u5"]
    for n in range(30):
        log.gate(f"a{n}").set()
    await done(*flood)
    assert log.most_running == 2
    starts = [e for e in log.events if e.startswith("start a")]
    assert starts == [f"start a{n}" for n in range(30)]
    assert processor.waiting_keys == 0


async def test_a_failing_update_lets_the_next_one_of_its_user_run() -> None:
    processor, log = PerUserOrder(), Log()
    first = submit(processor, log, 1, "a1", fail=True)
    second = submit(processor, log, 1, "a2")
    log.gate("a1").set()
    log.gate("a2").set()
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(first, 5)
    await done(second)
    assert log.events == ["start a1", "end a1", "start a2", "end a2"]


async def test_cancelled_while_waiting_never_starts_and_keeps_the_order_behind_it() -> None:
    processor, log = PerUserOrder(), Log()
    a1 = submit(processor, log, 1, "a1")
    a2 = submit(processor, log, 1, "a2")
    a3 = submit(processor, log, 1, "a3")
    await settle()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would fail here
        a2.cancel()
        await asyncio.wait_for(asyncio.gather(a2, return_exceptions=True), 5)
        gc.collect()
    await settle()
    assert log.events == ["start a1"]  # a3 still waits for a1, though a2 is gone
    log.gate("a3").set()
    log.gate("a1").set()
    await done(a1, a3)
    assert log.events == ["start a1", "end a1", "start a3", "end a3"]
    assert processor.waiting_keys == 0


async def test_a_busy_group_holds_one_slot_and_keeps_its_order() -> None:
    """Replies in a group wait for its 20-a-minute limit: eight people there must not take
    every slot. Their updates go one after the other; a private user overtakes them all."""
    processor, log = PerUserOrder(running=3), Log()
    group = [submit(processor, log, user, f"g{user}", group=-100) for user in range(1, 9)]
    elsewhere = submit(processor, log, 1, "own-chat")  # user 1, privately: after g1 only
    alone = submit(processor, log, 50, "private")
    await settle()
    assert log.events == ["start g1", "start private"]
    log.gate("private").set()
    await done(alone)
    for user in range(1, 9):
        log.gate(f"g{user}").set()
    log.gate("own-chat").set()
    await done(*group, elsewhere)
    starts = [e for e in log.events if e.startswith("start g")]
    assert starts == [f"start g{user}" for user in range(1, 9)]
    assert log.events.index("start own-chat") > log.events.index("end g1")
    assert processor.waiting_keys == 0


async def test_an_update_waits_for_both_its_users_and_its_groups_earlier_updates() -> None:
    processor, log = PerUserOrder(), Log()
    private = submit(processor, log, 1, "u1-private")  # user 1, privately
    other = submit(processor, log, 2, "u2-group", group=-100)  # someone else in the group
    both = submit(processor, log, 1, "u1-group", group=-100)  # after each of them
    await settle()
    assert log.events == ["start u1-private", "start u2-group"]
    log.gate("u1-group").set()
    log.gate("u1-private").set()
    await done(private)
    await settle()
    assert "start u1-group" not in log.events  # the group's earlier update is still running
    log.gate("u2-group").set()
    await done(other, both)
    assert log.events[-2:] == ["start u1-group", "end u1-group"]
    assert processor.waiting_keys == 0


async def test_an_update_of_nobody_cancelled_before_its_slot_is_closed_quietly() -> None:
    processor, log = PerUserOrder(running=1), Log()
    busy = submit(processor, log, 1, "a1")
    nobody = asyncio.ensure_future(
        processor.process_update(Update(update_id=99), log.handler("nobody"))
    )
    await settle()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nobody.cancel()
        await asyncio.wait_for(asyncio.gather(nobody, return_exceptions=True), 5)
        gc.collect()
    log.gate("a1").set()
    await done(busy)
    assert log.events == ["start a1", "end a1"]


def group_update(sender: dict[str, Any], *, sender_chat: dict[str, Any] | None = None) -> Update:
    message: dict[str, Any] = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": -100, "type": "supergroup", "title": "Team"},
        "from": sender,
        "text": "/status",
    }
    if sender_chat is not None:
        message["sender_chat"] = sender_chat
    return Update.de_json({"update_id": 1, "message": message}, None)


async def test_stand_in_senders_are_ordered_by_their_chat_alone() -> None:
    """Anonymous admins, messages sent as a channel, automatic forwards: Telegram gives them
    one sender id in every group, which must not chain all those groups together."""
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group"}
    channel = {"id": 136817688, "is_bot": True, "first_name": "Channel"}
    forward = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
    for sender in (anonymous, channel, forward):
        assert order_keys(group_update(sender)) == (("chat", -100),)
    as_channel = group_update(
        {"id": 5, "is_bot": False, "first_name": "Ada"},
        sender_chat={"id": -1005, "type": "channel", "title": "News"},
    )
    assert order_keys(as_channel) == (("chat", -100),)
    person = group_update({"id": 5, "is_bot": False, "first_name": "Ada"})
    assert order_keys(person) == (("user", 5), ("chat", -100))


async def test_order_keys_are_the_user_and_a_shared_chat() -> None:
    assert order_keys(update_from(77)) == (("user", 77),)  # a private chat is the user's own
    assert order_keys(update_from(77, group=-100)) == (("user", 77), ("chat", -100))
    channel_post = Update.de_json(
        {
            "update_id": 1,
            "channel_post": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": -1005, "type": "channel"},
                "text": "news",
            },
        },
        None,
    )
    assert order_keys(channel_post) == (("chat", -1005),)
    assert order_keys(Update(update_id=2)) == ()
    assert order_keys("not an update") == ()


def test_running_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PerUserOrder(running=0)


# --- the real application, fed through its update queue as polling does ---------------------


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotHarness]:
    async with BotHarness(tmp_path / "focus.db") as harness:
        await harness.app.start()
        try:
            yield harness
        finally:
            await harness.app.stop()


async def test_many_users_at_once_each_in_order_through_the_application(bot: BotHarness) -> None:
    """Each user's /focus, /pause, /resume, /extend, /stop arrive at once, with 39 other
    users' behind them, and the first answers are slow to come back from the Bot API. Every
    update of a user starts only after the one before it ended; users overlap; every user ends
    with one stopped session, extended, paused once."""
    trace: list[tuple[str, int, int]] = []
    running = [0, 0]  # now, most

    async def opened(update: Update, _context: object) -> None:
        assert update.effective_user is not None
        running[0] += 1
        running[1] = max(running)
        trace.append(("start", update.effective_user.id, update.update_id))

    async def closed(update: Update, _context: object) -> None:
        assert update.effective_user is not None
        running[0] -= 1
        trace.append(("end", update.effective_user.id, update.update_id))

    bot.app.add_handler(TypeHandler(Update, opened), group=-1000)
    bot.app.add_handler(TypeHandler(Update, closed), group=1000)
    bot.api.stall_next("sendMessage", 0.05, times=20)  # a /focus waits for its card's answer
    users = range(9001, 9041)
    script = ["/focus 25 thesis", "/pause", "/resume", "/extend 10", "/stop"]
    for user in users:  # a user's updates side by side, where unordered handling mixes them
        for text in script:
            payload = bot.api.user_message(user_id=user, text=text)
            await bot.app.update_queue.put(Update.de_json(payload, bot.app.bot))
    await asyncio.wait_for(bot.app.update_queue.join(), 30)
    assert running == [0, RUNNING]  # users overlapped, never more than RUNNING at once
    for user in users:
        mine = [(kind, update_id) for kind, who, update_id in trace if who == user]
        ids = sorted({update_id for _, update_id in mine})
        assert mine == [(kind, i) for i in ids for kind in ("start", "end")], (user, mine)
    for user in users:
        texts = bot.texts(user)
        assert len(texts) == 5, (user, texts)
        assert texts[0].startswith("⏹ Ended early · Focus: 35 min"), texts[0]  # the card
        assert texts[1].startswith("⏸ Paused"), texts[1]
        assert texts[2].startswith("▶ Back on the clock"), texts[2]
        assert texts[3].startswith("➕ Added 10 min — 35 min"), texts[3]
        # stopped at once, each is a stray (issue 13): its summary says it was cancelled
        assert texts[4].startswith("🚫 Session cancelled"), texts[4]
        sessions, total = await bot.service.store.reports.history(user, 0, 5)
        assert total == 1
        assert sessions[0].planned_minutes == 35
        assert sessions[0].ended_at is not None
        assert sessions[0].interruptions == 1


# --- a bounded backlog per user and chat, and stopping with one --------------------------------


async def test_a_full_line_drops_the_rest_and_answers_once_per_burst() -> None:
    """Beyond ``backlog`` queued, a user's updates are dropped — closed, never run — and the
    first drop of the burst is answered once; once the line empties, a new burst may be."""
    answered: list[int] = []

    async def overflow(update: object) -> None:
        assert isinstance(update, Update)
        answered.append(update.update_id)

    processor, log = PerUserOrder(running=4, backlog=3, on_overflow=overflow), Log()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a dropped coroutine left unclosed would fail here
        flood = [submit(processor, log, 1, f"a{n}") for n in range(10)]
        other = submit(processor, log, 2, "b")
        await settle()
        assert all(task.done() for task in flood[3:])  # no task is left waiting
        assert len(answered) == 1  # once, not once per dropped update
        assert processor.queued(("user", 1)) == 3
        assert processor.dropped == 7
        assert log.events == ["start a0", "start b"]  # the other user is not held up
        log.gate("b").set()
        await done(other)
        for n in range(10):
            log.gate(f"a{n}").set()
        await done(*flood)
        gc.collect()
    assert [e for e in log.events if e.startswith("start a")] == [
        "start a0",
        "start a1",
        "start a2",
    ]
    assert processor.waiting_keys == 0
    again = [submit(processor, log, 1, f"c{n}") for n in range(5)]  # a new burst
    await settle()
    assert len(answered) == 2
    for n in range(5):
        log.gate(f"c{n}").set()
    await done(*again)


async def test_a_group_chat_has_a_line_of_its_own() -> None:
    """Many people in one group fill the group's line: each of them sends one update, and
    what comes beyond the backlog is dropped there too, however many senders it has."""
    processor, log = PerUserOrder(backlog=4), Log()
    group = [submit(processor, log, user, f"g{user}", group=-100) for user in range(1, 9)]
    await settle()
    assert processor.dropped == 4
    assert processor.queued(("chat", -100)) == 4
    for user in range(1, 9):
        log.gate(f"g{user}").set()
    await done(*group)
    assert [e for e in log.events if e.startswith("start")] == [f"start g{u}" for u in (1, 2, 3, 4)]


async def test_stop_waiting_drops_what_waits_and_everything_after_but_lets_the_running_finish() -> (
    None
):
    processor, log = PerUserOrder(running=1), Log()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        line = [submit(processor, log, 1, f"a{n}") for n in range(5)]  # a1..a4 wait for a0
        slot = submit(processor, log, 2, "b")  # waits for the one slot
        await settle()
        processor.stop_waiting()
        late = submit(processor, log, 3, "c")  # handed in while stopping
        await asyncio.wait_for(asyncio.gather(*line[1:], slot, late, return_exceptions=True), 5)
        assert log.events == ["start a0"]
        log.gate("a0").set()
        await done(line[0])
        await settle()  # the dropped ones' places are given up in turn, after a0's
        gc.collect()
    assert log.events == ["start a0", "end a0"]
    assert processor.dropped == 6
    assert processor.waiting_keys == 0


def test_backlog_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PerUserOrder(backlog=0)


FLOODER = 6001


async def _until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``predicate`` (it reads the processor, which tells nobody when it changes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def _flood(bot: BotHarness, count: int) -> list[int]:
    ids = []
    for n in range(count):
        payload = bot.api.user_message(user_id=FLOODER, text=f"hello {n}")
        ids.append(int(payload["update_id"]))
        await bot.app.update_queue.put(Update.de_json(payload, bot.app.bot))
    return ids


async def test_a_flood_through_the_application_is_capped_and_answered_once(
    bot: BotHarness,
) -> None:
    """200 messages from one user while their first is still being handled: BACKLOG stay
    queued, the rest are dropped with one "slow down" answer, other users are answered
    meanwhile, and what runs runs in order."""
    gate, ran = asyncio.Event(), []

    async def hold(update: Update, _context: object) -> None:
        if update.effective_user is not None and update.effective_user.id == FLOODER:
            ran.append(update.update_id)
            await gate.wait()

    bot.app.add_handler(TypeHandler(Update, hold), group=-1000)
    ids = await _flood(bot, 200)
    others = (6101, 6102, 6103)
    for user in others:
        payload = bot.api.user_message(user_id=user, text="/help")
        await bot.app.update_queue.put(Update.de_json(payload, bot.app.bot))
    processor = bot.app.update_processor
    assert isinstance(processor, PerUserOrder)
    try:
        await _until(
            lambda: processor.dropped == 200 - BACKLOG and all(bot.texts(u) for u in others)
        )
        assert processor.queued(("user", FLOODER)) == BACKLOG
        assert ran == ids[:1]
        assert bot.texts(FLOODER) == [texts.SLOW_DOWN]  # sent while the first is still held
        for user in others:
            [shown] = bot.texts(user)
            assert shown.startswith("Commands\n/focus")
    finally:
        gate.set()  # else the fixture's stop would wait for the held update for ever
    await asyncio.wait_for(bot.app.update_queue.join(), 10)
    assert ran == ids[:BACKLOG]  # the first BACKLOG, in order
    shown = bot.texts(FLOODER)
    assert shown.count(texts.SLOW_DOWN) == 1
    assert len(shown) == 1 + BACKLOG  # the slow-down answer and one hint per update that ran


async def test_stopping_with_a_backlog_runs_none_of_it_and_ends_promptly(tmp_path: Path) -> None:
    """SIGTERM's path: Application.stop while a user has a backlog of slow updates. Only the
    running one finishes; the waiting ones are dropped, so stop does not wait for them."""
    async with BotHarness(tmp_path / "focus.db") as harness:
        gate, ran = asyncio.Event(), []

        async def slow(update: Update, _context: object) -> None:
            if update.effective_user is not None and update.effective_user.id == FLOODER:
                ran.append(update.update_id)
                if len(ran) == 1:
                    await gate.wait()
                else:
                    await asyncio.sleep(0.5)  # 50 of these one after another: 25 s

        harness.app.add_handler(TypeHandler(Update, slow), group=-1000)
        await harness.app.start()
        ids = await _flood(harness, 50)
        processor = harness.app.update_processor
        await _until(lambda: harness.app.update_queue.empty() and bool(ran))
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, gate.set)  # the running update ends a moment after stop begins
        started = loop.time()
        await asyncio.wait_for(harness.app.stop(), 5)
        assert loop.time() - started < 2
        assert ran == ids[:1]
        assert isinstance(processor, PerUserOrder)
        assert processor.dropped == 49
        assert processor.waiting_keys == 0
        await harness.app.start()  # started again: updates are taken again
        try:
            payload = harness.api.user_message(user_id=6003, text="/help")
            await harness.app.update_queue.put(Update.de_json(payload, harness.app.bot))
            await asyncio.wait_for(harness.app.update_queue.join(), 5)
            assert harness.texts(6003)[0].startswith("Commands\n/focus")
            assert processor.dropped == 49
        finally:
            await harness.app.stop()
