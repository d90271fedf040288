"""The companion's rules (nudges/companion.py), table-driven with fixed aware datetimes: flow,
distraction, recovery, the learnt cadence, and a stretched break; one session across a DST
change."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nudges import (
    Delivery,
    DeliveryStatus,
    Limits,
    Plan,
    SessionState,
    Slot,
    SlotKind,
    Wait,
    decide,
)
from nudges import limits as product
from nudges.companion import (
    Answer,
    Energy,
    Fatigue,
    Reason,
    adapt_slots,
    cadence_minutes,
    flow_minutes,
    recovery_offer,
)
from nudges.policy import make_plan
from tests.support.fakes import T0

MIN = timedelta(minutes=1)
LIMITS = Limits()
OK, DIS = Answer.ON_TRACK, Answer.DISTRACTED


def sent(
    minute: float,
    answer: Answer | None = None,
    *,
    at: float | None = None,
    reason: Reason | None = None,
) -> Delivery:
    """A delivered message, answered ``at`` minutes of active time (default: when sent)."""
    answered = None if answer is None else (at if at is not None else minute) * MIN
    return Delivery(DeliveryStatus.SENT, T0 + minute * MIN, answer, reason, answered)


def state(planned: int, block: int = 25, **deliveries: Delivery) -> SessionState:
    return SessionState(
        started_at=T0,
        planned_minutes=planned,
        block_minutes=block,
        deliveries={key.replace("_", ":", 1).replace("_", "."): d for key, d in deliveries.items()},
    )


def offsets(s: SessionState) -> list[tuple[str, float]]:
    return [(slot.key, slot.offset / MIN) for slot in adapt_slots(s, make_plan(s, LIMITS), LIMITS)]


# --- flow -------------------------------------------------------------------------------------


def test_two_on_track_in_a_block_remove_its_checkins_still_ahead() -> None:
    s = state(90, 50, checkin_1_1=sent(12, OK), checkin_1_2=sent(25, OK))
    assert offsets(s) == [
        ("checkin:1.1", 12),
        ("checkin:1.2", 25),
        ("break:1", 50),
        ("back:1", 55),
        ("checkin:2.1", 68),
        ("checkin:2.2", 81),
    ]
    assert decide(s, LIMITS, T0 + 26 * MIN) == Wait(T0 + 50 * MIN, "next slot or end")
    assert flow_minutes(s, make_plan(s, LIMITS), LIMITS, 95 * MIN) == 25


@pytest.mark.parametrize(
    ("first", "second", "flow"),
    [
        (OK, OK, True),
        (DIS, OK, False),
        (OK, DIS, False),
        (None, OK, False),  # one answer is not two in a row
    ],
)
def test_flow_needs_two_on_track_in_a_row(
    first: Answer | None, second: Answer | None, flow: bool
) -> None:
    s = state(50, 50, checkin_1_1=sent(12, first), checkin_1_2=sent(25, second))
    # Still to come: 1.3 at 37, or the check-in a 😵 moved; in flow, nothing.
    ahead = [key for key, _ in offsets(s) if key not in s.deliveries]
    assert (ahead == []) == flow


def test_the_streak_may_start_in_the_block_before() -> None:
    # 👍 ending block 1, 👍 at the first check-in of block 2: block 2 goes quiet.
    s = state(90, 50, checkin_1_1=sent(12, OK), checkin_2_1=sent(68, OK))
    assert "checkin:2.2" not in [key for key, _ in offsets(s)]


# --- distraction ---------------------------------------------------------------------------------


def test_distracted_moves_the_next_checkin_six_minutes_after_the_answer() -> None:
    s = state(45, checkin_1_1=sent(12, DIS, at=12.5))
    assert offsets(s) == [
        ("checkin:1.1", 12),
        ("checkin:1.1+", 18.5),
        ("break:1", 25),
        ("back:1", 30),
    ]


@pytest.mark.parametrize(
    ("answered", "moved"),
    [
        (12, 18),  # 12 + 6
        (14, 20),  # 20 + 5 = 25: just fits before the break
        (14.5, None),  # 20.5 would leave less than the gap before the break
        (20, None),
    ],
)
def test_breaks_keep_priority_over_a_moved_checkin(answered: float, moved: float | None) -> None:
    s = state(45, checkin_1_1=sent(12, DIS, at=answered))
    found = dict(offsets(s)).get("checkin:1.1+")
    assert found == moved
    if moved is None:  # not moved: the planned one stays where it was
        assert dict(offsets(s))["checkin:2.1"] == 40


def test_a_moved_checkin_is_never_closer_than_the_gap_to_the_one_answered() -> None:
    # Answered before it was even due (a stale tap on an older message can't do this, but the
    # rule must hold whatever): never within 5 minutes of the check-in itself.
    s = state(90, 50, checkin_1_1=sent(12, DIS, at=0))
    assert dict(offsets(s))["checkin:1.1+"] == 12 + product.MIN_GAP_MINUTES


def test_without_a_later_checkin_nothing_moves_or_is_added() -> None:
    s = state(25, checkin_1_1=sent(12, DIS))
    assert offsets(s) == [("checkin:1.1", 12)]


def test_a_moved_checkin_answered_distracted_moves_the_next_one() -> None:
    s = state(50, 50, checkin_1_1=sent(12, DIS), **{"checkin_1_1+": sent(18, DIS)})
    assert offsets(s) == [("checkin:1.1", 12), ("checkin:1.1+", 18), ("checkin:1.1++", 24)]


# --- recovery ------------------------------------------------------------------------------------


def _break(s: SessionState, block: int = 1) -> tuple[Plan, Slot]:
    plan = make_plan(s, LIMITS)
    return plan, next(x for x in plan.slots if x.key == f"break:{block}")


@pytest.mark.parametrize(
    ("energy", "deliveries", "scores", "fatigue"),
    [
        (None, {}, [], None),
        (Energy.FRESH, {}, [5, 4, 3], Fatigue.FALLING_SCORES),
        (Energy.TIRED, {}, [], Fatigue.TIRED_START),
        (Energy.OK, {"checkin:1.1": sent(12, DIS, reason=Reason.TIRED)}, [], Fatigue.TIRED_REASON),
        (None, {"checkin:1.1": sent(12, DIS, reason=Reason.PHONE)}, [], None),
        (
            None,
            {"checkin:1.1": sent(12, DIS), "checkin:1.1+": sent(18, DIS)},
            [],
            Fatigue.DISTRACTIONS,
        ),
        (None, {}, [3, 3, 2], None),  # not each lower than the one before
        (None, {}, [4, 3], None),  # too few to be a trend
    ],
)
def test_fatigue_signs(
    energy: Energy | None,
    deliveries: dict[str, Delivery],
    scores: list[int],
    fatigue: Fatigue | None,
) -> None:
    s = SessionState(started_at=T0, planned_minutes=45, deliveries=deliveries, start_energy=energy)
    plan, brk = _break(s)
    assert recovery_offer(s, plan, LIMITS, brk, scores) == fatigue


def test_recovery_is_offered_once_a_session() -> None:
    s = SessionState(started_at=T0, planned_minutes=90, start_energy=Energy.TIRED)
    plan = make_plan(s, LIMITS)
    breaks = [x for x in plan.slots if x.kind is SlotKind.BREAK]
    offers = [recovery_offer(s, plan, LIMITS, b, []) for b in breaks]
    assert offers == [Fatigue.TIRED_START, None, None]


def test_a_longer_break_moves_everything_after_it() -> None:
    s = state(60, **{"break_1": sent(25, Answer.LONGER_BREAK)})
    plan = make_plan(s, LIMITS)
    assert [(x.key, x.offset / MIN) for x in plan.slots] == [
        ("checkin:1.1", 12),
        ("break:1", 25),
        ("back:1", 35),
        ("checkin:2.1", 47),
        ("break:2", 60),
        ("back:2", 65),
    ]
    assert plan.total == 75 * MIN and plan.focused(plan.total) == 60 * MIN


# --- the learnt cadence --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "scores", "minutes"),
    [
        ([], [], 15),
        ([OK] * 4, [5], 15),  # fewer than 5 answers: the standard
        ([OK] * 5, [5, 4], 20),
        ([OK] * 4 + [DIS], [4, 4, 4], 20),  # 80% on track
        ([OK] * 5, [], 15),  # no scores: not "calm" yet
        ([OK] * 5, [3, 4], 15),  # average 3.5
        ([OK] * 3 + [DIS] * 2, [5], 12),  # 40% distracted
        ([OK] * 4 + [DIS] * 2, [5], 15),  # 33%
        ([DIS] * 20 + [OK] * 20, [5] * 5, 20),  # only the last 20 answers count
        ([OK] * 5, [1, 1, 1, 5, 5, 5, 5, 5], 20),  # only the last 5 scores
        ([Answer.LONGER_BREAK] * 9, [5], 15),  # not check-in answers
    ],
)
def test_cadence_table(answers: list[Answer], scores: list[int], minutes: int) -> None:
    assert cadence_minutes(answers, scores) == minutes


def test_a_learnt_cadence_spaces_the_plan() -> None:
    s = SessionState(started_at=T0, planned_minutes=50, block_minutes=50)
    calm = LIMITS.model_copy(update={"checkin_interval_minutes": 20})
    assert [x.offset / MIN for x in make_plan(s, calm).slots] == [16, 33]


# --- across a DST change -------------------------------------------------------------------------


def test_a_moved_checkin_across_a_dst_change_is_six_real_minutes_later() -> None:
    # Europe/Berlin springs forward at 02:00 local on 2026-03-29 (01:00 UTC).
    start = datetime(2026, 3, 29, 1, 50, tzinfo=ZoneInfo("Europe/Berlin"))
    s = SessionState(
        started_at=start,
        planned_minutes=45,
        deliveries={"checkin:1.1": Delivery(DeliveryStatus.SENT, start, DIS, None, 12 * MIN)},
    )
    decision = decide(s, LIMITS, start + 13 * MIN)
    assert isinstance(decision, Wait)
    assert decision.until - start == 18 * MIN  # real minutes, whatever the wall clock says
