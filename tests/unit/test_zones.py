"""Finding a zone from the answer to "What time is it for you now?", and reading /review:
pure functions, fixed aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.timefmt import zone
from bot.core.zones import city_zone, guesses, offset_from_local_time, offset_zone
from bot.telegram.parsing import (
    ParseError,
    ReviewChange,
    ZoneAnswer,
    parse_review,
    parse_zone_answer,
)
from nudges import limits as L

NOW = datetime(2026, 3, 25, 12, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "quarters", range(L.ZONE_OFFSET_MINUTES.low // 15, L.ZONE_OFFSET_MINUTES.high // 15 + 1)
)
def test_every_offset_becomes_a_zone_with_that_offset(quarters: int) -> None:
    offset = quarters * 15
    name = offset_zone(offset)
    assert zone(name).utcoffset(NOW) == timedelta(minutes=offset)  # the sign is right


def test_whole_hours_are_etc_zones_with_the_posix_sign() -> None:
    assert offset_zone(180) == "Etc/GMT-3"  # UTC+03:00
    assert offset_zone(-300) == "Etc/GMT+5"  # UTC-05:00
    assert offset_zone(840) == "Etc/GMT-14"
    assert offset_zone(-720) == "Etc/GMT+12"
    assert offset_zone(0) == "UTC"
    assert offset_zone(330) == "+05:30"
    assert offset_zone(-570) == "-09:30"
    with pytest.raises(ValueError, match="outside"):
        offset_zone(845)


@pytest.mark.parametrize(
    ("typed", "offset"),
    [
        ("15:07", 180),
        ("15:08", 180),  # read a minute late
        ("15:05", 180),
        ("12:07", 0),
        ("07:07", -300),
        ("17:37", 330),
        ("17:52", 345),  # Nepal
        ("01:07", 780),  # across the date line: +13 rather than -11
        ("02:07", 840),
        ("00:07", 720),  # +12 and -12 show the same time: the eastern one, as above
    ],
)
def test_a_typed_time_gives_the_nearest_quarter_hour_offset(typed: str, offset: int) -> None:
    hours, minutes = map(int, typed.split(":"))
    assert offset_from_local_time(hours * 60 + minutes, NOW) == offset


def test_offset_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        offset_from_local_time(600, NOW.replace(tzinfo=None))


def test_cities_are_found_as_people_write_them() -> None:
    assert city_zone("berlin") == "Europe/Berlin"
    assert city_zone("New York") == "America/New_York"
    assert city_zone("sao_paulo") == "America/Sao_Paulo"
    assert city_zone("  KOLKATA ") == "Asia/Kolkata"
    assert city_zone("atlantis") is None
    assert city_zone("") is None
    assert city_zone("x" * 65) is None


def test_the_question_offers_eight_local_times_in_clock_order() -> None:
    found = guesses(NOW)
    assert len(found) == len(L.ZONE_QUESTION_OFFSETS) <= 8
    assert [g.label for g in found] == sorted(g.label for g in found)
    for guess in found:
        assert (NOW + timedelta(minutes=guess.offset)).strftime("%H:%M") == guess.label


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("14:35", ZoneAnswer(minute=14 * 60 + 35)),
        ("2:35 pm", ZoneAnswer(minute=14 * 60 + 35)),
        ("12:05 am", ZoneAnswer(minute=5)),
        ("9.15", ZoneAnswer(minute=9 * 60 + 15)),
        ("berlin", ZoneAnswer(zone="Europe/Berlin")),
        ("Europe/Berlin", ZoneAnswer(zone="Europe/Berlin")),
        ("+03:00", ZoneAnswer(zone="+03:00")),
        ("4", None),  # a score, never a time
        ("14", None),
        ("25:00", None),
        ("13:00 pm", None),
        ("hello", None),
        ("", None),
    ],
)
def test_typed_answers(text: str, answer: ZoneAnswer | None) -> None:
    assert parse_zone_answer(text) == answer


@pytest.mark.parametrize(
    ("text", "change"),
    [
        ("", None),
        ("off", ReviewChange(on=False)),
        ("on", ReviewChange(on=True)),
        ("sun 18:00", ReviewChange(on=True, weekday=6, minute=18 * 60)),
        ("Friday 17:30", ReviewChange(on=True, weekday=4, minute=17 * 60 + 30)),
        ("19:00", ReviewChange(on=True, minute=19 * 60)),
        ("mon", ReviewChange(on=True, weekday=0)),
        ("18:00 sun", ReviewChange(on=True, weekday=6, minute=18 * 60)),
    ],
)
def test_review_arguments(text: str, change: ReviewChange | None) -> None:
    assert parse_review(text) == change


@pytest.mark.parametrize("text", ["someday", "sun 25:00", "sun mon", "18:00 19:00", "sun 18:00 x"])
def test_review_bad_arguments(text: str) -> None:
    with pytest.raises(ParseError):
        parse_review(text)
