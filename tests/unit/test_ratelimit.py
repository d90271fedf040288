"""The rate limiter, in real (short) time with fast rates."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from telegram.error import RetryAfter
from telegram.ext import ExtBot

from bot.telegram.ratelimit import (
    LANE_SHARE,
    FocusRateLimiter,
    Lane,
    PriorityGate,
    RateLimitArgs,
    lane_args,
)


class Recorder:
    """A fake Bot API call: records when each chat was sent to; can answer 429 first."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, Any]] = []
        self.floods: dict[Any, int] = {}

    async def call(self, chat: Any) -> bool:
        if self.floods.get(chat):
            self.floods[chat] -= 1
            raise RetryAfter(1)
        self.sent.append((time.monotonic(), chat))
        return True


async def send(limiter: FocusRateLimiter, recorder: Recorder, chat: Any) -> Any:
    return await limiter.process_request(
        recorder.call, (chat,), {}, "sendMessage", {"chat_id": chat}, None
    )


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


async def test_one_chat_gets_a_short_burst_then_its_rate() -> None:
    limiter = FocusRateLimiter(overall_per_second=1000, chat_per_second=20, chat_burst=3)
    recorder = Recorder()
    start = time.monotonic()
    await asyncio.gather(*(send(limiter, recorder, 42) for _ in range(8)))
    times = [t - start for t, _ in recorder.sent]
    assert all(t < 0.03 for t in times[:3])  # a reply and a card edit go out together
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(times[3:]))  # then 20/s
    assert times[-1] >= 0.2  # 5 after the burst, 50 ms apart


async def test_overall_rate_has_no_burst() -> None:
    limiter, recorder = FocusRateLimiter(overall_per_second=50, chat_per_second=1000), Recorder()
    await asyncio.gather(*(send(limiter, recorder, chat) for chat in range(1, 26)))
    times = sorted(t for t, _ in recorder.sent)
    window = 0.2  # 50/s: at most 10 (+1 at the edge) in any 0.2 s, even at the start
    assert max(sum(1 for t in times if s <= t < s + window) for s in times) <= 11
    assert times[-1] - times[0] >= 0.45  # 25 messages at 50/s: about half a second


async def test_a_group_also_gets_its_per_minute_bucket() -> None:
    limiter = FocusRateLimiter(overall_per_second=1000, chat_per_second=1000, group_per_minute=600)
    recorder = Recorder()
    await asyncio.gather(*(send(limiter, recorder, -100) for _ in range(4)))
    times = [t for t, _ in recorder.sent]
    assert all(b - a >= 0.095 for a, b in itertools.pairwise(times))  # 600/min: 100 ms apart


async def test_a_429_pauses_only_its_chat_and_is_never_retried_early() -> None:
    limiter, recorder = FocusRateLimiter(overall_per_second=1000, chat_per_second=1000), Recorder()
    recorder.floods[1] = 1
    start = time.monotonic()
    await asyncio.gather(send(limiter, recorder, 1), send(limiter, recorder, 2))
    when = {chat: t - start for t, chat in recorder.sent}
    assert when[2] < 0.1  # the other chat was not held up
    assert when[1] >= 1.0  # retry_after=1, honoured in full


async def test_429s_on_several_chats_pause_everything() -> None:
    limiter = FocusRateLimiter(overall_per_second=1000, chat_per_second=1000)
    recorder = Recorder()
    recorder.floods.update({1: 1, 2: 1, 3: 1})
    start = time.monotonic()
    first = [send(limiter, recorder, chat) for chat in (1, 2, 3)]

    async def later() -> None:
        await asyncio.sleep(0.2)  # after the three 429s: a bot-wide flood
        await send(limiter, recorder, 4)

    await asyncio.gather(*first, later())
    when = {chat: t - start for t, chat in recorder.sent}
    assert when[4] >= 1.0


async def test_a_429_after_the_last_retry_is_raised() -> None:
    limiter = FocusRateLimiter(overall_per_second=1000, chat_per_second=1000, max_retries=0)
    recorder = Recorder()
    recorder.floods[7] = 1
    with pytest.raises(RetryAfter):
        await send(limiter, recorder, 7)


async def test_idle_buckets_are_forgotten() -> None:
    limiter = FocusRateLimiter(overall_per_second=10_000, chat_per_second=10_000, max_buckets=50)
    recorder = Recorder()
    for chat in range(500):
        await send(limiter, recorder, chat)
    assert len(limiter._chats) <= 50


# --- lanes: answers first, then proactive messages, then files; nobody starves -----------------


async def send_in(
    limiter: FocusRateLimiter,
    recorder: Recorder,
    chat: Any,
    lane: Lane | None = None,
    endpoint: str = "sendMessage",
) -> Any:
    return await limiter.process_request(
        recorder.call, (chat,), {}, endpoint, {"chat_id": chat}, RateLimitArgs(lane)
    )


