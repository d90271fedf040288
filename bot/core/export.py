"""/export: a user's sessions as CSV and, with their events, as JSON. Pure functions.

The CSV columns are stable (new ones are only ever appended) and documented in README:
``session_id, started_at, ended_at, label, planned_minutes, focused_minutes, outcome,
interruptions, breaks, score, scored_at, start_energy, interruption_reasons, note, cancelled,
edits, edited_at, goal_minutes, goal_met, reminded``. Times are ISO 8601 with the user's UTC offset.
The JSON adds the person's routine (goal, reminder, quiet hours, weekly review) and every
reminder and review decided for them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, tzinfo
from typing import Any

from bot.core.timefmt import local_date
from storage import Event, ReminderRecord, Routine, Session

__all__ = ["CSV_COLUMNS", "sessions_csv", "sessions_json"]

CSV_COLUMNS = (
    "session_id",
    "started_at",
    "ended_at",
    "label",
    "planned_minutes",
    "focused_minutes",
    "outcome",
    "interruptions",
    "breaks",
    "score",
    "scored_at",
    "start_energy",
    "interruption_reasons",
    "note",
    # issue 13, at the end so that existing readers keep their columns
    "cancelled",
    "edits",
    "edited_at",
    # the daily goal (set now: no history of goals is kept) and whether the session's day met it
    "goal_minutes",
    "goal_met",
    # 1 when a reminder's start button started the session
    "reminded",
)

_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _iso(moment: datetime | None, tz: tzinfo) -> str:
    return "" if moment is None else moment.astimezone(tz).isoformat(timespec="seconds")


def _edits(events: Sequence[Event]) -> dict[int, tuple[int, datetime]]:
    """Per session: (how many corrections, when the last was made)."""
    found: dict[int, tuple[int, datetime]] = {}
    for e in events:
        if e.kind == "edit":
            count, _ = found.get(e.session_id, (0, e.at))
            found[e.session_id] = (count + 1, e.at)
    return found


def _day_totals(sessions: Sequence[Session], tz: tzinfo) -> dict[date, float]:
    """Focused minutes per local day, as the goal counts them: ended sessions by the day they
    started, cancelled ones left out."""
    totals: dict[date, float] = {}
    for s in sessions:
        if s.ended_at is not None and not s.cancelled:
            day = local_date(s.started_at, tz)
            totals[day] = totals.get(day, 0.0) + s.focused_minutes()
    return totals


class _Goal:
    """The daily goal as the rows show it: its minutes and which days met it."""

    def __init__(self, minutes: int | None, sessions: Sequence[Session], tz: tzinfo) -> None:
        self.minutes = minutes
        self.tz = tz
        self.totals = {} if minutes is None else _day_totals(sessions, tz)

    def columns(self, session: Session) -> dict[str, Any]:
        if self.minutes is None:
            return {"goal_minutes": "", "goal_met": ""}
        done = self.totals.get(local_date(session.started_at, self.tz), 0.0)
        return {"goal_minutes": self.minutes, "goal_met": int(done >= self.minutes)}


def _row(
    session: Session,
    tz: tzinfo,
    reasons: Sequence[str] = (),
    edits: dict[int, tuple[int, datetime]] | None = None,
    goal: _Goal | None = None,
    reminded: frozenset[int] = frozenset(),
) -> dict[str, Any]:
    count, last = (edits or {}).get(session.id, (0, None))
    return {
        "session_id": session.id,
        "started_at": _iso(session.started_at, tz),
        "ended_at": _iso(session.ended_at, tz),
        "label": session.label or "",
        "planned_minutes": session.planned_minutes,
        "focused_minutes": round(session.focused_minutes(), 1) if session.focused else "",
        "outcome": session.outcome.value if session.outcome else "running",
        "interruptions": session.interruptions,
        "breaks": session.breaks_taken,
        "score": session.score if session.score is not None else "",
        "scored_at": _iso(session.scored_at, tz),
        "start_energy": session.start_energy.value if session.start_energy else "",
        # The reasons given to 😵 answers, in order (pauses have none), joined by ";".
        "interruption_reasons": ";".join(reasons),
        "note": session.note or "",
        "cancelled": int(session.cancelled),
        "edits": count,
        "edited_at": _iso(last, tz),
        **(goal or _Goal(None, (), tz)).columns(session),
        "reminded": int(session.id in reminded),
    }


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _routine(routine: Routine) -> dict[str, Any]:
    """The person's routine settings, in local times of day."""
    rule, quiet = routine.reminder, routine.quiet
    return {
        "goal_minutes": routine.goal_minutes,
        "reminder": None
        if rule is None
        else {
            "time": _clock(rule.minute),
            "weekdays_only": rule.weekdays_only,
            # after 3 unanswered in a row: none is sent until the person answers
            "held": routine.remind_held,
        },
        "quiet_hours": None
        if quiet is None
        else {"from": _clock(quiet.start), "to": _clock(quiet.end)},
        "quiet_checkins": routine.quiet_checkins,
        "weekly_review": None
        if not routine.review
        else {
            "weekday": _WEEKDAY_NAMES[routine.review_weekday],
            "time": _clock(routine.review_minute),
        },
    }


