"""Planning from a person's own data: which session lengths they finish, and which to offer.

Pure, like the policy: it takes the person's recent ended sessions (their planned length and
whether they completed it) and returns advice; the thresholds are in :mod:`nudges.limits`
(``PLAN_*``). The start card shows it after a ``/focus`` without a length.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from nudges import limits as product

__all__ = ["LengthRate", "PlanAdvice", "advise", "far_above"]


@dataclass(frozen=True)
class LengthRate:
    """How often sessions planned this long were finished."""

    minutes: int
    finished: int
    sessions: int

    @property
    def rate(self) -> float:
        """The share finished, 0–1."""
        return self.finished / self.sessions


@dataclass(frozen=True)
class PlanAdvice:
    """What the person's history suggests."""

    rates: tuple[LengthRate, ...]  # the lengths they plan most often, shortest first
    reliable: int | None  # the length they finish most reliably, if it is reliable enough
    usual: int | None  # the median length of the sessions they finished


def advise(history: Sequence[tuple[int, bool]]) -> PlanAdvice | None:
    """Advice from (planned minutes, completed) of the person's recent ended sessions, newest
    first; None until there are ``PLAN_MIN_SESSIONS`` of them (only the newest
    ``PLAN_HISTORY_SESSIONS`` count).

    A length is rated once it was planned ``PLAN_MIN_PER_LENGTH`` times; the most reliable is
    the one with the highest share finished (a tie goes to the longer, then the more often
    planned), offered only when that share is at least ``PLAN_RELIABLE_RATE``.
    """
    recent = list(history[: product.PLAN_HISTORY_SESSIONS])
    if len(recent) < product.PLAN_MIN_SESSIONS:
        return None
    groups: dict[int, list[bool]] = {}
    for minutes, completed in recent:
        groups.setdefault(minutes, []).append(completed)
    rated = [
        LengthRate(minutes, sum(done), len(done))
        for minutes, done in groups.items()
        if len(done) >= product.PLAN_MIN_PER_LENGTH
    ]
    shown = sorted(rated, key=lambda r: (-r.sessions, r.minutes))[: product.PLAN_RATES_SHOWN]
    best = max(rated, key=lambda r: (r.rate, r.minutes, r.sessions), default=None)
    finished = [minutes for minutes, completed in recent if completed]
    return PlanAdvice(
        rates=tuple(sorted(shown, key=lambda r: r.minutes)),
        reliable=best.minutes
        if best is not None and best.rate >= product.PLAN_RELIABLE_RATE
        else None,
        usual=round(statistics.median(finished)) if finished else None,
    )


def far_above(planned: int, advice: PlanAdvice | None) -> bool:
    """Whether ``planned`` is far above what the person usually finishes: at least
    ``PLAN_FAR_ABOVE_RATIO`` times it and ``PLAN_FAR_ABOVE_MINUTES`` more."""
    if advice is None or advice.usual is None:
        return False
    return (
        planned >= advice.usual * product.PLAN_FAR_ABOVE_RATIO
        and planned - advice.usual >= product.PLAN_FAR_ABOVE_MINUTES
    )
