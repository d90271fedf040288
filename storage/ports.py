"""What storage offers the application, one Protocol per aggregate, and the facade over them.

A backend (``storage.sqlite`` today, PostgreSQL later) implements every one of these; the
application knows only these types. The guarantees are part of the contract, whatever the
backend: every state change of a session is conditional (on it running, on its ``version``),
so a stale button, a race or a retry changes nothing; a delivery's slot is recorded at most
once; a write has returned only once it is durable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from nudges.companion import Answer, Energy, Reason
from nudges.policy import SlotKind
from storage.models import (
    CardEdit,
    CompanionTotals,
    Correction,
    DeliveryRecord,
    EndedBy,
    Event,
    HistoryQuery,
    Outcome,
    ReminderKind,
    ReminderRecord,
    Reschedule,
    Routine,
    Session,
    SessionFact,
    StatsTotals,
    User,
)

__all__ = [
    "CardStore",
    "CompanionStore",
    "DeliveryStore",
    "RecordStore",
    "ReminderStore",
    "ReportStore",
    "SessionStore",
    "Storage",
    "UserStore",
]
__all__ = ["DeliveryStore", "NoteStore", "ReportStore", "SessionStore", "Storage", "UserStore"]


class UserStore(Protocol):
    """People and their settings."""

    async def ensure_user(self, user_id: int, now: datetime) -> User:
        """The user, created on first contact."""
        ...

    async def get_user(self, user_id: int) -> User | None:
        """The user, if known."""
        ...

    async def update_user(self, user_id: int, now: datetime, **settings: object) -> User:
        """Change some of a user's settings (``timezone``, ``default_minutes``, ...)."""
        ...

    async def delete_user(self, user_id: int) -> int:
        """Erase everything stored about a user at once; returns the sessions erased."""
        ...


class SessionStore(Protocol):
    """Focus sessions: their start, every change of their plan, their end and score."""

    async def start_session(
        self,
        *,
        user_id: int,
        chat_id: int,
        label: str | None,
        planned_minutes: int,
        block_minutes: int,
        break_minutes: int,
        checkins: bool,
        time_scale: float,
        now: datetime,
        planned_end_at: datetime,
        next_due_at: datetime,
        owner_name: str | None = None,
        checkin_minutes: int | None = None,
    ) -> Session:
        """Insert a running session; raise ActiveSessionExists if one is running in the chat."""
        ...

    async def get_session(self, session_id: int) -> Session | None:
        """One session by id."""
        ...

    async def session_and_deliveries(
        self, session_id: int
    ) -> tuple[Session | None, list[DeliveryRecord]]:
        """One session and every delivery decision recorded for it, read together."""
        ...

    async def active_session_and_deliveries(
        self, user_id: int, chat_id: int
    ) -> tuple[Session | None, list[DeliveryRecord]]:
        """The user's running session in this chat and its deliveries, read together."""
        ...

    async def active_session(self, user_id: int, chat_id: int) -> Session | None:
        """The user's running (or paused) session in this chat."""
        ...

    async def set_card(self, session_id: int, message_id: int) -> None:
        """Remember the start card's message, to edit its buttons later."""
        ...

    async def pause(self, session_id: int, now: datetime, next_due_at: datetime) -> Session | None:
        """Pause a running, unpaused session (one interruption); None if not applicable."""
        ...

    async def resume(
        self, session: Session, now: datetime, planned_end_at: datetime, next_due_at: datetime
    ) -> Session | None:
        """Resume a paused session, adding the pause's length; None if it was not paused."""
        ...

    async def extend(
        self,
        session_id: int,
        minutes: int,
        now: datetime,
        planned_end_at: datetime | None,
        next_due_at: datetime,
        *,
        drops: Sequence[tuple[str, SlotKind, datetime, str]] = (),
        settled_blocks: Sequence[int] = (),
    ) -> Session | None:
        """Add planned focus to a running session, recording ``drops`` (slot, kind, due,
        reason) as not sent and ``settled_blocks`` (the lengths of the blocks behind, which
        the longer plan keeps); None if it was not running."""
        ...

    async def replan(
        self,
        session_id: int,
        minutes: int,
        now: datetime,
        planned_end_at: datetime,
        next_due_at: datetime,
    ) -> Session | None:
        """Give a running session that nothing was sent for yet another planned length (the
        start card's suggested length); None if it was not running or something was sent."""
        ...

    async def reschedule(
        self,
        session_id: int,
        version: int,
        planned_end_at: datetime | None,
        next_due_at: datetime | None,
    ) -> bool:
        """Store when to look at a session again, if it is still at ``version``."""
        ...

    async def defer(self, session_id: int, until: datetime) -> None:
        """Look at a running session again no sooner than ``until`` (after an error)."""
        ...

    async def add_interruption(self, session_id: int, now: datetime, detail: str) -> bool:
        """Count one interruption on a running session, once per ``detail``."""
        ...

    async def end_session(
        self,
        session_id: int,
        *,
        ended_at: datetime,
        focused: timedelta,
        breaks_taken: int,
        outcome: Outcome,
        late: bool,
        now: datetime,
        version: int | None = None,
        summary: str | None = None,
        ended_by: EndedBy | None = None,
        cancelled: bool = False,
    ) -> Session | None:
        """End a running session and queue its one summary (``summary``: a reason not to
        send one; ``ended_by``: who or what ended it); None if it had ended, or changed
        since ``version``. ``cancelled``: a stray session, recorded as such (left out of
        every figure)."""
        ...

    async def set_score(
        self, session_id: int, user_id: int, score: int, now: datetime
    ) -> tuple[bool, int | None]:
        """Score an ended session of this user: (done, previous score)."""
        ...

    async def scorable_session(self, user_id: int, chat_id: int, since: datetime) -> Session | None:
        """The latest unscored session ended since ``since``; else the latest scored one."""
        ...

    async def running_in_chat(self, chat_id: int) -> list[int]:
        """Ids of the running sessions in a chat (everyone's, in a group)."""
        ...

    async def running_session_ids(self, user_id: int) -> list[int]:
        """Ids of the user's running sessions, in every chat."""
        ...

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> int:
        """A group became a supergroup (Telegram's ``migrate_to_chat_id``): every session and
        note target of the old chat follows to the new id; how many sessions moved."""
        ...


