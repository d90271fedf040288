"""A session's story in time: its focus curve and its friction points, from what was recorded.

Pure, like the policy. The summary shows one glyph per 5-minute stretch of the session's wall
time (``limits.CURVE_STRETCH_MINUTES``) and the moments that cost focus.

Extending it (flow, from the in-session adaptivity): add a member to :class:`Stretch` with its
glyph in :data:`GLYPHS`, give :class:`SessionStory` the recorded facts it needs (e.g. the
times of 👍 On track answers), and add its rule to :func:`stretch_state` at its place in the
precedence — paused, break, distracted, [flow], focused: the first that holds names the
stretch. Nothing else needs to change; the summary renders whatever states come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "GLYPHS",
    "Friction",
    "SessionStory",
    "Stretch",
    "focus_curve",
    "friction_points",
    "stretch_state",
]


class Stretch(StrEnum):
    """What a stretch of the session mostly was."""

    FOCUSED = "focused"
    FLOW = "flow"
    DISTRACTED = "distracted"
    PAUSED = "paused"
    BREAK = "break"


GLYPHS: Final = MappingProxyType(
    {
        Stretch.FOCUSED: "█",
        Stretch.FLOW: "▇",
        Stretch.DISTRACTED: "▒",
        Stretch.PAUSED: "░",
        Stretch.BREAK: "▁",
    }
)
"""One character each, all of one width in a phone's chat font."""


@dataclass(frozen=True)
class SessionStory:
    """What was recorded about an ended session, in wall time (UTC)."""

    started_at: datetime
    ended_at: datetime
    pauses: Sequence[tuple[datetime, datetime]] = ()  # (paused, resumed or ended)
    breaks: Sequence[tuple[timedelta, timedelta]] = ()  # the plan's, in active time
    distracted: Sequence[datetime] = field(default_factory=tuple)  # 😵 Distracted answers
    flow: Sequence[tuple[timedelta, timedelta]] = ()  # in flow (nudges.companion), active time

    def wall(self, active: timedelta) -> datetime:
        """Wall time at which the session's own clock showed ``active`` (pauses skipped)."""
        at = self.started_at + active
        for start, end in sorted(self.pauses):
            if start < at:
                at += end - start
        return at

    def wall_breaks(self) -> list[tuple[datetime, datetime]]:
        """The breaks in wall time."""
        return [(self.wall(start), self.wall(end)) for start, end in self.breaks]

    def wall_flow(self) -> list[tuple[datetime, datetime]]:
        """The stretches in flow, in wall time."""
        return [(self.wall(start), self.wall(end)) for start, end in self.flow]


def _overlap(a: datetime, b: datetime, spans: Sequence[tuple[datetime, datetime]]) -> timedelta:
    total = timedelta(0)
    for start, end in spans:
        total += max(timedelta(0), min(b, end) - max(a, start))
    return total


def stretch_state(story: SessionStory, start: datetime, end: datetime) -> Stretch:
    """The state of the wall-time stretch [start, end): the first that holds of paused (half
    of it or more), break (half or more), distracted (an answer in it), flow (half or more),
    focused."""
    half = (end - start) / 2
    if _overlap(start, end, story.pauses) >= half:
        return Stretch.PAUSED
    if _overlap(start, end, story.wall_breaks()) >= half:
        return Stretch.BREAK
    if any(start <= at < end for at in story.distracted):
        return Stretch.DISTRACTED
    if _overlap(start, end, story.wall_flow()) >= half:
        return Stretch.FLOW
    return Stretch.FOCUSED


def focus_curve(story: SessionStory, stretch: timedelta) -> list[Stretch]:
    """The session cut into stretches of ``stretch`` from its start (a last, shorter one
    counts when it is at least half a stretch long), each with its state."""
    states: list[Stretch] = []
    at = story.started_at
    while at < story.ended_at:
        end = min(at + stretch, story.ended_at)
        if end - at >= stretch / 2 or not states:
            states.append(stretch_state(story, at, at + stretch))
        at += stretch
    return states


@dataclass(frozen=True)
class Friction:
    """A moment that cost focus: ``minute`` of the session (wall time from its start)."""

    minute: int
    kind: Stretch  # PAUSED or DISTRACTED
    length: timedelta | None = None  # a pause's length


def friction_points(story: SessionStory, scale: float = 1) -> list[Friction]:
    """Pauses and distractions in the order they happened; minutes and lengths nominal
    (``scale``: the session's time scale)."""

    def minute(at: datetime) -> int:
        return int((at - story.started_at).total_seconds() * scale // 60)

    points = [Friction(minute(s), Stretch.PAUSED, (e - s) * scale) for s, e in story.pauses]
    points += [Friction(minute(at), Stretch.DISTRACTED) for at in story.distracted]
    return sorted(points, key=lambda p: p.minute)
