"""The nudge policy: from a session's state and the time, what to send next and when.

Pure: no Telegram, no database, no asyncio, no clock reads. Every function takes ``now``.

Vocabulary
----------
*Active time* is the session's own clock: wall time since the start minus time spent paused.
The plan is laid out in active time, so a pause simply freezes it and moves everything after
the pause (the planned end included) by the pause's length.

A session of ``planned_minutes`` of focus is cut into focus blocks of ``block_minutes``; between
two blocks there is a break of ``break_minutes`` (breaks come on top of the planned focus, so a
45-minute session with one break ends after 50 minutes). A block is followed by a break only when
at least ``min_gap`` of focus would follow it. Each focus segment gets evenly spaced check-ins,
one per ``checkin_interval``, each at least ``min_gap`` away from the segment's edges (and at
least ``first_delay`` after the start). No more breaks are planned than the message budget can
announce (two messages each) while keeping ``limits.CHECKIN_RESERVE`` of it for check-ins; a
longer session has its blocks stretched evenly instead (see :func:`make_plan`).

Guardrails, enforced by :func:`decide` against what was recorded (not against the plan):
at most ``max_messages`` proactive messages per session, never two within ``min_gap``, none while
paused or after the end, none later than ``late_window`` after its due time (missed messages are
dropped, never sent in a burst), and a break is announced only when its back-to-work message
still fits in the budget.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nudges import companion
from nudges import limits as product
from nudges.companion import Answer, Energy, Reason

__all__ = [
    "MISSED_REASON",
    "Decision",
    "Delivery",
    "DeliveryStatus",
    "Drop",
    "Finish",
    "Idle",
    "Limits",
    "PauseExpired",
    "Plan",
    "Send",
    "SessionState",
    "Slot",
    "SlotKind",
    "Wait",
    "break_cap",
    "decide",
    "make_plan",
]


class Limits(BaseModel):
    """Every number the policy uses, in nominal minutes, with the time scale that shrinks them.

    The defaults are the product's guardrails (:mod:`nudges.limits`); tests pass other values
    to explore the policy, the bot never does.
    """

    model_config = ConfigDict(frozen=True)

    min_gap_minutes: float = Field(default=product.MIN_GAP_MINUTES, gt=0)
    max_messages: int = Field(default=product.MAX_MESSAGES, ge=0)
    first_delay_minutes: float = Field(default=product.FIRST_DELAY_MINUTES, ge=0)
    checkin_interval_minutes: float = Field(default=product.CHECKIN_INTERVAL_MINUTES, gt=0)
    late_window_minutes: float = Field(default=product.LATE_WINDOW_MINUTES, gt=0)
    pause_limit_minutes: float = Field(default=product.PAUSE_LIMIT_MINUTES, gt=0)
    time_scale: float = Field(default=1, gt=0, le=product.MAX_TIME_SCALE)

    def span(self, minutes: float) -> timedelta:
        """Real duration of ``minutes`` nominal minutes under the time scale."""
        return timedelta(minutes=minutes) / self.time_scale

    @property
    def min_gap(self) -> timedelta:
        """Smallest real gap between two proactive messages of one session."""
        return self.span(self.min_gap_minutes)

    @property
    def late_window(self) -> timedelta:
        """How late a proactive message may still go out; later, it is dropped."""
        return self.span(self.late_window_minutes)

    @property
    def pause_limit(self) -> timedelta:
        """A pause longer than this ends the session."""
        return self.span(self.pause_limit_minutes)


class SlotKind(StrEnum):
    """The kinds of message a session is sent: the proactive ones, and the summary."""

    CHECKIN = "checkin"
    BREAK = "break"
    BACK = "back"
    SUMMARY = "summary"
    """The end-of-session summary: recorded like the others, but no plan has a slot of this
    kind and it is not a proactive message (it never counts against the budget)."""


class DeliveryStatus(StrEnum):
    """What happened to a planned proactive message (``sending``: claimed, outcome unknown)."""

    SENDING = "sending"
    SENT = "sent"
    DROPPED = "dropped"
    PENDING = "pending"
    """Queued, not claimed yet: only a summary waits so (proactive messages are decided when
    due)."""

    @property
    def counts(self) -> bool:
        """Whether it counts against the budget and the gap (a claim might have gone out):
        the statuses storage's claim counts too."""
        return self is DeliveryStatus.SENDING or self is DeliveryStatus.SENT


