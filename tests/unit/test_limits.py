"""The product's bounds have one home, ``nudges/limits.py``, and everyone says the same.

The README and ``.env.example`` state the numbers in words; the database's CHECK constraints
(``storage/migrations``) enforce some of them again; the operator's settings and the user's
``/settings`` share ranges. Each test here reads one of them and compares it with limits.py,
so a number changed on either side fails until the other side follows.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.core.settings import Settings
from bot.telegram.callbacks import MAX_DATA_BYTES
from bot.telegram.parsing import ParseError, parse_setting
from nudges import Limits
from nudges import limits as L

ROOT = Path(__file__).resolve().parents[2]


def _flat(text: str) -> str:
    """Prose with its line breaks (and comment markers) folded into single spaces."""
    return " ".join(re.sub(r"\n#\s*", " ", text).split())


README = _flat((ROOT / "README.md").read_text(encoding="utf-8"))
ENV_EXAMPLE = _flat((ROOT / ".env.example").read_text(encoding="utf-8"))


def _minutes(span: timedelta) -> int:
    return int(span / timedelta(minutes=1))


# (what the README says, with the numbers as groups) -> those numbers, from limits.py.
README_CLAIMS: list[tuple[str, tuple[int, ...]]] = [
    (
        r"Default (\d+) minutes; (\d+)–(\d+) allowed; a label of up to (\d+) characters",
        (L.DEFAULT_FOCUS_MINUTES, L.FOCUS_MINUTES.low, L.FOCUS_MINUTES.high, L.LABEL_MAX_CHARS),
    ),
    (r"A pause longer than (\d+) minutes ends the session", (L.PAUSE_LIMIT_MINUTES,)),
    (r"nudges used \(e\.g\. \d+/(\d+)\)", (L.MAX_MESSAGES,)),
    (
        r"Adds (\d+)–(\d+) minutes \(default (\d+)\) to the running session; "
        r"(\d+) minutes of focus at most in all",
        (
            L.EXTEND_MINUTES.low,
            L.EXTEND_MINUTES.high,
            L.DEFAULT_EXTEND_MINUTES,
            L.MAX_TOTAL_MINUTES,
        ),
    ),
    (r"newest first, (\d+) a page", (L.HISTORY_PAGE_SIZE,)),
    (
        r"`/settings default \d+` \((\d+)–(\d+)\), `/settings block \d+` \((\d+)–(\d+)\), "
        r"`/settings break \d+` \((\d+)–(\d+)\)",
        (
            L.FOCUS_MINUTES.low,
            L.FOCUS_MINUTES.high,
            L.BLOCK_MINUTES.low,
            L.BLOCK_MINUTES.high,
            L.BREAK_MINUTES.low,
            L.BREAK_MINUTES.high,
        ),
    ),
    (r"the buttons expire after (\d+) minutes", (_minutes(L.DELETE_CONFIRM_WINDOW),)),
    (
        r"at most one message every (\d+) minutes and at most (\d+) per session",
        (L.MIN_GAP_MINUTES, L.MAX_MESSAGES),
    ),
    (r"It carries buttons (\d+)–(\d+) for your focus score", (L.SCORE.low, L.SCORE.high)),
    (
        r"A plain reply `(\d+)`–`(\d+)` scores your latest unscored session in that chat "
        r"from the last (\d+) hours",
        (L.SCORE.low, L.SCORE.high, int(L.SCORE_REPLY_WINDOW / timedelta(hours=1))),
    ),
    (
        r"longer than one focus block \((\d+) minutes\) gets a \"(\d+)-minute break\"",
        (L.DEFAULT_BLOCK_MINUTES, L.DEFAULT_BREAK_MINUTES),
    ),
    (
        r"At most \*\*one proactive message\*\* \(check-in or break message\) per session "
        r"every \*\*(\d+) minutes\*\*",
        (L.MIN_GAP_MINUTES,),
    ),
    (r"At most \*\*(\d+) proactive messages\*\* per session", (L.MAX_MESSAGES,)),
    (r"that were due more than (\d+) minutes ago are dropped", (L.LATE_WINDOW_MINUTES,)),
    (
        r"\*\*focus blocks\*\* of (\d+) minutes\. After each block comes a "
        r"\*\*(\d+)-minute break\*\*, but only when at least (\d+) more minutes of focus follow "
        r"it\. A plan holds\s+at most \*\*(\d+) breaks\*\* \(two messages each\), so that (\d+) "
        r"of the (\d+) messages stay for check-ins\s+\((\d+) breaks in a quiet session",
        (
            L.DEFAULT_BLOCK_MINUTES,
            L.DEFAULT_BREAK_MINUTES,
            L.MIN_GAP_MINUTES,
            (L.MAX_MESSAGES - L.CHECKIN_RESERVE) // 2,
            L.CHECKIN_RESERVE,
            L.MAX_MESSAGES,
            L.MAX_MESSAGES // 2,
        ),
    ),
    (
        r"one per (\d+) minutes of its length, on whole minutes, each at least (\d+) minutes "
        r"from the stretch's start and end \(so never in the first (\d+) minutes of a session\)",
        (L.CHECKIN_INTERVAL_MINUTES, L.MIN_GAP_MINUTES, L.FIRST_DELAY_MINUTES),
    ),
    (
        r"the (\d+)-minute gap \(it waits, within its (\d+)-minute window, or is dropped\), "
        r"and lateness \(more than (\d+) minutes late: dropped\)",
        (L.MIN_GAP_MINUTES, L.LATE_WINDOW_MINUTES, L.LATE_WINDOW_MINUTES),
    ),
    (
        r"`FOCUS_DEFAULT_MINUTES` \| Length of a `/focus` without a duration \((\d+)–(\d+)\)\. "
        r"\| `(\d+)`",
        (L.FOCUS_MINUTES.low, L.FOCUS_MINUTES.high, L.DEFAULT_FOCUS_MINUTES),
    ),
    (
        r"`FOCUS_BLOCK_MINUTES` \| Focus block length; [^|]*\((\d+)–(\d+), the same range as "
        r"`/settings block`\)\.[^|]*\| `(\d+)`",
        (L.BLOCK_MINUTES.low, L.BLOCK_MINUTES.high, L.DEFAULT_BLOCK_MINUTES),
    ),
    (
        r"`FOCUS_BREAK_MINUTES` \| Break length \((\d+)–(\d+)\)\. \| `(\d+)`",
        (L.BREAK_MINUTES.low, L.BREAK_MINUTES.high, L.DEFAULT_BREAK_MINUTES),
    ),
    (r"sessions, the (\d+)-minute gap, breaks, the pause limit", (L.MIN_GAP_MINUTES,)),
    (r"Above 0, at most (\d+)\.", (L.MAX_TIME_SCALE,)),
    (
        r"The guardrails \((\d+)-minute gap, (\d+) messages, (\d+)-minute lateness window, "
        r"(\d+)-minute pause limit\) are not settings",
        (L.MIN_GAP_MINUTES, L.MAX_MESSAGES, L.LATE_WINDOW_MINUTES, L.PAUSE_LIMIT_MINUTES),
    ),
    (
        r"fewer than (\d+) messages were claimed and the last one at least (\d+) minutes ago",
        (L.MAX_MESSAGES, L.MIN_GAP_MINUTES),
    ),
    (r"while inside its (\d+)-minute window", (L.LATE_WINDOW_MINUTES,)),
    (r"Telegram's 1–(\d+) bytes of `callback_data`", (MAX_DATA_BYTES,)),
]

ENV_CLAIMS: list[tuple[str, tuple[int, ...]]] = [
    (
        r"sessions, the (\d+)-minute gap, breaks, the pause limit\)",
        (L.MIN_GAP_MINUTES,),
    ),
    (r"Above 0, at most (\d+)\. FOCUS_TIME_SCALE=", (L.MAX_TIME_SCALE,)),
    (
        r"Length of a /focus with no duration, in minutes \((\d+)-(\d+)\)\. "
        r"FOCUS_DEFAULT_MINUTES=(\d+)",
        (L.FOCUS_MINUTES.low, L.FOCUS_MINUTES.high, L.DEFAULT_FOCUS_MINUTES),
    ),
    (
        r"gets breaks between blocks \((\d+)-(\d+) minutes, the same range as /settings block\)\. "
        r"FOCUS_BLOCK_MINUTES=(\d+)",
        (L.BLOCK_MINUTES.low, L.BLOCK_MINUTES.high, L.DEFAULT_BLOCK_MINUTES),
    ),
    (
        r"Break length in minutes \((\d+)-(\d+); never shorter than the (\d+)-minute message "
        r"gap\)\. FOCUS_BREAK_MINUTES=(\d+)",
        (
            L.BREAK_MINUTES.low,
            L.BREAK_MINUTES.high,
            L.MIN_GAP_MINUTES,
            L.DEFAULT_BREAK_MINUTES,
        ),
    ),
]


# The companion's numbers (README "Companion"; its "two 👍 in a row" and "😵 twice" are words,
# checked in test_the_companions_counts_in_words).
README_CLAIMS += [
    (
        r"The \*\*next check-in moves\*\* to (\d+) minutes after the answer \(never within "
        r"(\d+) minutes of the check-in answered\), if it then still leaves (\d+) minutes",
        (L.DISTRACTED_FOLLOWUP_MINUTES, L.MIN_GAP_MINUTES, L.MIN_GAP_MINUTES),
    ),
    (
        r"answered 😵 twice in the block just ended, or your last (\d+) scores each fell",
        (L.RECOVERY_FALLING_SCORES,),
    ),
    (
        r"offers ☕ a break (\d+) minutes longer \((\d+) → (\d+) with the default break\)",
        (
            L.RECOVERY_EXTRA_BREAK_MINUTES,
            L.DEFAULT_BREAK_MINUTES,
            L.DEFAULT_BREAK_MINUTES + L.RECOVERY_EXTRA_BREAK_MINUTES,
        ),
    ),
    (
        r"comes from your last (\d+) check-in answers and your last (\d+) scores",
        (L.CADENCE_HISTORY_ANSWERS, L.CADENCE_HISTORY_SCORES),
    ),
    (
        r"\| fewer than (\d+) answers \| (\d+) minutes of focus \(the standard\) \| "
        r"\| 👍 in at least (\d+)% of the answers, and an average score of (\d+) or more \| "
        r"(\d+) minutes \| \| 😵 in at least (\d+)% of the answers \| (\d+) minutes \|",
        (
            L.CADENCE_MIN_ANSWERS,
            L.CHECKIN_INTERVAL_MINUTES,
            round(L.CADENCE_CALM_ON_TRACK_SHARE * 100),
            round(L.CADENCE_CALM_SCORE),
            L.CADENCE_CALM_MINUTES,
            round(L.CADENCE_CLOSE_DISTRACTED_SHARE * 100),
            L.CADENCE_CLOSE_MINUTES,
        ),
    ),
]


def test_the_companions_counts_in_words() -> None:
    assert "Two 👍 On track answers in a row" in README
    assert L.FLOW_ON_TRACK_IN_A_ROW == 2
    assert "answered 😵 twice in the block just ended" in README
    assert L.RECOVERY_DISTRACTIONS_IN_BLOCK == 2


def _claim_id(value: object) -> str | None:
    """A readable test id: the words of the claim, without the regex."""
    if not isinstance(value, str):
        return "numbers"
    return "-".join(re.findall(r"[a-z]+", value.lower().replace(r"\d", "")))[:40]


def _stated(text: str, pattern: str) -> list[tuple[int, ...]]:
    found = [m.groups() for m in re.finditer(pattern, text)]
    return [tuple(int(n) for n in groups) for groups in found]


@pytest.mark.parametrize(("pattern", "expected"), README_CLAIMS, ids=_claim_id)
def test_readme_states_the_limits_of_the_code(pattern: str, expected: tuple[int, ...]) -> None:
    stated = _stated(README, pattern)
    assert stated, f"README no longer says {pattern!r}: say it again, or change this test"
    assert set(stated) == {expected}


@pytest.mark.parametrize(("pattern", "expected"), ENV_CLAIMS, ids=_claim_id)
def test_env_example_states_the_limits_of_the_code(pattern: str, expected: tuple[int, ...]) -> None:
    stated = _stated(ENV_EXAMPLE, pattern)
    assert stated, f".env.example no longer says {pattern!r}: say it again, or change this test"
    assert set(stated) == {expected}


# Ranges the README may state that are not product bounds of ours.
_NOT_OURS = {
    "20–200",  # microseconds a storage call takes (Architecture)
    "1–256",  # Telegram's rule for a webhook secret token
    f"1–{MAX_DATA_BYTES}",  # Telegram's bytes of callback data (checked above)
}


def test_every_range_in_the_readme_is_one_of_ours() -> None:
    """A new "N–M" in the README is either a bound in limits.py or declared above."""
    ours = {
        str(bound)
        for bound in (
            L.FOCUS_MINUTES,
            L.EXTEND_MINUTES,
            L.BLOCK_MINUTES,
            L.BREAK_MINUTES,
            L.SCORE,
            L.CORRECT_FOCUSED_MINUTES,
        )
    }
    # A decimal ("0.65–1.1 s", a measurement) is not a range of whole minutes.
    ranges = set(re.findall(r"(?<![\d.-])\d+–\d+(?![\d.-])", README))
    assert ranges - ours - _NOT_OURS == set()


# --- the database enforces some of them again ------------------------------------------------

MIGRATIONS = "\n".join(
    path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "storage" / "migrations").glob("*.sql"))
)


@pytest.mark.parametrize(
    ("column", "bound"),
    [
        ("default_minutes", L.FOCUS_MINUTES),
        ("block_minutes", L.BLOCK_MINUTES),
        ("break_minutes", L.BREAK_MINUTES),
        ("score", L.SCORE),
    ],
)
def test_database_checks_agree(column: str, bound: L.Bound) -> None:
    """Storage refuses what the bot refuses, no more and no less (its migrations are frozen,
    so limits.py must follow them)."""
    found = re.findall(rf"\b{column}\b[^,]*?BETWEEN (\d+) AND (\d+)", MIGRATIONS)
    assert found, f"no CHECK on {column}"
    assert {(int(low), int(high)) for low, high in found} == {(bound.low, bound.high)}


def test_database_checks_the_total_and_the_label() -> None:
    total = rf"CHECK \(planned_minutes BETWEEN 1 AND {L.MAX_TOTAL_MINUTES}\)"
    label = rf"CHECK \(label IS NULL OR length\(label\) BETWEEN 1 AND {L.LABEL_MAX_CHARS}\)"
    assert re.search(total, MIGRATIONS)
    assert re.search(label, MIGRATIONS)


# --- the operator and the user share each range ------------------------------------------------

_OPERATOR_FIELD = {
    "default": "focus_default_minutes",
    "block": "focus_block_minutes",
    "break": "focus_break_minutes",
}


def _operator_accepts(name: str, minutes: int) -> bool:
    try:
        Settings(_env_file=None, **{_OPERATOR_FIELD[name]: minutes})  # type: ignore[call-arg]
    except ValidationError:
        return False
    return True


def _user_accepts(name: str, minutes: int) -> bool:
    try:
        parse_setting(f"{name} {minutes}")
    except ParseError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(L.SETTING_MINUTES))
def test_operator_and_user_ranges_are_one(name: str) -> None:
    """FOCUS_BLOCK_MINUTES and /settings block (and the others) accept exactly the same
    values: what an operator sets as everyone's default, a user can choose back."""
    bound = L.SETTING_MINUTES[name]
    edges = range(bound.low - 6, bound.high + 2)
    assert [_operator_accepts(name, m) for m in edges] == [m in bound for m in edges]
    assert [_user_accepts(name, m) for m in edges] == [m in bound for m in edges]


