"""What a use case changed in a session, and the port through which it says so.

The core is the one owner of a session's changes: pause, resume, extend, stop and start each
end by telling the port what follows from them — when the dispatcher must look at the session
next, whether its start card must show the change, whether its summary is due. The Telegram
adapter (``bot.telegram.changes``) acts on it; handlers don't have to remember.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from storage import Session

__all__ = ["IGNORE_CHANGES", "SessionChange", "SessionChanges"]


@dataclass(frozen=True)
class SessionChange:
    """One change, as committed."""

    session: Session  # the session as it is now
    card: bool = True  # its start card shows what changed (end time, Pause or Resume)
    summary: bool = False  # it ended: its summary is due now

    @property
    def wake_at(self) -> datetime | None:
        """When the dispatcher must look at the session next (None: it no longer runs)."""
        return self.session.next_due_at


class SessionChanges(Protocol):
    """Acts on what a use case changed (re-arm, refresh the card, send the summary)."""

    async def session_changed(self, change: SessionChange) -> None:
        """Called once per committed change, after the session's lock is released."""


class _IgnoreChanges:
    """The port before the application wires the real one (and for storage-only uses)."""

    async def session_changed(self, change: SessionChange) -> None:
        """Nothing to act on."""


IGNORE_CHANGES: SessionChanges = _IgnoreChanges()
