"""The focus curve and the friction points (``nudges/curve.py``) from hand-made stories."""

from __future__ import annotations

from datetime import timedelta

from nudges.curve import Friction, SessionStory, Stretch, focus_curve, friction_points
from tests.support.fakes import T0

MIN = timedelta(minutes=1)
F, D, P, B = Stretch.FOCUSED, Stretch.DISTRACTED, Stretch.PAUSED, Stretch.BREAK


def test_a_plain_45_minute_session() -> None:
    """45 of focus + the break 25–30: 50 minutes, 10 marks."""
    story = SessionStory(T0, T0 + 50 * MIN, breaks=((25 * MIN, 30 * MIN),))
    assert focus_curve(story, 5 * MIN) == [F, F, F, F, F, B, F, F, F, F]


def test_pauses_move_the_breaks_and_show_as_paused() -> None:
    """Paused 10–20 (wall): the break (active 25–30) comes at wall 35–40; the end at 60.
    Distracted at minute 47."""
    story = SessionStory(
        T0,
        T0 + 60 * MIN,
        pauses=((T0 + 10 * MIN, T0 + 20 * MIN),),
        breaks=((25 * MIN, 30 * MIN),),
        distracted=(T0 + 47 * MIN,),
    )
    assert focus_curve(story, 5 * MIN) == [F, F, P, P, F, F, F, B, F, D, F, F]
    assert friction_points(story) == [
        Friction(10, P, 10 * MIN),
        Friction(47, D),
    ]


def test_a_short_last_stretch_counts_only_from_half() -> None:
    story = SessionStory(T0, T0 + 12 * MIN)
    assert focus_curve(story, 5 * MIN) == [F, F]
    story = SessionStory(T0, T0 + 13 * MIN)
    assert focus_curve(story, 5 * MIN) == [F, F, F]
    assert focus_curve(SessionStory(T0, T0 + 1 * MIN), 5 * MIN) == [F]


def test_friction_minutes_are_nominal_under_a_time_scale() -> None:
    """At 60×, a real second is a minute."""
    second = timedelta(seconds=1)
    story = SessionStory(T0, T0 + 45 * second, pauses=((T0 + 31 * second, T0 + 37 * second),))
    assert friction_points(story, scale=60) == [Friction(31, P, 6 * MIN)]


def test_flow_marks_the_stretches_it_covers_after_distraction_and_breaks() -> None:
    """Flow from 25 to 50 of a 90-minute session in 50-minute blocks: stretches 25–50 are
    flow; a 😵 inside flow still shows as distracted (it comes first); the break stays one."""
    story = SessionStory(
        started_at=T0,
        ended_at=T0 + timedelta(minutes=95),
        breaks=((timedelta(minutes=50), timedelta(minutes=55)),),
        distracted=(T0 + timedelta(minutes=31),),
        flow=((timedelta(minutes=25), timedelta(minutes=50)),),
    )
    curve = focus_curve(story, timedelta(minutes=5))
    assert curve[4] is Stretch.FOCUSED  # 20–25
    assert curve[5] is Stretch.FLOW  # 25–30
    assert curve[6] is Stretch.DISTRACTED  # 30–35: the answer at 31
    assert curve[7:10] == [Stretch.FLOW] * 3  # 35–50
    assert curve[10] is Stretch.BREAK  # 50–55
    assert curve[11] is Stretch.FOCUSED  # 55–60
