"""A person's own data: settings, history, export, erase."""

from __future__ import annotations

from contextlib import AsyncExitStack

from bot.core.base import ServiceBase, SessionDefaults
from bot.core.export import sessions_csv, sessions_json
from bot.core.timefmt import zone
from storage import Session, User

__all__ = ["AccountUseCases"]


class AccountUseCases(ServiceBase):
    """Settings and the person's records."""

    async def settings_of(self, user_id: int) -> tuple[User, SessionDefaults]:
        """The user (created if new) and the session shape they get."""
        user = await self.store.users.ensure_user(user_id, self.clock.now())
        return user, await self.defaults_for(user_id)

    async def update_settings(self, user_id: int, **settings: object) -> User:
        """Store some of the user's settings (already validated by the caller)."""
        return await self.store.users.update_user(user_id, self.clock.now(), **settings)

    async def history(self, user_id: int, page: int, per_page: int) -> tuple[list[Session], int]:
        """A page of the user's sessions, newest first, and the total count."""
        return await self.store.reports.history(user_id, max(0, page) * per_page, per_page)

    async def export(self, user_id: int) -> tuple[bytes, bytes, int] | None:
        """The user's data as (CSV, JSON, session count); None when there is nothing."""
        sessions, events = await self.store.reports.export_rows(user_id)
        if not sessions:
            return None
        tz_name = await self.timezone_of(user_id)
        tz = zone(tz_name)
        reasons = await self.store.companion.reasons_by_session(user_id)
        routine = await self.store.reminders.routine(user_id)
        reminders = await self.store.reminders.reminders_of(user_id)
        now = self.clock.now()
        return (
            sessions_csv(sessions, tz, reasons, events, routine.goal_minutes, reminders),
            sessions_json(user_id, tz_name, sessions, events, tz, now, reasons, routine, reminders),
            len(sessions),
        )

    async def erase(self, user_id: int) -> int:
        """Delete everything stored about the user; returns how many sessions went.

        Running sessions are held still first, so no message to them is mid-flight.
        """
        running = await self.store.sessions.running_session_ids(user_id)
        async with AsyncExitStack() as stack:
            for session_id in sorted(running):
                await stack.enter_async_context(self.locked(session_id))
            erased = await self.store.users.delete_user(user_id)
            self._days.pop(user_id, None)  # after: a /stats meanwhile may have kept them again
            self._ends.pop(user_id, None)
            return erased

    async def register(self, user_id: int) -> None:
        """Remember a user on first contact (/start)."""
        await self.store.users.ensure_user(user_id, self.clock.now())