@dataclass(frozen=True)
class Delivery:
    """A recorded decision about one slot, and what the person answered to it."""

    status: DeliveryStatus
    at: datetime
    answer: Answer | None = None
    reason: Reason | None = None
    answered: timedelta | None = None
    """The session's active time when the answer came."""


@dataclass(frozen=True)
class Slot:
    """One planned proactive message: a stable key, its kind and its offset in active time."""

    key: str
    kind: SlotKind
    offset: timedelta
    block: int


@dataclass(frozen=True)
class Plan:
    """A session's timeline in active time."""

    slots: tuple[Slot, ...]
    breaks: tuple[tuple[timedelta, timedelta], ...]  # (start, end) of each break that happens
    total: timedelta  # active time at which the session is complete
    blocks: tuple[tuple[timedelta, timedelta], ...] = ()  # (start, end) of each focus block

    def break_time_before(self, active: timedelta) -> timedelta:
        """Time spent in breaks between the start and ``active``."""
        spent = timedelta(0)
        for start, end in self.breaks:
            if active > start:
                spent += min(active, end) - start
        return spent

    def breaks_started_before(self, active: timedelta) -> int:
        """How many breaks had begun by ``active``."""
        return sum(1 for start, _ in self.breaks if active > start)

    def break_end(self, start: timedelta) -> timedelta:
        """Where the break that starts at ``start`` ends."""
        return next(end for begin, end in self.breaks if begin == start)

    def focused(self, active: timedelta) -> timedelta:
        """Focus time done by ``active`` (breaks excluded)."""
        active = min(active, self.total)
        return active - self.break_time_before(active)


