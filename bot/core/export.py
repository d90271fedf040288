"""/export: a user's sessions as CSV and, with their events, as JSON. Pure functions.

The CSV columns are stable (new ones are only ever appended) and documented in README:
``session_id, started_at, ended_at, label, planned_minutes, focused_minutes, outcome,
interruptions, breaks, score, scored_at, start_energy, interruption_reasons, note, cancelled,
edits, edited_at``. Times are ISO 8601 with the user's UTC offset.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from storage import Event, Session

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
)


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


def _row(
    session: Session,
    tz: tzinfo,
    reasons: Sequence[str] = (),
    edits: dict[int, tuple[int, datetime]] | None = None,
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
    }


def sessions_csv(
    sessions: list[Session],
    tz: tzinfo,
    reasons: Mapping[int, Sequence[str]] | None = None,
    events: Sequence[Event] = (),
) -> bytes:
    """One row per session, oldest first, UTF-8 with a header row; ``reasons``: each
    session's 😵 reasons; ``events``: for the corrections' columns."""
    reasons = reasons or {}
    edits = _edits(events)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for session in sessions:
        writer.writerow(_row(session, tz, reasons.get(session.id, ()), edits))
    return out.getvalue().encode("utf-8")


def sessions_json(
    user_id: int,
    tz_name: str,
    sessions: list[Session],
    events: list[Event],
    tz: tzinfo,
    now: datetime,
    reasons: Mapping[int, Sequence[str]] | None = None,
) -> bytes:
    """Every session with its event log, as one JSON document."""
    reasons = reasons or {}
    edits = _edits(events)
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
                **_row(s, tz, reasons.get(s.id, ()), edits),
                "score": s.score,
                "note": s.note,
                "events": by_session.get(s.id, []),
            }
            for s in sessions
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")
