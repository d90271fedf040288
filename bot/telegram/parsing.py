"""Parsing what people type: ``/focus`` arguments, ``/extend`` minutes, scores, settings.

Button data is read by its own codec, ``bot.telegram.callbacks``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.core.timefmt import parse_zone
from bot.core.zones import city_zone
from nudges import limits as product
from nudges.reminders import QuietWindow
from storage.models import Correction

__all__ = [
    "CORRECT_FORMS",
    "FocusRequest",
    "ParseError",
    "parse_clock",
    "parse_correction",
    "parse_extend",
    "parse_focus",
    "parse_goal",
    "parse_history",
    "parse_quiet",
    "parse_remind",
    "parse_score",
    "parse_setting",
]
__all__ += ["REVIEW_FORMS", "ReviewChange", "ZoneAnswer", "parse_review", "parse_zone_answer"]

# 45 · 45m · 45min · 1h · 1h30 · 1h30m · 90m · 1.5h is not accepted (say 1h30).
_DURATION = re.compile(
    r"^(?:(?P<h>\d{1,3})\s*h(?:ours?|rs?)?\s*(?:(?P<hm>\d{1,3})\s*(?:m|min|mins|minutes?)?)?"
    r"|(?P<m>\d{1,4})\s*(?:m|min|mins|minutes?)?)$",
    re.IGNORECASE,
)
# A first word that starts like a number is a duration attempt, never part of a label.
_NUMBERISH = re.compile(r"^[+\-−]?\d")

FOCUS_FORMS = (
    "/focus — your default length (/settings shows it)\n"
    "/focus 45 — 45 minutes\n"
    "/focus 45 write the report — with a label\n"
    "/focus 1h30 · /focus 90m · /focus 1h\n"
    f"Sessions run {product.FOCUS_MINUTES} minutes; "
    f"a label is up to {product.LABEL_MAX_CHARS} characters."
)


class ParseError(ValueError):
    """Input we understood well enough to explain what is wrong with it."""


@dataclass(frozen=True)
class FocusRequest:
    """A parsed ``/focus``: minutes (None: the default) and a label (None: no label)."""

    minutes: int | None
    label: str | None


# Bidirectional overrides and isolates can make a label render as something else.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _clean(text: str) -> str:
    """Drop control characters and bidi overrides, fold white space to single spaces.

    Other format characters stay: the zero-width joiner holds emoji like 👩‍💻 together.
    """
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace()
        or (ch not in _BIDI and unicodedata.category(ch) not in ("Cc", "Cs", "Co", "Cn"))
    )
    return " ".join(kept.split())


def parse_duration(word: str) -> int | None:
    """Minutes in ``45``, ``45m``, ``1h``, ``1h30``; None if it is not a duration."""
    match = _DURATION.match(word.strip())
    if not match:
        return None
    if match.group("m") is not None:
        return int(match.group("m"))
    return int(match.group("h")) * 60 + int(match.group("hm") or 0)


_UNIT = re.compile(r"^(?:m|min|mins|minutes?|h|hrs?|hours?)$", re.IGNORECASE)
_MINUTES_PART = re.compile(r"^\d{1,3}(?:m|min|mins|minutes?)?$", re.IGNORECASE)


def _duration_words(text: str) -> tuple[str, str]:
    """Split off the duration, which may be written with spaces: ``45 min``, ``1h 30``,
    ``1 h 30 min``. Returns (duration written without spaces, the rest)."""
    words = text.split(" ")
    taken = [words[0]]
    i = 1
    # "45 min", "1 h": a number followed by a unit word.
    if i < len(words) and words[0].isdigit() and _UNIT.match(words[i]):
        taken.append(words[i])
        i += 1
    # "1h 30", "1h 30min", "1 h 30 min": minutes after hours.
    joined = "".join(taken)
    hours = re.fullmatch(r"\d{1,3}\s*h(?:ours?|rs?)?", joined, re.IGNORECASE)
    if hours and i < len(words) and _MINUTES_PART.match(words[i]):
        taken.append(words[i])
        i += 1
        if i < len(words) and _UNIT.match(words[i]) and words[i].lower().startswith("m"):
            taken.append(words[i])
            i += 1
    return "".join(taken), " ".join(words[i:])


def parse_focus(args: str) -> FocusRequest:
    """Parse the text after ``/focus``; raises ParseError with a friendly reason."""
    text = _clean(args)
    if not text:
        return FocusRequest(None, None)
    first, rest = _duration_words(text)
    minutes = parse_duration(first)
    if minutes is None and _NUMBERISH.match(first):
        raise ParseError(f"I couldn't read “{first[:20]}” as a duration.")
    label = (rest if minutes is not None else text).strip() or None
    if minutes is not None and minutes not in product.FOCUS_MINUTES:
        raise ParseError(
            f"A session runs {product.FOCUS_MINUTES} minutes; {minutes} is out of range."
        )
    if label is not None and len(label) > product.LABEL_MAX_CHARS:
        raise ParseError(
            f"A label can be up to {product.LABEL_MAX_CHARS} characters; yours has {len(label)}."
        )
    return FocusRequest(minutes, label)


def parse_extend(args: str) -> int:
    """Minutes to add from the text after ``/extend`` (without any: the default 10)."""
    text = _clean(args)
    if not text:
        return product.DEFAULT_EXTEND_MINUTES
    minutes = parse_duration(text)
    if minutes is None:
        raise ParseError(f"I couldn't read “{text[:20]}” as minutes.")
    if minutes not in product.EXTEND_MINUTES:
        raise ParseError(f"You can extend by {product.EXTEND_MINUTES} minutes at a time.")
    return minutes


_SCORE = re.compile(r"^\s*([+\-−]?\d{1,6})\s*[.!]?\s*$")


def parse_score(text: str) -> int | None:
    """A message that is just a number (a score attempt), or None."""
    match = _SCORE.match(text)
    if not match:
        return None
    return int(match.group(1).replace("−", "-"))


def parse_setting(args: str) -> tuple[str, int | bool]:
    """``/settings default 45``, ``block 30``, ``break 10``, ``nudges quiet|normal``."""
    words = _clean(args).lower().split()
    if len(words) != 2:
        raise ParseError("Say which setting and its value, e.g. /settings default 45.")
    name, value = words
    if name == "nudges":
        if value not in ("quiet", "normal"):
            raise ParseError("Nudges are either normal or quiet: /settings nudges quiet.")
        return "quiet", value == "quiet"
    bound = product.SETTING_MINUTES.get(name)
    if bound is None:
        raise ParseError(f"I don't have a setting called “{name[:20]}”.")
    minutes = parse_duration(value)
    if minutes is None or minutes not in bound:
        raise ParseError(f"{name.capitalize()} can be {bound} minutes.")
    return name, minutes


# --- records (issue 13) ----------------------------------------------------------------------

CORRECT_FORMS = (
    "/correct 12 focused 30 — you focused 30 minutes (forgot to stop?)\n"
    "/correct 12 label write the report — a new label (/correct 12 label - removes it)\n"
    f"/correct 12 score 4 — a score {product.SCORE}"
)


def parse_correction(args: str) -> tuple[int, Correction]:
    """``<session> focused N`` · ``<session> label TEXT`` (``-`` removes it) · ``<session>
    score N``; ParseError with a reason."""
    parts = _clean(args).split(maxsplit=2)
    if len(parts) < 3 or not (parts[0].isascii() and parts[0].isdigit()):
        raise ParseError("Say which session and what to correct.")
    session_id, field, value = int(parts[0]), parts[1].lower(), parts[2].strip()
    if session_id >= 2**63:
        raise ParseError("I can't find that session among yours.")
    if field in ("focused", "focus", "minutes"):
        minutes = parse_duration(value)
        if minutes is None or minutes not in product.CORRECT_FOCUSED_MINUTES:
            bound = product.CORRECT_FOCUSED_MINUTES
            raise ParseError(f"Focused minutes can be {bound.low}–{bound.high}.")
        return session_id, Correction(focused_minutes=minutes)
    if field == "label":
        if value == "-":
            return session_id, Correction(clear_label=True)
        if len(value) > product.LABEL_MAX_CHARS:
            raise ParseError(f"A label can be up to {product.LABEL_MAX_CHARS} characters.")
        return session_id, Correction(label=value)
    if field == "score":
        score = parse_score(value)
        if score is None or score not in product.SCORE:
            raise ParseError(f"A score is a number {product.SCORE}.")
        return session_id, Correction(score=score)
    raise ParseError("I can correct focused minutes, the label or the score.")


_HISTORY_WORDS = {"week", "month", "completed", "early"}


def parse_history(args: str) -> tuple[str, tuple[str, ...]]:
    """``/history`` arguments: ("", ()) for all; ("week"|"month"|"completed"|"early", ());
    or ("label", words) for anything else (label words, lower-case)."""
    words = _clean(args).lower().split()
    if not words:
        return "", ()
    if len(words) == 1 and words[0] in _HISTORY_WORDS:
        return words[0], ()
    return "label", tuple(w[:60] for w in words[:8])


# --- around the sessions: /goal, /remind, /quiet ------------------------------------------

_GOAL_RANGE = f"{product.GOAL_MINUTES.low} minutes to {product.GOAL_MINUTES.high // 60} hours"
_CLOCK = re.compile(r"^(\d{1,2})(?:[:.h](\d{2}))?$", re.IGNORECASE)
_OFF = frozenset({"off", "none", "stop", "no"})


def parse_clock(text: str) -> int:
    """A local time of day, ``9:30`` / ``09:30`` / ``21.15`` / ``7``, as a minute of the day."""
    match = _CLOCK.match(text.strip())
    if not match:
        raise ParseError(f"I couldn't read “{text.strip()[:20]}” as a time like 09:30.")
    hours, minutes = int(match.group(1)), int(match.group(2) or 0)
    if hours > 23 or minutes > 59:
        raise ParseError(f"“{text.strip()[:20]}” is not a time of day (00:00 to 23:59).")
    return hours * 60 + minutes


def parse_goal(args: str) -> int | None:
    """``/goal 2h``, ``90m``, ``90``, ``1h30``: the daily goal in minutes; ``off``: None."""
    text = _clean(args).lower()
    if text in _OFF:
        return None
    if not text:
        raise ParseError("Say how much focus a day you aim for, e.g. /goal 2h (or /goal off).")
    first, rest = _duration_words(text)
    minutes = parse_duration(first)
    if minutes is None or rest:
        raise ParseError(f"I couldn't read “{text[:20]}” as a duration like 2h or 90m.")
    if minutes not in product.GOAL_MINUTES:
        raise ParseError(f"A daily goal can be {_GOAL_RANGE}.")
    return minutes


def parse_remind(args: str) -> tuple[int | None, bool]:
    """``/remind 09:30``, ``/remind weekdays 09:30``, ``/remind off``: (minute of the day or
    None for off, weekdays only)."""
    words = _clean(args).lower().split()
    if len(words) == 1 and words[0] in _OFF:
        return None, False
    weekdays = bool(words) and words[0] in ("weekdays", "weekday", "workdays")
    if words and words[0] in ("weekdays", "weekday", "workdays", "daily", "every", "everyday"):
        words = words[1:]
    if len(words) != 1:
        raise ParseError(
            "Tell me when, at your local time: /remind 09:30, /remind weekdays 09:30, "
            "or /remind off."
        )
    return parse_clock(words[0]), weekdays


def parse_quiet(args: str) -> QuietWindow | None:
    """``/quiet 22:00-07:00`` (or ``off``): the quiet window; None for off."""
    text = _clean(args).lower().replace("–", "-").replace("—", "-").replace(" to ", "-")
    if text in _OFF:
        return None
    parts = [part.strip() for part in text.split("-")]
    if len(parts) != 2 or not all(parts):
        raise ParseError("Give quiet hours as a start and an end: /quiet 22:00-07:00 (or off).")
    start, end = parse_clock(parts[0]), parse_clock(parts[1])
    if start == end:
        raise ParseError("Quiet hours need an end that differs from their start.")
    return QuietWindow(start, end)


# --- the zone question's typed answer, /review ---------------------------------------------

_TYPED_TIME = re.compile(r"^(\d{1,2})[:.h](\d{2})\s*(am|pm|a\.m\.|p\.m\.)?$", re.IGNORECASE)


@dataclass(frozen=True)
class ZoneAnswer:
    """What a typed answer to "What time is it for you now?" said: a zone (an IANA name or
    ``+02:00``), or a local time of day (a minute of the day) to read against the clock."""

    zone: str | None = None
    minute: int | None = None


def parse_zone_answer(text: str) -> ZoneAnswer | None:
    """``14:35`` / ``2:35 pm`` (a time: always with its minutes, so a score like ``4`` is
    never one), ``Europe/Berlin`` / ``+03:00`` (as /timezone reads them) or a city
    (``berlin``, ``New York``); None for anything else."""
    words = _clean(text)
    match = _TYPED_TIME.match(words)
    if match:
        hours, minutes, half = int(match.group(1)), int(match.group(2)), match.group(3)
        if half is not None:
            if not 1 <= hours <= 12:
                return None
            hours = hours % 12 + (12 if half.lower().startswith("p") else 0)
        if hours > 23 or minutes > 59:
            return None
        return ZoneAnswer(minute=hours * 60 + minutes)
    name = parse_zone(words) or city_zone(words)
    return None if name is None else ZoneAnswer(zone=name)


_WEEKDAY_WORDS: dict[str, int] = {
    word: day
    for day, words in enumerate(
        (
            ("mon", "monday", "mondays"),
            ("tue", "tues", "tuesday", "tuesdays"),
            ("wed", "wednesday", "wednesdays"),
            ("thu", "thur", "thurs", "thursday", "thursdays"),
            ("fri", "friday", "fridays"),
            ("sat", "saturday", "saturdays"),
            ("sun", "sunday", "sundays"),
        )
    )
    for word in words
}

REVIEW_FORMS = "/review sun 18:00 · /review fri 17:30 · /review 19:00 · /review off"


@dataclass(frozen=True)
class ReviewChange:
    """``/review``'s arguments: on or off; a new weekday (Monday 0) and time, if given."""

    on: bool
    weekday: int | None = None
    minute: int | None = None


def parse_review(args: str) -> ReviewChange | None:
    """``/review sun 18:00``, ``/review friday``, ``/review 19:00``, ``on``, ``off``; None
    for no arguments (show the setting)."""
    words = _clean(args).lower().replace(",", " ").split()
    if not words:
        return None
    if len(words) == 1 and words[0] in _OFF:
        return ReviewChange(on=False)
    if words == ["on"]:
        return ReviewChange(on=True)
    weekday = minute = None
    for word in words:
        if word in _WEEKDAY_WORDS and weekday is None:
            weekday = _WEEKDAY_WORDS[word]
        elif minute is None and word[:1].isdigit():
            minute = parse_clock(word)
        else:
            raise ParseError(f"I couldn't read “{' '.join(words)[:30]}” as a day and a time.")
    return ReviewChange(on=True, weekday=weekday, minute=minute)
