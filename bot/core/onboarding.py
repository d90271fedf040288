"""Your time, from the start: "What time is it for you now?", asked once.

Every time shows in UTC until the person sets a zone, and a reminder at a local time needs
one; so /start, and the first /goal or /remind, ask once (``zone_asked``, never again: not
when it went unanswered, not when the zone was set another way) and keep the question open
(``zone_pending``) until an answer sets the zone: a button's offset, or a time, a zone or a
city typed. Setting the zone re-plans the reminder and the review (they follow the zone).
"""

from __future__ import annotations

from bot.core.routine import RoutineUseCases
from storage import Routine

__all__ = ["UNSET_ZONE", "ZoneUseCases"]

UNSET_ZONE = "UTC"
"""The zone of a person who never chose one (the ``users.timezone`` default)."""


class ZoneUseCases(RoutineUseCases):
    """Asking for the zone once, and setting it from the answer."""

    async def ask_zone(self, user_id: int) -> bool:
        """Whether to ask now: True once per person (recorded as asked and waiting), never
        when their zone is already set."""
        routine = await self.store.reminders.routine(user_id)
        if routine.zone_asked or await self.timezone_of(user_id) != UNSET_ZONE:
            return False
        await self.store.reminders.update_routine(
            user_id, self.clock.now(), zone_asked=True, zone_pending=True
        )
        return True

    async def zone_pending(self, user_id: int) -> bool:
        """Whether the question waits for an answer (a typed one is read as it then)."""
        return (await self.store.reminders.routine(user_id)).zone_pending

    async def set_zone(self, user_id: int, name: str) -> Routine:
        """Set the zone (from the answer or /timezone; ``name`` already valid): the question
        is closed for good, and the reminder and the review move with the zone."""
        now = self.clock.now()
        await self.store.users.update_user(user_id, now, timezone=name)
        await self.store.reminders.update_routine(user_id, now, zone_asked=True, zone_pending=False)
        return await self.reschedule_routine(user_id)
