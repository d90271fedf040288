"""The rate limiter, in real (short) time with fast rates."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.telegram.ratelimit import FocusRateLimiter


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
