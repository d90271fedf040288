"""The product's bounds agree wherever they are stated."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.parsing import SETTING_RANGES, ParseError, parse_setting
from bot.settings import Settings

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


@pytest.mark.parametrize("name", sorted(SETTING_RANGES))
def test_operator_and_user_ranges_are_one(name: str) -> None:
    """FOCUS_BLOCK_MINUTES and /settings block (and the others) accept exactly the same
    values: what an operator sets as everyone's default, a user can choose back."""
    low, high = SETTING_RANGES[name]
    edges = range(low - 6, high + 2)
    assert [_operator_accepts(name, m) for m in edges] == [low <= m <= high for m in edges]
    assert [_user_accepts(name, m) for m in edges] == [low <= m <= high for m in edges]
