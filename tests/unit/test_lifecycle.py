"""The pure arithmetic of pause, resume, extend and the end (``nudges.lifecycle``), with fixed
aware datetimes: 45 minutes planned in 25-minute blocks is 25 focus, 5 break, 20 focus."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nudges.lifecycle import (
    abandoned,
    breaks_behind,
    extension_room,
    finished,
    pause_expiry,
    resumed_pauses,
    stopped,
)
from nudges.policy import Finish, Limits, PauseExpired, SessionState, make_plan
from tests.support.fakes import T0

LIMITS = Limits()


def state(planned: int = 45, **update: object) -> SessionState:
    """A session started at T0 with 25-minute blocks and 5-minute breaks."""
    base = SessionState(started_at=T0, planned_minutes=planned, block_minutes=25, break_minutes=5)
    return base.model_copy(update=update)


@pytest.mark.parametrize(
    ("minutes", "focused", "breaks", "completed"),
    [
        (10, 10, 0, False),  # in the first block
        (27, 25, 1, False),  # during the break: focus stops at the block's end
        (40, 35, 1, False),  # in the second block
    ],
)
def test_stop_counts_focus_without_breaks(
    minutes: int, focused: int, breaks: int, completed: bool
) -> None:
    s = state()
    ending = stopped(s, make_plan(s, LIMITS), LIMITS, T0 + timedelta(minutes=minutes))
    assert ending.ended_at == T0 + timedelta(minutes=minutes)
    assert ending.focused == timedelta(minutes=focused)
    assert ending.breaks_taken == breaks
    assert ending.completed is completed
    assert ending.late is False


def test_stop_after_the_end_completes_at_the_planned_end_and_says_late() -> None:
    s = state()
    plan = make_plan(s, LIMITS)
    ending = stopped(s, plan, LIMITS, T0 + timedelta(minutes=80))  # 50 planned, 30 late
    assert ending.ended_at == T0 + timedelta(minutes=50)
    assert ending.completed and ending.late
    assert ending.focused == timedelta(minutes=45)
    just_after = stopped(s, plan, LIMITS, T0 + timedelta(minutes=51))  # inside the late window
    assert just_after.completed and not just_after.late


def test_abandoned_is_never_completed() -> None:
    s = state()
    ending = abandoned(s, make_plan(s, LIMITS), T0 + timedelta(minutes=90))
    assert not ending.completed and not ending.late
    assert ending.focused == timedelta(minutes=45)
    assert ending.ended_at == T0 + timedelta(minutes=90)


def test_finished_by_time_up_and_by_a_long_pause() -> None:
    s = state()
    plan = make_plan(s, LIMITS)
    done = finished(s, plan, Finish(at=T0 + timedelta(minutes=50), late=True))
    assert done.completed and done.late and done.focused == timedelta(minutes=45)
    assert done.breaks_taken == 1
    paused = state(paused_at=T0 + timedelta(minutes=10))
    expired = finished(paused, plan, PauseExpired(at=T0 + timedelta(minutes=40), late=False))
    assert not expired.completed and expired.focused == timedelta(minutes=10)
    assert expired.breaks_taken == 0


def test_pause_and_resume_arithmetic() -> None:
    assert pause_expiry(T0, LIMITS) == T0 + timedelta(minutes=30)
    assert pause_expiry(T0, Limits(time_scale=60)) == T0 + timedelta(seconds=30)
    s = state(paused_at=T0 + timedelta(minutes=10), paused=timedelta(minutes=3))
    assert resumed_pauses(s, T0 + timedelta(minutes=17)) == timedelta(minutes=10)
    assert resumed_pauses(state(), T0 + timedelta(minutes=17)) == timedelta(0)


@pytest.mark.parametrize(
    ("planned", "total", "room"), [(45, 180, 135), (180, 180, 0), (175, 180, 5), (200, 180, 0)]
)
def test_extension_room(planned: int, total: int, room: int) -> None:
    assert extension_room(planned, total) == room


def test_a_longer_plan_closes_up_a_break_that_would_be_in_the_past() -> None:
    short = state(planned=25)  # one block, no break
    longer = state(planned=45)  # now a break at 25 minutes
    now = T0 + timedelta(minutes=28)
    behind = breaks_behind(make_plan(short, LIMITS), make_plan(longer, LIMITS), longer, now)
    assert [(slot.key, due) for slot, due in behind] == [("break:1", T0 + timedelta(minutes=25))]
    # Before the break's time it is simply ahead: nothing to close up.
    early = breaks_behind(
        make_plan(short, LIMITS), make_plan(longer, LIMITS), longer, T0 + timedelta(minutes=20)
    )
    assert early == []