async def test_an_answer_queued_after_ten_files_goes_out_before_them() -> None:
    limiter, recorder = FocusRateLimiter(overall_per_second=40, chat_per_second=1000), Recorder()
    files = [
        asyncio.ensure_future(send_in(limiter, recorder, chat, endpoint="sendDocument"))
        for chat in range(1, 11)
    ]
    await asyncio.sleep(0)  # the files are waiting (the first has the free slot)
    await send_in(limiter, recorder, 99)  # an answer: no lane given, sendMessage
    await asyncio.gather(*files)
    order = [chat for _, chat in recorder.sent]
    assert order.index(99) <= 1, order
    assert limiter.overall.granted == {Lane.ANSWER: 1, Lane.PROACTIVE: 0, Lane.BULK: 10}


async def test_proactive_goes_ahead_of_files_and_an_explicit_lane_wins_over_the_endpoint() -> None:
    limiter, recorder = FocusRateLimiter(overall_per_second=100, chat_per_second=1000), Recorder()
    files = [send_in(limiter, recorder, chat, endpoint="sendPhoto") for chat in range(1, 5)]
    nudges = [send_in(limiter, recorder, chat, Lane.PROACTIVE) for chat in range(11, 13)]
    marked = send_in(limiter, recorder, 21, Lane.ANSWER, endpoint="sendDocument")
    await asyncio.gather(*files, *nudges, marked)
    order = [chat for _, chat in recorder.sent]
    assert order[0] == 1  # took the free slot before anyone else was waiting
    assert order[1:4] == [21, 11, 12], order


async def test_files_and_nudges_keep_their_share_under_a_continuous_answer_load() -> None:
    """60 answers, 20 nudges and 20 files all waiting: answers come first, yet a waiting lane
    gets at least its share of the slots (1 in 3, 1 in 6)."""
    limiter, recorder = FocusRateLimiter(overall_per_second=400, chat_per_second=1000), Recorder()
    answers = [send_in(limiter, recorder, ("a", n)) for n in range(60)]
    nudges = [send_in(limiter, recorder, ("p", n), Lane.PROACTIVE) for n in range(20)]
    files = [send_in(limiter, recorder, ("b", n), endpoint="sendDocument") for n in range(20)]
    await asyncio.gather(*answers, *nudges, *files)
    kinds = [chat[0] for _, chat in recorder.sent]
    first = kinds[:36]  # all three lanes still waiting throughout these
    assert first.count("b") >= 36 // LANE_SHARE[Lane.BULK] - 1, first
    assert first.count("p") >= 36 // LANE_SHARE[Lane.PROACTIVE] - 1, first
    assert first.count("a") >= 36 // 2, first  # and answers get the most
    assert kinds[-1] != "a"  # the answers finished first


async def test_lanes_never_break_the_overall_rate() -> None:
    limiter, recorder = FocusRateLimiter(overall_per_second=50, chat_per_second=1000), Recorder()
    lanes = [None, Lane.PROACTIVE, Lane.BULK]
    calls = [send_in(limiter, recorder, n, lanes[n % 3]) for n in range(30)]
    await asyncio.gather(*calls)
    times = sorted(t for t, _ in recorder.sent)
    window = 0.2  # 50/s: at most 10 (+1 at the edge) in any 0.2 s
    assert max(sum(1 for t in times if s <= t < s + window) for s in times) <= 11
    assert all(b - a >= 0.018 for a, b in itertools.pairwise(times))  # 20 ms apart, less jitter


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    limiter, recorder = FocusRateLimiter(overall_per_second=50, chat_per_second=1000), Recorder()
    first = asyncio.ensure_future(send_in(limiter, recorder, 1))
    gone = asyncio.ensure_future(send_in(limiter, recorder, 2))
    last = asyncio.ensure_future(send_in(limiter, recorder, 3))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(first, last, gone, return_exceptions=True)
    assert [chat for _, chat in recorder.sent] == [1, 3]


async def test_retries_come_from_the_rate_limit_args_or_an_int() -> None:
    limiter = FocusRateLimiter(overall_per_second=1000, chat_per_second=1000, max_retries=3)
    recorder = Recorder()
    recorder.floods[7] = 1
    with pytest.raises(RetryAfter):
        await limiter.process_request(
            recorder.call,
            (7,),
            {},
            "sendMessage",
            {"chat_id": 7},
            RateLimitArgs(Lane.PROACTIVE, max_retries=0),
        )
    recorder.floods[8] = 1
    with pytest.raises(RetryAfter):
        await limiter.process_request(recorder.call, (8,), {}, "sendMessage", {"chat_id": 8}, 0)


def test_lane_args_only_for_a_bot_with_a_rate_limiter() -> None:
    """PTB refuses ``rate_limit_args`` on a bot without a limiter (console mode, tests)."""
    plain = ExtBot("1:offline")
    limited = ExtBot("1:offline", rate_limiter=FocusRateLimiter())
    assert lane_args(plain, Lane.BULK) == {}
    assert lane_args(limited, Lane.BULK) == {"rate_limit_args": RateLimitArgs(Lane.BULK)}


def test_a_gate_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        PriorityGate(0)
