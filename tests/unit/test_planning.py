"""Planning from the person's own data (``nudges/planning.py``), table-driven, against the
thresholds of ``nudges/limits.py`` (PLAN_*)."""

from __future__ import annotations

import pytest

from nudges import limits as L
from nudges.planning import LengthRate, PlanAdvice, advise, far_above

DONE, EARLY = True, False


def sessions(*groups: tuple[int, int, int]) -> list[tuple[int, bool]]:
    """(minutes, finished, early) groups as a history, newest first."""
    out: list[tuple[int, bool]] = []
    for minutes, finished, early in groups:
        out += [(minutes, DONE)] * finished + [(minutes, EARLY)] * early
    return out


def test_nothing_until_five_sessions() -> None:
    assert L.PLAN_MIN_SESSIONS == 5
    assert advise(sessions((45, 4, 0))) is None
    assert advise(sessions((45, 5, 0))) is not None


def test_the_issues_example() -> None:
    """12 of 13 45-minute sessions finished (92%), 7 of 12 60-minute ones (58%): the card
    names both and offers 45."""
    advice = advise(sessions((45, 12, 1), (60, 7, 5)))
    assert advice == PlanAdvice(
        rates=(LengthRate(45, 12, 13), LengthRate(60, 7, 12)), reliable=45, usual=45
    )
    assert [f"{r.rate:.0%}" for r in advice.rates] == ["92%", "58%"]


@pytest.mark.parametrize(
    ("history", "reliable"),
    [
        # A length planned once is not rated (PLAN_MIN_PER_LENGTH = 2).
        (sessions((90, 1, 0), (25, 2, 2)), 25),
        # A tie in rate goes to the longer length.
        (sessions((25, 2, 0), (45, 3, 0)), 45),
        # Under half finished everywhere: nothing offered (PLAN_RELIABLE_RATE).
        (sessions((45, 1, 2), (60, 1, 3)), None),
    ],
)
def test_the_reliable_length(history: list[tuple[int, bool]], reliable: int | None) -> None:
    advice = advise(history)
    assert advice is not None and advice.reliable == reliable


def test_only_the_newest_thirty_count_and_two_lengths_are_named() -> None:
    old = sessions((90, 0, 40))
    new = sessions((25, 10, 0), (45, 8, 2), (30, 2, 0), (60, 3, 5))
    assert len(new) == L.PLAN_HISTORY_SESSIONS
    advice = advise(new + old)
    assert advice is not None
    assert [r.minutes for r in advice.rates] == [25, 45]  # the two planned most often
    assert 90 not in {r.minutes for r in advice.rates}


@pytest.mark.parametrize(
    ("planned", "expected"),
    [(45, False), (59, False), (60, True), (90, True)],
)
def test_far_above_what_they_usually_finish(planned: int, expected: bool) -> None:
    """Usual 40 (the median of finished): 1.5 × 40 = 60 and 15 more minutes."""
    advice = advise(sessions((40, 5, 0), (90, 0, 3)))
    assert advice is not None and advice.usual == 40
    assert far_above(planned, advice) is expected


def test_far_above_needs_fifteen_minutes_more() -> None:
    """Usual 10: 20 is twice that but only 10 more minutes — no line."""
    advice = advise(sessions((10, 5, 0)))
    assert far_above(20, advice) is False
    assert far_above(25, advice) is True
    assert far_above(25, None) is False
