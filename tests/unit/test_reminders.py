"""The pure rules of reminders and reviews: local times to UTC, DST days, quiet hours."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from nudges.reminders import (
    QuietWindow,
    ReminderRule,
    ReviewRule,
    local_instant,
    next_reminder,
    next_review,
    week_key,
)

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("day", "minute", "expected"),
    [
        (date(2026, 3, 28), 150, datetime(2026, 3, 28, 1, 30, tzinfo=UTC)),  # 02:30 CET
        # Spring forward: 02:30 does not exist; the first valid local time is 03:00 CEST.
        (date(2026, 3, 29), 150, datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        (date(2026, 3, 30), 150, datetime(2026, 3, 30, 0, 30, tzinfo=UTC)),  # 02:30 CEST
        # Fall back: 02:30 happens twice; the first is 02:30 CEST.
        (date(2026, 10, 25), 150, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        (date(2026, 10, 25), 9 * 60 + 30, datetime(2026, 10, 25, 8, 30, tzinfo=UTC)),
    ],
)
def test_local_instant_across_dst(day: date, minute: int, expected: datetime) -> None:
    assert local_instant(day, minute, BERLIN) == expected


def test_next_reminder_is_once_a_day_through_both_dst_changes() -> None:
    rule = ReminderRule(150)
    for start, days in (
        (datetime(2026, 3, 27, tzinfo=UTC), 5),
        (datetime(2026, 10, 23, tzinfo=UTC), 5),
    ):
        now, seen = start, []
        after = None
        for _ in range(days):
            found = next_reminder(rule, BERLIN, None, now, after_day=after)
            assert found is not None
            seen.append(found.day)
            now, after = found.at, found.day
        assert seen == sorted(set(seen)) and len(seen) == days  # one per day, none skipped
        assert [(b - a).days for a, b in pairwise(seen)] == [1] * (days - 1)


def test_next_reminder_weekdays_and_after_day() -> None:
    rule = ReminderRule(9 * 60, weekdays_only=True)
    friday_noon = datetime(2026, 3, 13, 12, 0, tzinfo=UTC)
    found = next_reminder(rule, UTC, None, friday_noon)
    assert found is not None and found.day == date(2026, 3, 16)  # Monday
    # Today's time still ahead, but today already handled: tomorrow.
    early = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    found = next_reminder(ReminderRule(9 * 60), UTC, None, early, after_day=date(2026, 3, 10))
    assert found is not None and found.day == date(2026, 3, 11)


def test_quiet_hours_hold_reminders_and_move_the_review() -> None:
    quiet = QuietWindow(22 * 60, 7 * 60)
    assert 23 * 60 in quiet and 6 * 60 + 59 in quiet and 7 * 60 not in quiet
    now = datetime(2026, 3, 9, tzinfo=UTC)
    assert next_reminder(ReminderRule(6 * 60 + 30), UTC, quiet, now) is None
    assert next_reminder(ReminderRule(7 * 60), UTC, quiet, now) is not None
    late_review = ReviewRule(6, 23 * 60)
    assert late_review.moved_out_of(quiet) == 7 * 60
    found = next_review(late_review, UTC, quiet, now)
    assert found.at == datetime(2026, 3, 15, 7, 0, tzinfo=UTC)  # Sunday, at quiet's end


def test_review_default_sunday_18_and_week_key() -> None:
    found = next_review(ReviewRule(), BERLIN, None, datetime(2026, 3, 9, tzinfo=UTC))
    assert found.day == date(2026, 3, 15) and found.at == datetime(2026, 3, 15, 17, 0, tzinfo=UTC)
    assert week_key(found.day) == "2026-W11"


@pytest.mark.parametrize(
    ("bad", "why"), [((-1, 5), "outside"), ((0, 1440), "outside"), ((60, 60), "differ")]
)
def test_quiet_window_is_valid_by_construction(bad: tuple[int, int], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        QuietWindow(*bad)
