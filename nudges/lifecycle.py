"""The arithmetic of a session's changes — pause, resume, extend, end — pure, like the policy.

Storage records what these return and the core's use cases apply them; nothing here reads the
clock or touches I/O. The end of a session is computed in one place, whoever ends it: the
person (/stop), the policy (time up, or a pause past its limit) or the bot (a chat that can no
longer be reached).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from nudges import limits as product
from nudges.policy import Finish, Limits, PauseExpired, Plan, SessionState, Slot, SlotKind

__all__ = [
    "Ending",
    "abandoned",
    "breaks_behind",
    "extension_room",
    "finished",
    "is_stray",
    "pause_expiry",
    "resumed_pauses",
    "settled",
    "stopped",
]


@dataclass(frozen=True)
class Ending:
    """How a session ends: when, what was done, and whether it completed."""

    ended_at: datetime
    focused: timedelta
    breaks_taken: int
    completed: bool
    late: bool  # it ended while the bot was down: its summary says so


def _ending(
    state: SessionState, plan: Plan, at: datetime, active: timedelta, *, completed: bool, late: bool
) -> Ending:
    return Ending(
        ended_at=at,
        focused=plan.focused(active),
        breaks_taken=plan.breaks_started_before(active),
        completed=completed,
        late=late,
    )


def stopped(state: SessionState, plan: Plan, limits: Limits, now: datetime) -> Ending:
    """``/stop`` at ``now``: ended early, unless its time had already run out (the bot was down
    when it did, and /stop came before the dispatcher) — then completed, at its planned end,
    and late when that was longer ago than the late window."""
    active = state.active_at(now)
    if active >= plan.total:
        end = state.wall(plan.total)
        return _ending(
            state, plan, end, active, completed=True, late=now - end > limits.late_window
        )
    return _ending(state, plan, now, active, completed=False, late=False)


def abandoned(state: SessionState, plan: Plan, now: datetime) -> Ending:
    """Ended quietly at ``now`` because its chat can no longer be reached: never completed."""
    return _ending(state, plan, now, state.active_at(now), completed=False, late=False)


def finished(state: SessionState, plan: Plan, decision: Finish | PauseExpired) -> Ending:
    """Ended by the policy: time up (completed, the whole plan done) or a pause too long."""
    if isinstance(decision, Finish):
        return _ending(state, plan, decision.at, plan.total, completed=True, late=decision.late)
    active = state.active_at(decision.at)
    return _ending(state, plan, decision.at, active, completed=False, late=decision.late)


def pause_expiry(now: datetime, limits: Limits) -> datetime:
    """When a pause taken at ``now`` ends the session, unless resumed first."""
    return now + limits.pause_limit


def resumed_pauses(state: SessionState, now: datetime) -> timedelta:
    """The session's total time paused once the pause running since ``paused_at`` ends now."""
    if state.paused_at is None:
        return state.paused
    return state.paused + (now - state.paused_at)


def extension_room(planned_minutes: int, max_total_minutes: int) -> int:
    """How many minutes of focus may still be added to a session planned this long."""
    return max(0, max_total_minutes - planned_minutes)


def breaks_behind(
    before: Plan, after: Plan, state: SessionState, now: datetime
) -> list[tuple[Slot, datetime]]:
    """Breaks that a longer plan puts behind us (a block that had none now has one), with the
    time each would have been due: they did not happen, so they are closed up (recorded as
    dropped) rather than announced late."""
    planned = {slot.key for slot in before.slots}
    active = state.active_at(now)
    return [
        (slot, state.wall(slot.offset))
        for slot in after.slots
        if slot.kind is SlotKind.BREAK
        and slot.key not in planned
        and slot.offset < active
        and slot.key not in state.deliveries
    ]


def settled(before: Plan, state: SessionState, limits: Limits, now: datetime) -> tuple[int, ...]:
    """The focus blocks an extension at ``now`` leaves as they were: those already over, in
    nominal minutes. A longer plan may stretch the blocks still ahead (a long session's blocks
    grow so that its breaks fit the message budget), never the ones behind: their breaks and
    check-ins happened where they happened."""
    active = state.active_at(now)
    minute = limits.span(1)
    return tuple(round((end - start) / minute) for start, end in before.blocks if end <= active)


def is_stray(ending: Ending, time_scale: float) -> bool:
    """A session that ends with under ``STRAY_SESSION_MINUTES`` of focus (nominal minutes:
    started and stopped at once, a wrong length) is a mistake, not a session to count."""
    nominal_minutes = ending.focused.total_seconds() * time_scale / 60
    return not ending.completed and nominal_minutes < product.STRAY_SESSION_MINUTES
