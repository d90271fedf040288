"""Hand-written fakes shared by the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["T0", "FakeClock"]

T0 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
"""A Monday morning; the tests' usual start of time."""


class FakeClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, start: datetime = T0) -> None:
        if start.utcoffset() is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        """The fake current time."""
        return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move time forward by ``delta`` or by timedelta keyword arguments."""
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise ValueError("time only moves forward")
        self._now += step
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (forward only)."""
        self.advance(moment - self._now)