class DeliveryStore(Protocol):
    """Proactive messages and summaries: claim before sending, confirm or drop after; and
    the dispatcher's due work."""

    async def due_sessions(self, now: datetime, limit: int) -> list[Session]:
        """Running sessions whose next look is due, soonest first."""
        ...

    async def due_work(
        self, now: datetime, limit: int
    ) -> list[tuple[Session, list[DeliveryRecord]]]:
        """Running sessions whose next look is due, soonest first, each with its recorded
        deliveries."""
        ...

    async def soonest_due(self, exclude: Sequence[int] = ()) -> datetime | None:
        """The earliest time a running session, or a pending summary, must be looked at
        (not counting the sessions in ``exclude``)."""
        ...

    async def deliveries(self, session_id: int) -> list[DeliveryRecord]:
        """Every recorded delivery decision of a session."""
        ...

    async def claim(
        self,
        session_id: int,
        slot: str,
        kind: SlotKind,
        due_at: datetime,
        now: datetime,
        *,
        max_messages: int,
        min_gap: timedelta,
        version: int | None = None,
    ) -> bool:
        """Claim a proactive message before sending it, re-checking the guardrails against
        what is recorded; False if it may not go out."""
        ...

    async def unclaim(self, session_id: int, slot: str) -> None:
        """Withdraw a claim whose send surely did not happen, so it can be tried again."""
        ...

    async def claim_summary(self, session_id: int, now: datetime) -> bool:
        """Move a pending summary to ``sending``; False if it is not pending."""
        ...

    async def release_summary(self, session_id: int, now: datetime, retry_at: datetime) -> None:
        """Put a summary whose send failed for sure back to ``pending``, due at ``retry_at``."""
        ...

    async def confirm(
        self,
        session_id: int,
        slot: str,
        kind: SlotKind,
        message_id: int | None,
        now: datetime,
        *,
        then: Reschedule | None = None,
    ) -> bool:
        """Record that a claimed message was delivered (and, with ``then``, when to look at
        the session next: whether that was stored)."""
        ...

    async def drop(
        self,
        session_id: int,
        slot: str,
        kind: SlotKind,
        due_at: datetime,
        now: datetime,
        reason: str,
        *,
        version: int | None = None,
    ) -> bool:
        """Record a message as not sent; with ``version``, only if the session still runs at
        it."""
        ...

    async def pending_summaries(self, now: datetime, limit: int) -> list[int]:
        """Sessions whose summary is due to be sent."""
        ...


