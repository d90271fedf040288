"""The companion's rules: flow, distraction, recovery and a cadence that learns.

Pure, like the rest of ``nudges``: each rule is a function of what storage recorded (the
answers on a session's deliveries, its start energy, the person's past answers and scores),
with no clock read. None of them sends anything: they only move or remove check-ins in the
plan :func:`nudges.policy.decide` works through, and the policy's gate (the 5-minute gap, the
8-message budget, nothing while paused or after the end) still judges every message, as does
storage's claim after it. The numbers are in :mod:`nudges.limits`.

Rules
-----
*Flow*: two 👍 On track answers in a row (no 😵 between them; the first may be in the block
before) put the block of the second in flow: its check-ins still ahead are removed, so the
bot stays quiet until the break (which still comes).

*Distraction*: a 😵 answer moves the next planned check-in still ahead to
``DISTRACTED_FOLLOWUP_MINUTES`` after the answer (at least the 5-minute gap after the check-in
answered), provided it then leaves the gap before the next break (breaks keep priority) and
is earlier than where it was. A move, never an extra message.

*Recovery*: fatigue shows at a break when the session started 🪫 tired, a 😵 answer gave
😴 tired as its reason, the block just ended had ``RECOVERY_DISTRACTIONS_IN_BLOCK`` 😵 answers,
or the person's last ``RECOVERY_FALLING_SCORES`` scores each fell. The first break where it
shows offers a longer break (``RECOVERY_EXTRA_BREAK_MINUTES`` more) or ending there; accepting
the longer break stretches that break in the plan.

*Cadence*: from the person's last answers and scores, one check-in per 20, 15 or 12 minutes
of focus (see :func:`cadence_minutes`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from nudges import limits as product

if TYPE_CHECKING:  # the policy imports this module: its types only for the checker
    from nudges.policy import Delivery, Limits, Plan, SessionState, Slot

__all__ = [
    "Answer",
    "Energy",
    "Fatigue",
    "Reason",
    "adapt_slots",
    "cadence_minutes",
    "fatigue_at",
    "flow_blocks",
    "flow_minutes",
    "flow_spans",
    "recovery_offer",
    "stretch_breaks",
]

# The values of nudges.policy.SlotKind (that module imports this one).
_CHECKIN = "checkin"
_BREAK = "break"


class Answer(StrEnum):
    """What the person answered to a proactive message (the value is what storage keeps)."""

    ON_TRACK = "ok"
    DISTRACTED = "distracted"
    LONGER_BREAK = "longer"
    """Accepted, on a break message, the longer break that recovery offered."""


class Reason(StrEnum):
    """Why the person was distracted (or paused)."""

    PHONE = "phone"
    PEOPLE = "people"
    WANDERING = "wandering"
    TIRED = "tired"
    OTHER = "other"


class Energy(StrEnum):
    """How the person felt at the start (optional)."""

    FRESH = "fresh"
    OK = "ok"
    TIRED = "tired"


class Fatigue(StrEnum):
    """Why a longer break is offered."""

    TIRED_START = "tired start"
    TIRED_REASON = "tired reason"
    DISTRACTIONS = "distractions in the block"
    FALLING_SCORES = "falling scores"


def _answer(deliveries: Mapping[str, Delivery], key: str) -> Answer | None:
    delivery = deliveries.get(key)
    return None if delivery is None else delivery.answer


def _next_break(slots: Sequence[Slot], after: timedelta, total: timedelta) -> timedelta:
    """Where the focus stretch holding ``after`` ends: the next break's start, or the end."""
    return min((s.offset for s in slots if s.kind == _BREAK and s.offset >= after), default=total)


def adapt_slots(state: SessionState, plan: Plan, limits: Limits) -> tuple[Slot, ...]:
    """The plan's slots after the distraction and flow rules, in order of offset."""
    slots = list(plan.slots)
    deliveries = state.deliveries
    gap = limits.min_gap
    follow = limits.span(product.DISTRACTED_FOLLOWUP_MINUTES)
    i = 0
    while i < len(slots):  # a moved check-in can itself be answered 😵: hence the walk
        slot = slots[i]
        i += 1
        delivery = deliveries.get(slot.key)
        if (
            slot.kind != _CHECKIN
            or delivery is None
            or delivery.answer is not Answer.DISTRACTED
            or delivery.answered is None
        ):
            continue
        later = next(
            (
                n
                for n in range(i, len(slots))
                if slots[n].kind == _CHECKIN and slots[n].key not in deliveries
            ),
            None,
        )
        at = max(delivery.answered + follow, slot.offset + gap)
        latest = _next_break(slots, slot.offset, plan.total) - gap
        if later is None or at > latest or at >= slots[later].offset:
            continue
        moved = dataclasses.replace(slot, key=f"{slot.key}+", offset=at)
        del slots[later]
        slots.insert(
            next((n for n in range(i, len(slots)) if slots[n].offset > at), len(slots)), moved
        )
    quiet = flow_blocks(state, slots)
    return tuple(
        s
        for s in slots
        if not (
            s.kind == _CHECKIN
            and s.block in quiet
            and s.offset > quiet[s.block]
            and s.key not in deliveries
        )
    )