def _reminder(record: ReminderRecord, tz: tzinfo) -> dict[str, Any]:
    """One reminder (or the keep-reminding question, ``ask``) or weekly review, as decided."""
    return {
        "day": record.day,
        "kind": record.kind.value,
        "ask": record.ask,
        "status": record.status.value,
        "due_at": _iso(record.due_at, tz),
        "at": _iso(record.at, tz),
        "reason": record.reason,
        "answered_at": _iso(record.answered_at, tz) or None,
        "session_id": record.session_id,
    }


def _reminded(reminders: Sequence[ReminderRecord]) -> frozenset[int]:
    """The sessions a reminder's start button started."""
    return frozenset(r.session_id for r in reminders if r.session_id is not None)


def sessions_csv(
    sessions: list[Session],
    tz: tzinfo,
    reasons: Mapping[int, Sequence[str]] | None = None,
    events: Sequence[Event] = (),
    goal_minutes: int | None = None,
    reminders: Sequence[ReminderRecord] = (),
) -> bytes:
    """One row per session, oldest first, UTF-8 with a header row; ``reasons``: each
    session's 😵 reasons; ``events``: for the corrections' columns; ``goal_minutes``: the
    daily goal, for the goal's columns; ``reminders``: for ``reminded``."""
    reasons = reasons or {}
    edits = _edits(events)
    goal = _Goal(goal_minutes, sessions, tz)
    reminded = _reminded(reminders)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for session in sessions:
        writer.writerow(_row(session, tz, reasons.get(session.id, ()), edits, goal, reminded))
    return out.getvalue().encode("utf-8")


def sessions_json(
    user_id: int,
    tz_name: str,
    sessions: list[Session],
    events: list[Event],
    tz: tzinfo,
    now: datetime,
    reasons: Mapping[int, Sequence[str]] | None = None,
    routine: Routine | None = None,
    reminders: Sequence[ReminderRecord] = (),
) -> bytes:
    """Every session with its event log, the routine and the reminders, as one JSON
    document."""
    reasons = reasons or {}
    edits = _edits(events)
    routine = routine or Routine(user_id=user_id)
    goal = _Goal(routine.goal_minutes, sessions, tz)
    reminded = _reminded(reminders)
    by_session: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        by_session.setdefault(event.session_id, []).append(
            {"kind": event.kind, "at": _iso(event.at, tz), "detail": event.detail}
        )
    document = {
        "exported_at": _iso(now, tz),
        "user": {"id": user_id, "timezone": tz_name},
        "sessions": [
            {
                **_row(s, tz, reasons.get(s.id, ()), edits, goal, reminded),
                "score": s.score,
                "note": s.note,
                "events": by_session.get(s.id, []),
            }
            for s in sessions
        ],
        "routine": _routine(routine),
        "reminders": [_reminder(r, tz) for r in reminders],
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")
