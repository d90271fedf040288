"""A person's records, one session at a time: open, correct, delete, undo a cancellation;
filtered history; the figures of their labels; and their recent labels to start again.

Every change is checked here for what a button or a command can't be trusted with (the session
is the person's, and ended) and again by storage's conditional writes; after it, the streak
days kept in memory for the person are forgotten, so totals and streaks follow at once.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.base import ServiceBase
from bot.core.insights import Period, Stats, compute_stats, period_bounds
from bot.core.timefmt import zone
from nudges import limits as product
from storage import Correction, Event, HistoryQuery, Session, SessionFact
from storage.models import label_key

__all__ = ["LabelFigures", "RecordRefusal", "RecordUseCases", "label_figures"]


class RecordRefusal(enum.Enum):
    """Why a record can't be opened or changed."""

    NOT_FOUND = "not_found"  # no such session, or not this person's: the same answer
    RUNNING = "running"
    UNCHANGED = "unchanged"
    TOO_LATE = "too_late"  # an undo after the next session started


@dataclass(frozen=True)
class LabelFigures:
    """One label's figures over a period ("report · 5 sessions · 3 h 10 · 80% · ⭐4.2")."""

    label: str  # as last typed
    sessions: int
    focused_minutes: float
    completion_rate: float
    average_score: float | None


def label_figures(pairs: Sequence[tuple[str, SessionFact]], limit: int) -> list[LabelFigures]:
    """The ``limit`` labels with the most focused minutes, case and spacing aside."""
    groups: dict[str, list[tuple[str, SessionFact]]] = {}
    for label, fact in pairs:
        groups.setdefault(label_key(label), []).append((label, fact))
    figures = []
    for members in groups.values():
        facts = [f for _, f in members]
        scores = [f.score for f in facts if f.score is not None]
        figures.append(
            LabelFigures(
                label=members[-1][0],  # the newest spelling (pairs come oldest first)
                sessions=len(facts),
                focused_minutes=sum(f.focused_minutes for f in facts),
                completion_rate=sum(f.completed for f in facts) / len(facts),
                average_score=sum(scores) / len(scores) if scores else None,
            )
        )
    figures.sort(key=lambda f: (-f.focused_minutes, label_key(f.label)))
    return figures[:limit]


class RecordUseCases(ServiceBase):
    """The person's own sessions, one at a time."""

    async def open_record(
        self, user_id: int, session_id: int
    ) -> tuple[Session, list[Event]] | RecordRefusal:
        """A session of this person with its event log (a running one opens too)."""
        session = await self.store.sessions.get_session(session_id)
        if session is None or session.user_id != user_id:
            return RecordRefusal.NOT_FOUND
        return session, await self.store.reports.events(session_id)

    async def correct(
        self, user_id: int, session_id: int, correction: Correction
    ) -> Session | RecordRefusal:
        """Fix what the bot could not know (focused minutes, label, score), as an edit."""
        refusal = await self._changeable(user_id, session_id)
        if refusal is not None:
            return refusal
        now = self.clock.now()
        changed = await self.store.records.correct(session_id, user_id, correction, now)
        self._forget_days(user_id)
        return RecordRefusal.UNCHANGED if changed is None else changed

    async def delete_record(self, user_id: int, session_id: int) -> RecordRefusal | None:
        """Remove an ended session of this person and its events; None when done."""
        refusal = await self._changeable(user_id, session_id)
        if refusal is not None:
            return refusal
        async with self.locked(session_id):
            deleted = await self.store.records.delete_session(session_id, user_id)
        self._forget_days(user_id)
        return None if deleted else RecordRefusal.NOT_FOUND

    async def restore(self, user_id: int, session_id: int) -> Session | RecordRefusal:
        """Count a stray session again (only until the person's next session starts)."""
        refusal = await self._changeable(user_id, session_id)
        if refusal is not None:
            return refusal
        restored = await self.store.records.restore(session_id, user_id, self.clock.now())
        self._forget_days(user_id)
        return RecordRefusal.TOO_LATE if restored is None else restored

    async def find_history(
        self, user_id: int, query: HistoryQuery, page: int, per_page: int
    ) -> tuple[list[Session], int]:
        """A page of the person's sessions matching ``query``, newest first, and the count."""
        return await self.store.records.find_history(
            user_id, query, max(0, page) * per_page, per_page
        )

    async def period_start(self, user_id: int, period: Period) -> datetime | None:
        """Where ``period`` starts for this person (their local days), None for ``all``."""
        tz = zone(await self.timezone_of(user_id))
        return period_bounds(period, self.clock.now(), tz)[0]

    async def top_labels(self, user_id: int, period: Period) -> list[LabelFigures]:
        """The period's labels with the most focus (``limits.TOP_LABELS`` of them)."""
        tz = zone(await self.timezone_of(user_id))
        since, until = period_bounds(period, self.clock.now(), tz)
        pairs = await self.store.records.labelled_facts(user_id, since, until)
        return label_figures(pairs, product.TOP_LABELS)

    async def label_stats(self, user_id: int, period: Period, label: str) -> Stats:
        """Every /stats figure narrowed to one label (case and spacing aside), streak too."""
        tz = zone(await self.timezone_of(user_id))
        now = self.clock.now()
        _, until = period_bounds(period, now, tz)
        key = label_key(label)
        facts = [
            f
            for name, f in await self.store.records.labelled_facts(user_id, None, until)
            if label_key(name) == key
        ]
        completed = [f.started_at for f in facts if f.completed]
        return compute_stats(facts, completed, period, now, tz)

    async def recent_labels(self, user_id: int) -> list[tuple[str, int, int]]:
        """The person's latest labels (``limits.RECENT_LABELS``) with their last length
        (brought within what /focus accepts) and that session's id."""
        found = await self.store.records.recent_labels(user_id, product.RECENT_LABELS)
        bound = product.FOCUS_MINUTES
        return [(label, min(max(m, bound.low), bound.high), sid) for label, m, sid in found]

    async def _changeable(self, user_id: int, session_id: int) -> RecordRefusal | None:
        session = await self.store.sessions.get_session(session_id)
        if session is None or session.user_id != user_id:
            return RecordRefusal.NOT_FOUND
        if session.running:
            return RecordRefusal.RUNNING
        return None

    def _forget_days(self, user_id: int) -> None:
        """Drop the kept streak days: the next read recomputes them from storage. Counted as
        an end, so a read that began before this change is not kept either."""
        self._days.pop(user_id, None)
        self._ends[user_id] = self._ends.get(user_id, 0) + 1