def flow_blocks(state: SessionState, slots: Iterable[Slot]) -> dict[int, timedelta]:
    """Blocks in flow, each with the offset of the check-in whose answer started it."""
    streak = 0
    flow: dict[int, timedelta] = {}
    for slot in slots:
        if slot.kind != _CHECKIN:
            continue
        answer = _answer(state.deliveries, slot.key)
        if answer is Answer.DISTRACTED:
            streak = 0
        elif answer is Answer.ON_TRACK:
            streak += 1
            if streak >= product.FLOW_ON_TRACK_IN_A_ROW and slot.block not in flow:
                flow[slot.block] = slot.offset
    return flow


def flow_spans(
    state: SessionState, plan: Plan, limits: Limits, until: timedelta
) -> list[tuple[timedelta, timedelta]]:
    """The stretches of active time spent in flow by ``until``: from each check-in that found
    the person in flow to the end of its focus stretch (or ``until``)."""
    slots = adapt_slots(state, plan, limits)
    spans = []
    for start in flow_blocks(state, slots).values():
        end = min(_next_break(slots, start, plan.total), until)
        if end > start:
            spans.append((start, end))
    return spans


def flow_minutes(state: SessionState, plan: Plan, limits: Limits, until: timedelta) -> float:
    """Nominal minutes spent in flow by active time ``until`` (see :func:`flow_spans`)."""
    spent = sum((end - start for start, end in flow_spans(state, plan, limits, until)), timedelta())
    return spent * limits.time_scale / timedelta(minutes=1)


def fatigue_at(
    state: SessionState, plan: Plan, limits: Limits, brk: Slot, recent_scores: Sequence[int]
) -> Fatigue | None:
    """Whether fatigue shows at the break ``brk`` (the first sign found), from the start
    energy, the answers before it and the person's last scores (oldest first)."""
    if state.start_energy is Energy.TIRED:
        return Fatigue.TIRED_START
    slots = [s for s in adapt_slots(state, plan, limits) if s.offset < brk.offset]
    answered = [(s, state.deliveries[s.key]) for s in slots if s.key in state.deliveries]
    if any(d.reason is Reason.TIRED for _, d in answered):
        return Fatigue.TIRED_REASON
    distracted = sum(
        1 for s, d in answered if s.block == brk.block and d.answer is Answer.DISTRACTED
    )
    if distracted >= product.RECOVERY_DISTRACTIONS_IN_BLOCK:
        return Fatigue.DISTRACTIONS
    last = list(recent_scores)[-product.RECOVERY_FALLING_SCORES :]
    if len(last) == product.RECOVERY_FALLING_SCORES and all(
        a > b for a, b in itertools.pairwise(last)
    ):
        return Fatigue.FALLING_SCORES
    return None


def recovery_offer(
    state: SessionState, plan: Plan, limits: Limits, brk: Slot, recent_scores: Sequence[int]
) -> Fatigue | None:
    """Whether the message of break ``brk`` offers a longer break (and why): at the first
    break where fatigue shows, once a session."""
    for earlier in plan.slots:
        if earlier.kind != _BREAK or earlier.offset >= brk.offset:
            continue
        if fatigue_at(state, plan, limits, earlier, recent_scores) is not None:
            return None
    return fatigue_at(state, plan, limits, brk, recent_scores)


def stretch_breaks(plan: Plan, longer: Iterable[int], extra: timedelta) -> Plan:
    """The plan with the breaks of the blocks in ``longer`` lasting ``extra`` more: their
    back-to-work message and everything after them move later by as much."""
    blocks = set(longer)
    if not blocks or extra <= timedelta(0):
        return plan
    starts = sorted(s.offset for s in plan.slots if s.kind == _BREAK and s.block in blocks)

    def shift(offset: timedelta, *, strict: bool) -> timedelta:
        # Everything after a stretched break's start moves by its extra time; the break's own
        # start does not (strict), its end does.
        passed = sum(1 for start in starts if (offset > start if strict else offset >= start))
        return offset + extra * passed

    slots = tuple(dataclasses.replace(s, offset=shift(s.offset, strict=True)) for s in plan.slots)
    breaks = tuple(
        (shift(start, strict=True), shift(end, strict=True)) for start, end in plan.breaks
    )
    return dataclasses.replace(
        plan, slots=slots, breaks=breaks, total=shift(plan.total, strict=True)
    )


def cadence_minutes(answers: Sequence[Answer], scores: Sequence[int]) -> int:
    """One check-in per this many minutes of focus, learnt from the person's last check-in
    answers and last scores (both newest last; only 👍 and 😵 answers count).

    | on record | minutes |
    |---|---|
    | fewer than 5 answers | 15 |
    | 👍 at least 80% of the answers, average score at least 4 | 20 |
    | 😵 at least 40% of the answers | 12 |
    | otherwise | 15 |
    """
    recent = [a for a in answers if a is Answer.ON_TRACK or a is Answer.DISTRACTED][
        -product.CADENCE_HISTORY_ANSWERS :
    ]
    if len(recent) < product.CADENCE_MIN_ANSWERS:
        return product.CHECKIN_INTERVAL_MINUTES
    on_track = sum(1 for a in recent if a is Answer.ON_TRACK) / len(recent)
    last_scores = list(scores)[-product.CADENCE_HISTORY_SCORES :]
    if (
        on_track >= product.CADENCE_CALM_ON_TRACK_SHARE
        and last_scores
        and sum(last_scores) / len(last_scores) >= product.CADENCE_CALM_SCORE
    ):
        return product.CADENCE_CALM_MINUTES
    if 1 - on_track >= product.CADENCE_CLOSE_DISTRACTED_SHARE:
        return product.CADENCE_CLOSE_MINUTES
    return product.CHECKIN_INTERVAL_MINUTES
