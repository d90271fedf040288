"""The companion's use cases: start energy, check-in answers and their reasons, the longer
break recovery offers, the learnt cadence, and the minutes in flow.

The rules are ``nudges.companion``'s; this records what the person answered (storage's
``companion`` aggregate) and, when an answer moves or removes a check-in, stores the
session's next look and re-arms the dispatcher through the port, like every other change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.base import ServiceBase
from bot.core.changes import SessionChange
from bot.core.insights import Period, period_bounds
from bot.core.timefmt import zone
from nudges import Plan, SessionState, Slot, SlotKind
from nudges import limits as product
from nudges.companion import (
    Answer,
    Energy,
    Fatigue,
    Reason,
    adapt_slots,
    cadence_minutes,
    flow_blocks,
    flow_minutes,
    recovery_offer,
)
from storage import DeliveryRecord, Session

__all__ = ["CheckinAnswer", "CompanionStats", "CompanionUseCases"]


@dataclass(frozen=True)
class CheckinAnswer:
    """A check-in's answer as it stands (the first one given counts)."""

    slot: str
    """The check-in's slot (its text is made from it)."""
    answer: Answer
    reason: Reason | None
    flow: bool
    """This check-in's answer put its block in flow."""
    break_ahead: bool
    """A break follows in the plan (flow lasts until it; otherwise until the end)."""


@dataclass(frozen=True)
class CompanionStats:
    """What /stats adds about the companion for a period."""

    reasons: list[tuple[Reason | None, int]]
    """😵 answers by reason (None: none given), most first."""
    distracted: int
    """😵 answers in all."""
    flow_minutes: int
    energies: list[tuple[Energy | None, int, float]]
    """(start energy or None, scored sessions, average score)."""