def test_operator_defaults_are_the_products() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (
        settings.focus_default_minutes,
        settings.focus_block_minutes,
        settings.focus_break_minutes,
    ) == (L.DEFAULT_FOCUS_MINUTES, L.DEFAULT_BLOCK_MINUTES, L.DEFAULT_BREAK_MINUTES)
    assert settings.focus_default_minutes in L.FOCUS_MINUTES
    assert settings.focus_block_minutes in L.BLOCK_MINUTES
    assert settings.focus_break_minutes in L.BREAK_MINUTES


def test_policy_limits_default_to_the_guardrails() -> None:
    limits = Limits()
    assert (
        limits.min_gap_minutes,
        limits.max_messages,
        limits.first_delay_minutes,
        limits.checkin_interval_minutes,
        limits.late_window_minutes,
        limits.pause_limit_minutes,
    ) == (
        L.MIN_GAP_MINUTES,
        L.MAX_MESSAGES,
        L.FIRST_DELAY_MINUTES,
        L.CHECKIN_INTERVAL_MINUTES,
        L.LATE_WINDOW_MINUTES,
        L.PAUSE_LIMIT_MINUTES,
    )
    with pytest.raises(ValidationError):
        Limits(time_scale=L.MAX_TIME_SCALE + 1)


def test_bounds_are_frozen_and_check_whole_numbers() -> None:
    bound = L.Bound(5, 90)
    assert (5 in bound, 90 in bound, 4 in bound, 91 in bound) == (True, True, False, False)
    assert (True in L.SCORE, 2.5 in bound, "45" in bound) == (False, False, False)
    assert str(bound) == "5–90"
    with pytest.raises(AttributeError):
        bound.low = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="empty range"):
        L.Bound(3, 2)