class SessionState(BaseModel):
    """What the policy needs to know about one session."""

    model_config = ConfigDict(frozen=True)

    started_at: datetime
    planned_minutes: int = Field(gt=0)
    block_minutes: int = Field(default=product.DEFAULT_BLOCK_MINUTES, gt=0)
    break_minutes: int = Field(default=product.DEFAULT_BREAK_MINUTES, ge=0)
    checkins: bool = True
    paused_at: datetime | None = None
    paused: timedelta = timedelta(0)  # completed pauses
    ended: bool = False
    deliveries: Mapping[str, Delivery] = Field(default_factory=dict)
    start_energy: Energy | None = None
    settled_blocks: tuple[int, ...] = ()
    """Nominal lengths of the focus blocks an extension left behind: they keep the lengths
    they had, whatever the longer plan would give them (see :func:`make_plan`)."""

    @field_validator("started_at", "paused_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """Aware, and in UTC: adding a timedelta to a datetime in a DST zone adds wall-clock
        time, which is an hour off across a clock change."""
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("datetimes must be timezone-aware")
        return value.astimezone(UTC)

    def active_at(self, now: datetime) -> timedelta:
        """The session's own clock at ``now`` (frozen while paused, never negative)."""
        until = self.paused_at if self.paused_at is not None else now
        return max(timedelta(0), until - self.started_at - self.paused)

    def wall(self, offset: timedelta) -> datetime:
        """Wall time at which active time reaches ``offset``, if no further pause happens."""
        return self.started_at + self.paused + offset

    def counted(self) -> list[Delivery]:
        """Deliveries that count against the budget and the gap."""
        return [d for d in self.deliveries.values() if d.status.counts]


def make_plan(state: SessionState, limits: Limits) -> Plan:
    """Lay out focus blocks, breaks and check-ins in active time.

    A break whose announcement was dropped did not happen: the plan closes it up, so what
    follows moves earlier and no unannounced break is subtracted from the focus time.

    A long session (more breaks than the budget keeps for them, :func:`break_cap`) has its
    remaining blocks stretched evenly instead of running the last ones back to back; the blocks
    already behind an extension (``settled_blocks``) keep the lengths they had.

    The plan depends only on the session's shape and its dropped breaks, which a handful of
    values cover for everyone: it is computed once per shape and remembered (the dispatcher
    and the handlers ask for it several times per message).
    """
    dropped = frozenset(
        key
        for key, delivery in state.deliveries.items()
        if delivery.status is DeliveryStatus.DROPPED and key.startswith(SlotKind.BREAK)
    )
    plan = _plan(
        state.planned_minutes,
        state.block_minutes,
        state.break_minutes,
        state.checkins,
        dropped,
        limits,
        state.settled_blocks,
    )
    # Recovery: a longer break the person accepted stretches that break (nudges.companion).
    longer = [
        int(key.split(":")[1])
        for key, delivery in state.deliveries.items()
        if delivery.answer is Answer.LONGER_BREAK and key.startswith(SlotKind.BREAK)
    ]
    return companion.stretch_breaks(plan, longer, limits.span(product.RECOVERY_EXTRA_BREAK_MINUTES))


def break_cap(limits: Limits, *, checkins: bool) -> int:
    """How many breaks a session's plan may hold: two messages each (break, back to work),
    leaving :data:`nudges.limits.CHECKIN_RESERVE` of the budget to check-ins when it has any."""
    reserve = product.CHECKIN_RESERVE if checkins else 0
    if limits.max_messages - reserve < 2:
        reserve = 0  # a tiny budget (tests): breaks first, as ever
    return (limits.max_messages - reserve) // 2


def _block_length(
    focus_left: timedelta, breaks_left: int, block: timedelta, minute: timedelta
) -> timedelta:
    """The next block: the usual length, or — when the breaks left cannot cut what remains
    into usual blocks — an even share of it, rounded up to a whole minute."""
    share = focus_left / (breaks_left + 1)
    if share <= block:
        return min(block, focus_left)
    return min(focus_left, minute * math.ceil(share / minute - 1e-9))


@functools.lru_cache(maxsize=4096)
def _plan(
    planned_minutes: int,
    block_minutes: int,
    break_minutes: int,
    checkins: bool,
    dropped_breaks: frozenset[str],
    limits: Limits,
    settled_blocks: tuple[int, ...] = (),
) -> Plan:
    span = limits.span
    gap = limits.min_gap
    minute = span(1)
    focus_left = span(planned_minutes)
    block = span(block_minutes)
    pause = span(break_minutes)
    cap = break_cap(limits, checkins=checkins)

    slots: list[Slot] = []
    breaks: list[tuple[timedelta, timedelta]] = []
    stretched: list[tuple[timedelta, timedelta, int]] = []  # (start, length, index)
    blocks: list[tuple[timedelta, timedelta]] = []
    cursor = timedelta(0)
    index = 1
    while True:
        if index <= len(settled_blocks):
            length = min(span(settled_blocks[index - 1]), focus_left)
        else:
            length = _block_length(focus_left, cap - len(breaks), block, minute)
        focus_left -= length
        has_break = pause > timedelta(0) and focus_left >= gap and len(breaks) < cap
        if has_break and f"{SlotKind.BREAK}:{index}" in dropped_breaks:
            has_break = False
        if checkins and length > block + minute / 2 and index > len(settled_blocks):
            stretched.append((cursor, length, index))
        elif checkins:
            slots.extend(_checkins(cursor, length, index, limits))
        blocks.append((cursor, cursor + length))
        cursor += length
        if not has_break:
            if focus_left <= timedelta(0):
                break
            index += 1
            continue
        slots.append(Slot(f"{SlotKind.BREAK}:{index}", SlotKind.BREAK, cursor, index))
        breaks.append((cursor, cursor + pause))
        cursor += pause
        slots.append(Slot(f"{SlotKind.BACK}:{index}", SlotKind.BACK, cursor, index))
        index += 1
    if stretched:
        planned = sum(1 for s in slots if s.kind is SlotKind.CHECKIN)
        room = limits.max_messages - 2 * len(breaks) - planned
        slots.extend(_stretched_checkins(stretched, max(0, room), limits))
        slots.sort(key=lambda s: s.offset)
    return Plan(slots=tuple(slots), breaks=tuple(breaks), total=cursor, blocks=tuple(blocks))


def _stretched_checkins(
    blocks: list[tuple[timedelta, timedelta, int]], room: int, limits: Limits
) -> list[Slot]:
    """One check-in in the middle of each stretched block, as many as the budget leaves room
    for, spread evenly over the blocks (not all at the start, where the gate would put them)."""
    chosen = sorted({math.floor(k * len(blocks) / room) for k in range(min(room, len(blocks)))})
    minute = limits.span(1)
    slots = []
    for i in chosen:
        start, length, index = blocks[i]
        at = start + minute * math.floor((length / 2) / minute)
        if at >= max(start + limits.min_gap, limits.span(limits.first_delay_minutes)):
            slots.append(Slot(f"{SlotKind.CHECKIN}:{index}.1", SlotKind.CHECKIN, at, index))
    return slots


def _checkins(start: timedelta, length: timedelta, block: int, limits: Limits) -> list[Slot]:
    """Evenly spaced check-ins inside one focus segment, on whole nominal minutes."""
    interval = limits.span(limits.checkin_interval_minutes)
    count = math.floor(length / interval)
    earliest = max(start + limits.min_gap, limits.span(limits.first_delay_minutes))
    latest = start + length - limits.min_gap
    minute = limits.span(1)
    slots = []
    for n in range(1, count + 1):
        at = start + minute * math.floor((length * n / (count + 1)) / minute)
        if earliest <= at <= latest:
            slots.append(Slot(f"{SlotKind.CHECKIN}:{block}.{n}", SlotKind.CHECKIN, at, block))
    return slots


# --- decisions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send this slot's message now."""

    slot: Slot
    due_at: datetime


@dataclass(frozen=True)
class Drop:
    """Record this slot as not sent, with the reason."""

    slot: Slot
    due_at: datetime
    reason: str


@dataclass(frozen=True)
class Finish:
    """The planned time is up: end the session as completed at ``at``."""

    at: datetime
    late: bool


@dataclass(frozen=True)
class PauseExpired:
    """The pause ran past the limit: end the session early at ``at``."""

    at: datetime
    late: bool


@dataclass(frozen=True)
class Wait:
    """Nothing to do before ``until``."""

    until: datetime
    reason: str = ""


@dataclass(frozen=True)
class Idle:
    """Nothing will ever be due for this session."""

    reason: str = field(default="ended")


Decision = Send | Drop | Finish | PauseExpired | Wait | Idle


MISSED_REASON = "missed"
"""How a Drop's reason starts when the message came due while the bot was down (too late to
send; the gate spells it out): the summary counts such breaks apart, and says why they did
not happen."""


def decide(state: SessionState, limits: Limits, now: datetime) -> Decision:
    """The one next step for a session at ``now``.

    Call repeatedly (recording each Send/Drop) until it returns Wait or Idle.
    """
    if state.ended:
        return Idle()
    if state.paused_at is not None:
        expires = state.paused_at + limits.pause_limit
        if now >= expires:
            return PauseExpired(at=expires, late=now - expires > limits.late_window)
        return Wait(until=expires, reason="paused")

    plan = make_plan(state, limits)
    active = state.active_at(now)
    end_at = state.wall(plan.total)
    # Flow and distraction move or remove check-ins (nudges.companion); the gate below still
    # judges every message against what was recorded.
    slots = companion.adapt_slots(state, plan, limits)
    pending = [s for s in slots if s.key not in state.deliveries]
    due = next((s for s in pending if s.offset <= active and s.offset < plan.total), None)
    if due is None:
        if active >= plan.total:
            return Finish(at=end_at, late=now - end_at > limits.late_window)
        upcoming = [state.wall(s.offset) for s in pending if s.offset < plan.total]
        return Wait(until=min([*upcoming, end_at]), reason="next slot or end")
    return _gate(state, plan, limits, due, now)


def _gate(state: SessionState, plan: Plan, limits: Limits, slot: Slot, now: datetime) -> Decision:
    """Apply the guardrails, against what was recorded, to a slot that is due."""
    due_at = state.wall(slot.offset)
    deadline = due_at + limits.late_window
    if now > deadline:
        return Drop(slot, due_at, "missed: too late to send")
    counted = state.counted()
    used = len(counted)
    if slot.kind is SlotKind.BACK:
        started = state.deliveries.get(f"{SlotKind.BREAK}:{slot.block}")
        if started is None or not started.status.counts:
            return Drop(slot, due_at, "its break was not announced")
    if used >= limits.max_messages:
        return Drop(slot, due_at, "budget: session message limit reached")
    later_breaks = sum(1 for s in plan.slots if s.kind is SlotKind.BREAK and s.offset > slot.offset)
    if slot.kind is SlotKind.BREAK and used + 2 > limits.max_messages:
        return Drop(slot, due_at, "budget: no room for its back-to-work message")
    if slot.kind is SlotKind.CHECKIN:
        # Keep room for the breaks still ahead: a break matters more than a check-in.
        reserve = 2 * min(later_breaks, (limits.max_messages - used) // 2)
        if used + 1 + reserve > limits.max_messages:
            return Drop(slot, due_at, "budget: kept for breaks")
    last = max((d.at for d in counted), default=None)
    if last is not None and now < last + limits.min_gap:
        ready = last + limits.min_gap
        if ready <= deadline:
            return Wait(until=ready, reason="gap")
        return Drop(slot, due_at, "gap: previous message too recent")
    return Send(slot, due_at)
