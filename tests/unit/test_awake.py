"""bot.telegram.awake: the stretches the process did not run, told from a slow send."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from bot.core.clock import SystemClock
from bot.telegram.awake import GAP_S, Awake
from tests.support.fakes import FakeClock


async def test_a_blocked_loop_is_a_stretch_not_awake() -> None:
    """A beat that comes seconds late (the process frozen or its loop blocked) is noted; an
    end inside it, or just before it, was "while down"; one before, after or far before,
    not."""
    awake = Awake(SystemClock())
    awake.started_at -= timedelta(hours=1)  # as if up for an hour
    awake.start()
    before = awake.clock.now()
    time.sleep(GAP_S + 1.5)  # noqa: ASYNC251 - the loop must not beat: as SIGSTOP freezes it
    await asyncio.sleep(0.05)
    awake.stop()
    [(start, end)] = awake.gaps
    assert start <= before + timedelta(seconds=1.5) and end >= before + timedelta(seconds=GAP_S)
    margin = timedelta(minutes=2)
    assert awake.was_down(before + timedelta(seconds=2), margin)
    assert awake.was_down(start - timedelta(minutes=1), margin)  # ended, then froze at once
    assert not awake.was_down(end + timedelta(seconds=1), margin)
    assert not awake.was_down(start - timedelta(minutes=3), margin)


async def test_a_fake_clocks_jumps_and_a_busy_second_are_not_downtime() -> None:
    """Tests move a fake clock on purpose; a beat late by less than the gap is normal."""
    clock = FakeClock()
    awake = Awake(clock)
    awake.start()
    clock.advance(minutes=30)
    time.sleep(0.5)  # noqa: ASYNC251 - a busy half second on the loop, on purpose
    await asyncio.sleep(1.2)
    awake.stop()
    assert list(awake.gaps) == []
    assert not awake.was_down(clock.now() - timedelta(minutes=10), timedelta(minutes=2))
    assert awake.was_down(awake.started_at - timedelta(seconds=1), timedelta(0))  # before start
