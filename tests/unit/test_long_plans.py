"""Long sessions (over 100 minutes, reached with /extend): a plan a person would call sensible
inside the 8-message budget — breaks spread over the whole session, check-ins kept.

Before ``nudges.limits.CHECKIN_RESERVE`` a 180-minute session spent all 8 messages on four
breaks in its first two hours (the last "back" at minute 120, the end at 200: 80 minutes of
focus without a break) and had no check-in at all.
"""

from __future__ import annotations

from datetime import UTC

import pytest

from nudges.lifecycle import settled
from nudges.policy import Limits, SessionState, SlotKind, make_plan
from tests.support.fakes import T0
from tests.unit.test_policy import MIN, apply, describe, settle

LIMITS = Limits()


def play(
    planned: int, *, extend_at: int | None = None, extend_to: int = 180, until: int = 220
) -> list[tuple[object, ...]]:
    """The dispatcher's view minute by minute (as ``test_policy.timeline``), with one /extend
    done as the service does it: the blocks behind are settled first."""
    state = SessionState(started_at=T0, planned_minutes=planned)
    log: list[tuple[object, ...]] = []
    for minute in range(until):
        now = T0.astimezone(UTC) + minute * MIN
        state, decisions = settle(state, LIMITS, now)
        if minute == extend_at:
            behind = settled(make_plan(state, LIMITS), state, LIMITS, now)
            state = apply(state, f"extend {extend_to - planned}", now)
            state = state.model_copy(update={"settled_blocks": behind})
            state, more = settle(state, LIMITS, now)
            decisions += more
        log += [(minute, *describe(d)) for d in decisions if describe(d)[0] not in ("wait", "idle")]
    return log


def longest_focus_without_break(log: list[tuple[object, ...]]) -> int:
    """Minutes of the longest stretch between the start, a "back" and a break or the end."""
    longest, since = 0, 0
    for minute, what, *rest in log:
        assert isinstance(minute, int)
        if what == "send" and str(rest[0]).startswith(SlotKind.BREAK):
            longest, since = max(longest, minute - since), -1
        elif what == "send" and str(rest[0]).startswith(SlotKind.BACK):
            since = minute
        elif what == "finish":
            longest = max(longest, minute - since)
    return longest


SENT_120 = [
    (15, "send", "checkin:1.1", 15),
    (30, "send", "break:1", 30),
    (35, "send", "back:1", 35),
    (65, "send", "break:2", 65),
    (70, "send", "back:2", 70),
    (85, "send", "checkin:3.1", 85),
    (100, "send", "break:3", 100),
    (105, "send", "back:3", 105),
    (135, "finish", 135, False),
]
SENT_180 = [
    (22, "send", "checkin:1.1", 22),
    (45, "send", "break:1", 45),
    (50, "send", "back:1", 50),
    (95, "send", "break:2", 95),
    (100, "send", "back:2", 100),
    (122, "send", "checkin:3.1", 122),
    (145, "send", "break:3", 145),
    (150, "send", "back:3", 150),
    (195, "finish", 195, False),
]


@pytest.mark.parametrize(("planned", "expected"), [(120, SENT_120), (180, SENT_180)])
def test_a_long_session_has_check_ins_and_breaks_all_through(
    planned: int, expected: list[tuple[object, ...]]
) -> None:
    """120 minutes: 4 blocks of 30; 180: 4 blocks of 45; 3 breaks each, 2 check-ins, 8
    messages, nothing dropped (README's plan table)."""
    log = play(planned)
    assert log == expected
    assert longest_focus_without_break(log) <= 45
    assert sum(1 for entry in log if entry[1] == "send") == LIMITS.max_messages


def test_extending_at_once_to_180_gives_the_plan_of_180() -> None:
    """/focus 90 then /extend to 180 in the first minute: the same session as a 180."""
    assert play(90, extend_at=1) == SENT_180


def test_extending_late_keeps_what_happened_and_spreads_what_is_left() -> None:
    """/focus 90 extended to 180 at minute 60: the first two blocks (and their breaks and
    check-ins) stay where they were; the 130 minutes left get the one break the budget still
    has, in the middle, rather than four breaks in a row and 80 minutes without one."""
    log = play(90, extend_at=60)
    assert log == [
        (12, "send", "checkin:1.1", 12),
        (25, "send", "break:1", 25),
        (30, "send", "back:1", 30),
        (42, "send", "checkin:2.1", 42),
        (55, "send", "break:2", 55),
        (60, "send", "back:2", 60),
        (125, "send", "break:3", 125),
        (130, "send", "back:3", 130),
        (195, "finish", 195, False),
    ]


def test_settled_blocks_are_the_ones_behind() -> None:
    """At minute 60 of a 90 (blocks 0–25, 30–55, 60–85, 90–105) two blocks are over."""
    state = SessionState(started_at=T0, planned_minutes=90)
    plan = make_plan(state, LIMITS)
    assert settled(plan, state, LIMITS, T0 + 60 * MIN) == (25, 25)
    assert settled(plan, state, LIMITS, T0 + 24 * MIN) == ()


@pytest.mark.parametrize("planned", [105, 120, 135, 150, 165, 180])
def test_a_long_plan_fits_the_budget_and_spreads_its_breaks(planned: int) -> None:
    """Any long plan: at most 8 slots, 3 breaks, no block over 45 minutes."""
    plan = make_plan(SessionState(started_at=T0, planned_minutes=planned), LIMITS)
    assert len(plan.slots) <= LIMITS.max_messages
    assert len(plan.breaks) == 3
    assert max(end - start for start, end in plan.blocks) <= 45 * MIN
    assert any(s.kind is SlotKind.CHECKIN for s in plan.slots)


def test_without_check_ins_a_long_plan_has_four_breaks() -> None:
    """Quiet sessions keep no messages for check-ins: 180 minutes in 5 blocks of 36."""
    plan = make_plan(SessionState(started_at=T0, planned_minutes=180, checkins=False), LIMITS)
    assert [(a / MIN, b / MIN) for a, b in plan.breaks] == [
        (36, 41),
        (77, 82),
        (118, 123),
        (159, 164),
    ]
    assert plan.total == 200 * MIN