def test_readme_states_the_routine_limits() -> None:
    """The goal's range, the late window and the unanswered count, as the README says them."""
    assert f"{L.GOAL_MINUTES.low} minutes to {L.GOAL_MINUTES.high // 60} hours" in README
    late = int(L.REMINDER_LATE_WINDOW / timedelta(minutes=1))
    assert f"more than {late} minutes late is dropped" in README
    assert f"after {L.IGNORED_REMINDERS} reminders in a row left unanswered" in README
    found = re.findall(r"goal_minutes[^,]*?BETWEEN (\d+) AND (\d+)", MIGRATIONS)
    assert found == [(str(L.GOAL_MINUTES.low), str(L.GOAL_MINUTES.high))]


def test_readme_states_the_zone_question() -> None:
    match = re.search(
        r"with (\d+) buttons showing the time now at the most common offsets \(([^)]*)\)", README
    )
    assert match is not None
    assert int(match.group(1)) == len(L.ZONE_QUESTION_OFFSETS)
    said = [part.strip().removeprefix("UTC") for part in match.group(2).split(",")]
    written = [
        f"{o // 60:+d}" if o % 60 == 0 else f"{o // 60:+d}:{o % 60:02d}"
        for o in L.ZONE_QUESTION_OFFSETS
    ]
    assert [s if s.startswith(("+", "-")) or s == "0" else "+" + s for s in said] == [
        w if w != "+0" else "0" for w in written
    ]
