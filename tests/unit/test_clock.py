"""SystemClock: real elapsed time from the boot clock, the wall clock's steps kept out until
``resync`` takes them over (issue 14, item 7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.clock import Resyncable, SystemClock

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


class Machine:
    """A wall clock that can be stepped and a boot clock that only moves on."""

    def __init__(self) -> None:
        self.wall_at = T0
        self.boot = 1000.0

    def wall(self) -> datetime:
        return self.wall_at

    def elapsed(self) -> float:
        return self.boot

    def passes(self, seconds: float) -> None:
        self.boot += seconds
        self.wall_at += timedelta(seconds=seconds)


def test_it_follows_real_time() -> None:
    machine = Machine()
    clock = SystemClock(machine.wall, machine.elapsed)
    assert clock.now() == T0
    machine.passes(90)
    assert clock.now() == T0 + timedelta(seconds=90)
    assert clock.now().tzinfo is UTC


def test_a_step_either_way_is_kept_out_until_resync() -> None:
    for step in (timedelta(hours=-1), timedelta(hours=1)):
        machine = Machine()
        clock = SystemClock(machine.wall, machine.elapsed)
        machine.passes(60)
        machine.wall_at += step
        machine.passes(60)
        assert clock.now() == T0 + timedelta(minutes=2)  # no time passed in the step
        assert clock.resync() == step
        assert clock.now() == T0 + timedelta(minutes=2) + step
        machine.passes(30)
        assert clock.now() == machine.wall()


def test_a_sleep_or_a_frozen_process_counts_as_time_that_passed() -> None:
    machine = Machine()
    clock = SystemClock(machine.wall, machine.elapsed)
    machine.passes(3600)  # the boot clock counts a suspend, and a SIGSTOPped process's time
    assert clock.now() == T0 + timedelta(hours=1)
    assert clock.resync() == timedelta(0)


def test_resync_leaves_a_clock_in_step_alone() -> None:
    machine = Machine()
    clock = SystemClock(machine.wall, machine.elapsed)
    machine.wall_at += timedelta(milliseconds=300)  # an NTP slew's worth: not a step
    assert clock.resync() == timedelta(0)
    assert clock.now() == T0
    assert isinstance(clock, Resyncable)


def test_the_real_clock_is_close_to_the_wall_clock() -> None:
    clock = SystemClock()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)