class ReportStore(Protocol):
    """What the user reads back: /stats, history, export, event logs, summary comparisons."""

    async def earlier_focus(
        self, user_id: int, before_session_id: int, *, completed_of_minutes: int | None = None
    ) -> tuple[int, float]:
        """(count, average focused ms) of the user's ended sessions before this one; with
        ``completed_of_minutes``, only the completed ones of at least that much focus."""
        ...

    async def completed_starts(self, user_id: int, since: datetime) -> list[datetime]:
        """Start times of the user's completed sessions since ``since``, newest first."""
        ...

    async def recent_lengths(self, user_id: int, limit: int) -> list[tuple[int, bool]]:
        """(planned minutes, completed) of the user's newest ``limit`` ended sessions, newest
        first (planning from their own data)."""
        ...

    async def session_facts(
        self, user_id: int, since: datetime | None, until: datetime, *, few: bool = False
    ) -> list[SessionFact]:
        """The user's ended sessions started in [since, until), oldest first."""
        ...

    async def first_start(self, user_id: int) -> datetime | None:
        """When the user's first ended session started (None without any)."""
        ...

    async def stats_aggregates(
        self,
        user_id: int,
        since: datetime | None,
        until: datetime,
        offsets: tuple[Sequence[tuple[int, int]], int],
        long_minutes: int,
    ) -> StatsTotals:
        """What /stats counts over the user's ended sessions started in [since, until), per
        local day and hour (``offsets``: from ``LocalTimes.segments``)."""
        ...

    async def history(self, user_id: int, offset: int, limit: int) -> tuple[list[Session], int]:
        """A page of the user's sessions, newest first, and how many there are in all."""
        ...

    async def export_rows(self, user_id: int) -> tuple[list[Session], list[Event]]:
        """Every session of the user (oldest first) and every event of those sessions."""
        ...

    async def events(self, session_id: int) -> list[Event]:
        """A session's event log, oldest first."""
        ...


class CompanionStore(Protocol):
    """What the person answers during a session (``nudges.companion`` reads it back)."""

    async def set_energy(self, session_id: int, energy: Energy) -> bool:
        """Set a running session's start energy, until its first check-in went out."""
        ...

    async def answer(
        self,
        session_id: int,
        message_id: int,
        answer: Answer,
        active: timedelta,
        now: datetime,
    ) -> tuple[Session | None, list[DeliveryRecord], bool]:
        """Record the first answer to a running session's message ``message_id`` (bumping
        its version); the session and deliveries as now, and whether this call recorded it."""
        ...

    async def set_reason(self, session_id: int, message_id: int, reason: Reason) -> bool:
        """Set (or change) the reason of a 😵 answer on a running session's check-in."""
        ...

    async def answer_history(
        self, user_id: int, answers: int, scores: int
    ) -> tuple[list[Answer], list[int]]:
        """The person's last check-in answers and last scores, oldest first."""
        ...

    async def period_totals(
        self, user_id: int, since: datetime | None, until: datetime
    ) -> CompanionTotals:
        """For /stats: 😵 reasons, scores by start energy, sessions that may hold flow."""
        ...

    async def reasons_by_session(self, user_id: int) -> dict[int, list[Reason]]:
        """For /export: each session's 😵 reasons, in order."""


class NoteStore(Protocol):
    """A session's note: the person's own words, replied to its summary (or a score's answer)."""

    async def remember_target(self, chat_id: int, message_id: int, session_id: int) -> None:
        """A reply to this message of the chat is a note for this session."""
        ...

    async def target(self, chat_id: int, message_id: int) -> int | None:
        """The session a reply to this message is a note for, if any."""
        ...

    async def set_note(self, session_id: int, user_id: int, note: str) -> tuple[bool, bool]:
        """Keep the note of this user's ended session: (done, it replaced another)."""
        ...


class RecordStore(Protocol):
    """A person's own records, one session at a time: filtered history, correct, delete,
    undo a cancellation; and the labels behind /stats and a bare /focus. Every change is
    conditional on the session being the user's and ended."""

    async def find_history(
        self, user_id: int, query: HistoryQuery, offset: int, limit: int
    ) -> tuple[list[Session], int]:
        """A page of the user's sessions matching ``query``, newest first, and the count."""
        ...

    async def correct(
        self, session_id: int, user_id: int, correction: Correction, now: datetime
    ) -> Session | None:
        """Apply a correction to an ended session of this user, recorded as an ``edit``
        event; None if it is not theirs, not ended, or nothing changes."""
        ...

    async def delete_session(self, session_id: int, user_id: int) -> bool:
        """Remove an ended session of this user with its events and deliveries, at once."""
        ...

    async def restore(self, session_id: int, user_id: int, now: datetime) -> Session | None:
        """Count a cancelled session again, unless a later session of the user started."""
        ...

    async def labelled_facts(
        self, user_id: int, since: datetime | None, until: datetime
    ) -> list[tuple[str, SessionFact]]:
        """(label, fact) of the user's labelled, counted ended sessions started in
        [since, until), oldest first."""
        ...

    async def recent_labels(self, user_id: int, limit: int) -> list[tuple[str, int, int]]:
        """The user's latest distinct labels (case and spacing aside), newest first, each with
        the planned minutes and the id of its last session."""
        ...