class CompanionUseCases(ServiceBase):
    """What the person tells the bot during a session, and what follows from it."""

    async def set_energy(self, session: Session, energy: Energy) -> bool:
        """Record how the person feels at the start; refused once a check-in went out."""
        return await self.store.companion.set_energy(session.id, energy)

    async def answer_checkin(
        self, session: Session, message_id: int, answer: Answer
    ) -> CheckinAnswer | None:
        """Record a check-in's 👍 or 😵 (the first answer counts; 😵 counts an interruption),
        then re-plan: flow removes check-ins, a distraction moves the next one earlier.

        Returns the check-in's answer as it stands, or None when ``message_id`` is not one of
        the session's check-ins.
        """
        async with self.locked(session.id):
            fresh, records = await self.store.sessions.session_and_deliveries(session.id)
            if fresh is None:
                return None
            now = self.clock.now()
            state, _, _ = self.policy_view(fresh, records)
            fresh, records, recorded = await self.store.companion.answer(
                session.id, message_id, answer, state.active_at(now), now
            )
            if recorded and answer is Answer.DISTRACTED:
                await self.store.sessions.add_interruption(
                    session.id, now, f"distracted:{message_id}"
                )
            changed = None
            if recorded and fresh is not None and fresh.running:
                state, plan, limits = self.policy_view(fresh, records)
                planned_end, next_due = self.schedule(state, plan, limits, now)
                if await self.store.sessions.reschedule(
                    fresh.id, fresh.version, planned_end, next_due
                ):
                    changed = fresh.model_copy(update={"next_due_at": next_due})
        if changed is not None:
            await self.changes.session_changed(SessionChange(changed, card=False))
        if fresh is None:
            return None
        return self._checkin_answer(fresh, records, message_id)

    def _checkin_answer(
        self, session: Session, records: list[DeliveryRecord], message_id: int
    ) -> CheckinAnswer | None:
        record = next(
            (
                r
                for r in records
                if r.message_id == message_id and r.kind is SlotKind.CHECKIN and r.answer
            ),
            None,
        )
        if record is None or record.answer is None:
            return None
        state, plan, limits = self.policy_view(session, records)
        slots = adapt_slots(state, plan, limits)
        slot = next((s for s in slots if s.key == record.slot), None)
        flow = slot is not None and flow_blocks(state, slots).get(slot.block) == slot.offset
        return CheckinAnswer(
            slot=record.slot,
            answer=record.answer,
            reason=record.answer_reason,
            flow=flow,
            break_ahead=slot is not None
            and any(s.kind is SlotKind.BREAK and s.offset > slot.offset for s in plan.slots),
        )

    async def set_reason(
        self, session: Session, message_id: int, reason: Reason
    ) -> CheckinAnswer | None:
        """Record why the person was distracted (it may be changed); the answer as it
        stands, or None when that check-in has no 😵 answer."""
        if not await self.store.companion.set_reason(session.id, message_id, reason):
            return None
        records = await self.store.deliveries.deliveries(session.id)
        return self._checkin_answer(session, records, message_id)

    async def accept_longer_break(
        self, session: Session, message_id: int
    ) -> tuple[Session, datetime] | None:
        """Take the longer break recovery offered on a break message: the break lasts
        ``RECOVERY_EXTRA_BREAK_MINUTES`` more, and all that follows moves as much: the session
        and when the break now ends. None when that break message can't be answered (answered
        already, the break over, or not a break message)."""
        async with self.locked(session.id):
            fresh, records = await self.store.sessions.session_and_deliveries(session.id)
            if fresh is None or not fresh.running or fresh.paused_at is not None:
                return None
            now = self.clock.now()
            state, plan, _ = self.policy_view(fresh, records)
            active = state.active_at(now)
            # Only while that break is still on: afterwards, stretching it would cut focus.
            record = next(
                (r for r in records if r.message_id == message_id and r.kind is SlotKind.BREAK),
                None,
            )
            brk = next((b for b in plan.slots if record and b.key == record.slot), None)
            if brk is None or active >= plan.break_end(brk.offset):
                return None
            fresh, records, recorded = await self.store.companion.answer(
                session.id, message_id, Answer.LONGER_BREAK, active, now
            )
            if not recorded or fresh is None:
                return None
            state, plan, limits = self.policy_view(fresh, records)
            planned_end, next_due = self.schedule(state, plan, limits, now)
            await self.store.sessions.reschedule(fresh.id, fresh.version, planned_end, next_due)
            changed = fresh.model_copy(
                update={"next_due_at": next_due, "planned_end_at": planned_end}
            )
            back_at = state.wall(plan.break_end(brk.offset))
        await self.changes.session_changed(SessionChange(changed))
        return changed, back_at

    async def break_offer(
        self, session: Session, slot: Slot, state: SessionState, plan: Plan
    ) -> Fatigue | None:
        """Whether this break's message offers a longer break, and why."""
        _, scores = await self.store.companion.answer_history(
            session.user_id, 0, product.RECOVERY_FALLING_SCORES
        )
        return recovery_offer(state, plan, self.limits_for(session), slot, scores)

    async def cadence_for(self, user_id: int) -> int | None:
        """The check-in spacing a new session of this person gets (None: the standard)."""
        answers, scores = await self.store.companion.answer_history(
            user_id, product.CADENCE_HISTORY_ANSWERS, product.CADENCE_HISTORY_SCORES
        )
        minutes = cadence_minutes(answers, scores)
        return None if minutes == product.CHECKIN_INTERVAL_MINUTES else minutes

    async def companion_stats(self, user_id: int, period: Period) -> CompanionStats:
        """The period's 😵 reasons, minutes in flow and scores by start energy (ended
        sessions started in the period, in the user's timezone, as /stats counts)."""
        tz = zone(await self.timezone_of(user_id))
        since, until = period_bounds(period, self.clock.now(), tz)
        totals = await self.store.companion.period_totals(user_id, since, until)
        flow = 0.0
        for session, records in totals.flowing:
            state, plan, limits = self.policy_view(session, records)
            assert session.ended_at is not None  # noqa: S101 - only ended sessions count
            ended = state.model_copy(update={"paused_at": None})
            flow += flow_minutes(ended, plan, limits, ended.active_at(session.ended_at))
        return CompanionStats(
            reasons=totals.reasons,
            distracted=sum(n for _, n in totals.reasons),
            flow_minutes=round(flow),
            energies=totals.energies,
        )