class Storage(Protocol):
    """The one object the application opens (``storage.open_storage``) and closes."""

    users: UserStore
    sessions: SessionStore
    deliveries: DeliveryStore
    reports: ReportStore
    companion: CompanionStore
    notes: NoteStore
    records: RecordStore
    reminders: ReminderStore
    cards: CardStore

    async def close(self) -> None:
        """Close the backend once the operations already queued have run."""
        ...

    async def integrity_check(self) -> str:
        """The backend's own verdict on what it holds ('ok' when sound)."""
        ...


class ReminderStore(Protocol):
    """A person's routine (goal, reminder, quiet hours, weekly review) and every reminder,
    question and review: claimed before it is sent, at most one per person, day and kind."""

    async def routine(self, user_id: int) -> Routine:
        """The person's routine (the defaults when they never chose anything)."""
        ...

    async def update_routine(self, user_id: int, now: datetime, **fields: object) -> Routine:
        """Change some of a person's routine fields (created with the user if new)."""
        ...

    async def due_routines(self, now: datetime, limit: int) -> list[Routine]:
        """Routines with a reminder or a review due by ``now``."""
        ...

    async def soonest_routine(self) -> datetime | None:
        """The earliest time a reminder or a review is due (None: none is scheduled)."""
        ...

    async def claim_reminder(
        self,
        user_id: int,
        day: str,
        kind: ReminderKind,
        due_at: datetime,
        now: datetime,
        *,
        ask: bool = False,
        day_start: datetime | None = None,
    ) -> str | None:
        """Claim a reminder or review before sending it; None when claimed, else why not
        (already handled; for a reminder: a session runs, or one started since
        ``day_start``)."""
        ...

    async def confirm_reminder(
        self, user_id: int, day: str, kind: ReminderKind, message_id: int | None, now: datetime
    ) -> None:
        """Record that a claimed reminder was delivered."""
        ...

    async def unclaim_reminder(self, user_id: int, day: str, kind: ReminderKind) -> None:
        """Withdraw a claim whose send surely did not happen."""
        ...

    async def drop_reminder(
        self,
        user_id: int,
        day: str,
        kind: ReminderKind,
        due_at: datetime,
        now: datetime,
        reason: str,
    ) -> None:
        """Record a reminder as not sent (a sent one stays sent)."""
        ...

    async def unanswered_in_row(self, user_id: int) -> int:
        """How many of the latest sent reminders in a row went unanswered."""
        ...

    async def link_session(self, user_id: int, session_id: int) -> None:
        """Keep on the person's latest sent reminder that its button started ``session_id``."""
        ...

    async def answer_reminders(self, user_id: int, now: datetime) -> int:
        """Mark every unanswered reminder of the person as answered."""
        ...

    async def reminders_of(self, user_id: int) -> list[ReminderRecord]:
        """Every reminder row of the person, oldest first."""
        ...


class CardStore(Protocol):
    """What sessions' start cards still have to show (issue 14): the summary whose send's
    fate is unknown, or "ended" after an edit that failed for a passing reason. One row per
    session, done at most once."""

    async def want(self, session_id: int, shows: str, due_at: datetime, now: datetime) -> bool:
        """Ask for the card of a session to show ``shows`` ('summary' or 'ended') from
        ``due_at``; False (nothing changed) if the card already has a wish of its own."""
        ...

    async def adopt_unconfirmed(
        self, claimed_before: datetime, now: datetime, skip: Sequence[int] = ()
    ) -> int:
        """Ask for the card to show the summary of every session whose summary was claimed
        before ``claimed_before`` and never confirmed (a crash cut it), except ``skip``
        (summaries still being sent); how many were found."""
        ...

    async def due(self, now: datetime, limit: int) -> list[CardEdit]:
        """Pending card edits due by ``now``, soonest first."""
        ...

    async def soonest(self, surely_over: timedelta) -> datetime | None:
        """When a card edit is next due, or an unconfirmed summary will be old enough to be
        taken for cut (``surely_over`` after its claim)."""
        ...

    async def done(self, session_id: int, now: datetime) -> None:
        """The card shows what it should."""
        ...

    async def failed(self, session_id: int, now: datetime, reason: str) -> None:
        """The card cannot show it (no card, refused): given up."""
        ...

    async def retry(
        self, session_id: int, now: datetime, retry_at: datetime, max_attempts: int, reason: str
    ) -> bool:
        """The edit failed for a passing reason: count the attempt and try again at
        ``retry_at``, unless ``max_attempts`` were made (then given up); whether it will."""
        ...

    async def get(self, session_id: int) -> CardEdit | None:
        """The card's wish for a session, if any."""
        ...
