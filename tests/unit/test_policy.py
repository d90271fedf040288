"""Table-driven tests of the pure nudge policy (``nudges/policy.py``) on fixed aware datetimes.

Every time is written as nominal minutes after the session's start (``T0``), and every
expectation was computed by hand from the rules in the policy's module docstring, with the
default limits: check-ins every 15 minutes and at least 5 minutes from a block's edges, blocks
of 25 minutes, breaks of 5 minutes, at most one message per 5 minutes, at most 8 per session,
missed messages dropped when more than 2 minutes late, a pause longer than 30 minutes ends it.

The timeline tests play the dispatcher: at each tick they call ``decide`` until it waits,
recording every Send and Drop in the state, as the scheduler records them in storage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from nudges.policy import (
    Decision,
    Delivery,
    DeliveryStatus,
    Drop,
    Finish,
    Idle,
    Limits,
    PauseExpired,
    Send,
    SessionState,
    Wait,
    decide,
    make_plan,
)
from tests.support.fakes import T0

MIN = timedelta(minutes=1)
LIMITS = Limits()
SENT = DeliveryStatus.SENT
SENDING = DeliveryStatus.SENDING
DROPPED = DeliveryStatus.DROPPED


# --- helpers ----------------------------------------------------------------------------------


def at(minutes: float) -> datetime:
    """The instant ``minutes`` after T0."""
    return T0 + minutes * MIN


def history(times: Mapping[str, float], status: DeliveryStatus = SENT) -> dict[str, Delivery]:
    """Deliveries recorded at the given minutes after T0, all with one status."""
    return {key: Delivery(status, at(minute)) for key, minute in times.items()}


def session(planned: int = 45, **update: object) -> SessionState:
    """A session started at T0 with the default block and break lengths."""
    return SessionState.model_validate({"started_at": T0, "planned_minutes": planned, **update})


def record(state: SessionState, key: str, status: DeliveryStatus, now: datetime) -> SessionState:
    """The state with one more delivery recorded, as the dispatcher records it."""
    return state.model_copy(update={"deliveries": {**state.deliveries, key: Delivery(status, now)}})


def minutes_between(start: datetime, moment: datetime, limits: Limits = LIMITS) -> float:
    """Nominal minutes from ``start`` to ``moment``, on absolute (UTC) time."""
    return (moment.astimezone(UTC) - start.astimezone(UTC)) / limits.span(1)


def describe(
    decision: Decision, start: datetime = T0, limits: Limits = LIMITS
) -> tuple[object, ...]:
    """A decision as a short, comparable tuple with times in nominal minutes after ``start``."""

    def minutes(moment: datetime) -> float:
        return minutes_between(start, moment, limits)

    match decision:
        case Send(slot, due_at):
            return ("send", slot.key, minutes(due_at))
        case Drop(slot, due_at, reason):
            return ("drop", slot.key, minutes(due_at), reason.split(":")[0])
        case Wait(until):
            return ("wait", minutes(until))
        case Finish(end, late):
            return ("finish", minutes(end), late)
        case PauseExpired(end, late):
            return ("expired", minutes(end), late)
        case Idle():
            return ("idle",)
    raise AssertionError(f"unknown decision {decision!r}")


def settle(
    state: SessionState, limits: Limits, now: datetime
) -> tuple[SessionState, list[Decision]]:
    """Call ``decide`` at ``now`` until it waits or ends, recording each Send and Drop."""
    decisions: list[Decision] = []
    for _ in range(100):
        decision = decide(state, limits, now)
        decisions.append(decision)
        match decision:
            case Send(slot):
                state = record(state, slot.key, SENT, now)
            case Drop(slot):
                state = record(state, slot.key, DROPPED, now)
            case Finish() | PauseExpired():
                return state.model_copy(update={"ended": True}), decisions
            case _:
                return state, decisions
    raise AssertionError("decide never settled")


def apply(state: SessionState, event: str, now: datetime) -> SessionState:
    """A user action: ``pause``, ``resume``, ``stop`` or ``extend N``."""
    if event == "pause":
        return state.model_copy(update={"paused_at": now})
    if event == "resume":
        assert state.paused_at is not None
        return state.model_copy(
            update={"paused": state.paused + (now - state.paused_at), "paused_at": None}
        )
    if event == "stop":
        return state.model_copy(update={"ended": True})
    verb, amount = event.split()
    assert verb == "extend"
    return state.model_copy(update={"planned_minutes": state.planned_minutes + int(amount)})


def timeline(
    planned: int,
    *,
    limits: Limits = LIMITS,
    start: datetime = T0,
    events: Mapping[int, str] | None = None,
    ticks: Iterable[int] = range(0, 121),
) -> list[tuple[object, ...]]:
    """What a session does when the dispatcher looks at it once per nominal minute of ``ticks``.

    Returns ``(minute, *describe(decision))`` for every Send, Drop, Finish and PauseExpired;
    user ``events`` happen at their minute, after the dispatcher has looked at the session.
    """
    events = events or {}
    state = SessionState(started_at=start, planned_minutes=planned)
    origin = start.astimezone(UTC)  # the clock tells UTC, whatever zone the start was in
    log: list[tuple[object, ...]] = []
    for minute in ticks:
        now = origin + limits.span(minute)
        state, decisions = settle(state, limits, now)
        if minute in events:
            state = apply(state, events[minute], now)
            state, more = settle(state, limits, now)
            decisions += more
        log += [
            (minute, *describe(d, start, limits))
            for d in decisions
            if not isinstance(d, Wait | Idle)
        ]
    return log


# --- the plan ---------------------------------------------------------------------------------

PLANS = [
    (5, [], 5),
    (10, [], 10),
    (25, [("checkin:1.1", 12)], 25),
    # 1 minute of focus after the first block: too little for a break, nor for a check-in.
    (26, [("checkin:1.1", 12)], 26),
    # 5 minutes left after the first block: exactly min_gap, so a break, then 5 more minutes.
    (30, [("checkin:1.1", 12), ("break:1", 25), ("back:1", 30)], 35),
    (
        45,
        [("checkin:1.1", 12), ("break:1", 25), ("back:1", 30), ("checkin:2.1", 40)],
        50,
    ),
    (
        90,
        [
            ("checkin:1.1", 12),
            ("break:1", 25),
            ("back:1", 30),
            ("checkin:2.1", 42),
            ("break:2", 55),
            ("back:2", 60),
            ("checkin:3.1", 72),
            ("break:3", 85),
            ("back:3", 90),
            ("checkin:4.1", 97),  # 15-minute block 90..105: 90 + floor(7.5)
        ],
        105,
    ),
    (
        # Over 3 breaks of usual blocks: 4 blocks of 45, one check-in in blocks 1 and 3
        # (limits.CHECKIN_RESERVE); before, 4 breaks took all 8 messages by minute 120.
        180,
        [
            ("checkin:1.1", 22),
            ("break:1", 45),
            ("back:1", 50),
            ("break:2", 95),
            ("back:2", 100),
            ("checkin:3.1", 122),
            ("break:3", 145),
            ("back:3", 150),
        ],
        195,
    ),
]


@pytest.mark.parametrize("scale", [1, 60])
@pytest.mark.parametrize(("planned", "slots", "total"), PLANS)
def test_plan_slots_and_total(
    planned: int, slots: list[tuple[str, int]], total: int, scale: int
) -> None:
    """Slot keys, offsets and the total are as computed by hand; time_scale only shrinks them."""
    unit = MIN / scale
    plan = make_plan(session(planned), Limits(time_scale=scale))

    assert [(s.key, s.offset) for s in plan.slots] == [(k, m * unit) for k, m in slots]
    assert plan.total == total * unit


@pytest.mark.parametrize(
    ("planned", "breaks"),
    [(45, [(25, 30)]), (90, [(25, 30), (55, 60), (85, 90)]), (25, [])],
)
def test_plan_breaks(planned: int, breaks: list[tuple[int, int]]) -> None:
    """Breaks come on top of the focus: each is (start, end) in active time."""
    plan = make_plan(session(planned), LIMITS)

    assert plan.breaks == tuple((a * MIN, b * MIN) for a, b in breaks)


def test_plan_without_checkins_keeps_the_breaks() -> None:
    """checkins=False leaves only break and back-to-work slots."""
    plan = make_plan(session(45, checkins=False), LIMITS)

    assert [(s.key, s.offset / MIN) for s in plan.slots] == [("break:1", 25), ("back:1", 30)]
    assert plan.total == 50 * MIN


def test_dropped_break_is_closed_up() -> None:
    """A break whose announcement was dropped did not happen: what follows moves earlier."""
    state = session(45, deliveries=history({"checkin:1.1": 12}) | history({"break:1": 25}, DROPPED))
    plan = make_plan(state, LIMITS)

    assert [(s.key, s.offset / MIN) for s in plan.slots] == [
        ("checkin:1.1", 12),
        ("checkin:2.1", 35),  # the 20-minute block now runs 25..45
    ]
    assert plan.breaks == ()
    assert plan.total == 45 * MIN


# --- single decisions -------------------------------------------------------------------------

ALL_OF_45 = history({"checkin:1.1": 12, "break:1": 25, "back:1": 30, "checkin:2.1": 40})

DECISIONS = [
    ("at the start", session(45), 0, ("wait", 12)),
    ("just before the first slot", session(45), 11.5, ("wait", 12)),
    ("exactly at a slot", session(45), 12, ("send", "checkin:1.1", 12)),
    ("1 minute late", session(45), 13, ("send", "checkin:1.1", 12)),
    ("2 minutes late: the edge of the window", session(45), 14, ("send", "checkin:1.1", 12)),
    ("3 minutes late", session(45), 15, ("drop", "checkin:1.1", 12, "missed")),
    (
        "after a send, the next slot",
        session(45, deliveries=history({"checkin:1.1": 12})),
        13,
        ("wait", 25),
    ),
    ("paused", session(45, paused_at=at(10)), 20, ("wait", 40)),
    ("paused while a slot is due", session(45, paused_at=at(12)), 13, ("wait", 42)),
    ("paused exactly 30 minutes", session(45, paused_at=at(10)), 40, ("expired", 40, False)),
    ("paused 31 minutes", session(45, paused_at=at(10)), 41, ("expired", 40, False)),
    ("paused 45 minutes", session(45, paused_at=at(10)), 55, ("expired", 40, True)),
    ("a past pause moves the slots", session(45, paused=10 * MIN), 12, ("wait", 22)),
    (
        "a past pause moves the due time",
        session(45, paused=10 * MIN),
        23,
        ("send", "checkin:1.1", 22),
    ),
    ("all sent, before the end", session(45, deliveries=ALL_OF_45), 45, ("wait", 50)),
    ("at the end", session(45, deliveries=ALL_OF_45), 50, ("finish", 50, False)),
    ("2 minutes after the end", session(45, deliveries=ALL_OF_45), 52, ("finish", 50, False)),
    ("3 minutes after the end", session(45, deliveries=ALL_OF_45), 53, ("finish", 50, True)),
    (
        "a past pause moves the end",
        session(45, deliveries=ALL_OF_45, paused=10 * MIN),
        59,
        ("wait", 60),
    ),
    (
        "down past the end: missed slots first",
        session(45),
        60,
        ("drop", "checkin:1.1", 12, "missed"),
    ),
    ("ended", session(45, ended=True), 12, ("idle",)),
    ("ended while paused", session(45, ended=True, paused_at=at(10)), 50, ("idle",)),
    ("5-minute session: nothing before the end", session(5), 0, ("wait", 5)),
    ("5-minute session: end", session(5), 5, ("finish", 5, False)),
]


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [pytest.param(s, n, e, id=i) for i, s, n, e in DECISIONS],
)
def test_decide_at_an_instant(
    state: SessionState, now: float, expected: tuple[object, ...]
) -> None:
    """One call to decide, at a chosen instant."""
    assert describe(decide(state, LIMITS, at(now))) == expected


GAPS = [
    # (now, when checkin:1.1 was recorded, its status, decision about break:1 due at 25)
    (25, 20, SENT, ("send", "break:1", 25)),
    (25, 21, SENT, ("wait", 26)),
    (25, 22, SENT, ("wait", 27)),  # ready at 27 = the edge of the late window
    (25, 23, SENT, ("drop", "break:1", 25, "gap")),  # 2 minutes ago: ready at 28, too late
    (26, 22, SENT, ("wait", 27)),
    (26, 24, SENT, ("drop", "break:1", 25, "gap")),  # 2 minutes ago
    (25, 23, SENDING, ("drop", "break:1", 25, "gap")),  # a claim might have gone out
    (25, 23, DROPPED, ("send", "break:1", 25)),  # a drop never went out
]


@pytest.mark.parametrize(("now", "last", "status", "expected"), GAPS)
def test_gap_between_messages(
    now: int, last: int, status: DeliveryStatus, expected: tuple[object, ...]
) -> None:
    """A recent message delays a due one to last + 5 minutes, or drops it if that is too late."""
    state = session(45, deliveries=history({"checkin:1.1": last}, status))

    assert describe(decide(state, LIMITS, at(now))) == expected


FIRST_SIX_OF_90 = {
    "checkin:1.1": 12,
    "break:1": 25,
    "back:1": 30,
    "checkin:2.1": 42,
    "break:2": 55,
    "back:2": 60,
}
FIRST_FIVE_OF_180 = {
    "checkin:1.1": 22,
    "break:1": 45,
    "back:1": 50,
    "break:2": 95,
    "back:2": 100,
}
THREE_OTHERS = {"x": 105, "y": 110, "z": 115}  # counted messages of no slot of the plan

BUDGETS = [
    (
        "8 sent: a check-in is dropped",
        session(180, deliveries=history(FIRST_FIVE_OF_180 | THREE_OTHERS)),
        122,
        ("drop", "checkin:3.1", 122, "budget"),
    ),
    (
        "8 counted, one still sending: dropped too",
        session(
            180,
            deliveries=history(FIRST_FIVE_OF_180 | {"x": 105, "y": 110})
            | history({"z": 115}, SENDING),
        ),
        122,
        ("drop", "checkin:3.1", 122, "budget"),
    ),
    (
        "8 sent: a break is dropped",
        session(90, deliveries=history(FIRST_SIX_OF_90 | {"checkin:3.1": 72, "x": 80})),
        85,
        ("drop", "break:3", 85, "budget"),
    ),
    (
        "7 sent: no room for the back-to-work message",
        session(90, deliveries=history(FIRST_SIX_OF_90 | {"checkin:3.1": 72})),
        85,
        ("drop", "break:3", 85, "budget"),
    ),
    (
        "6 sent, one break ahead: the check-in is kept for it",
        session(90, deliveries=history(FIRST_SIX_OF_90)),
        72,
        ("drop", "checkin:3.1", 72, "budget"),
    ),
    (
        "6 sent, no break ahead: the check-in goes",
        session(
            90,
            deliveries=history(FIRST_SIX_OF_90)
            | history({"checkin:3.1": 72, "break:3": 85}, DROPPED),
        ),
        92,
        ("send", "checkin:4.1", 92),  # break 3 closed up: block 4 runs 85..100
    ),
    (
        "a long session's plan keeps room for check-ins: the first goes",
        session(180),
        22,
        ("send", "checkin:1.1", 22),
    ),
    (
        "3 breaks ahead leave room for one check-in",
        session(90),
        12,
        ("send", "checkin:1.1", 12),
    ),
]


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [pytest.param(s, n, e, id=i) for i, s, n, e in BUDGETS],
)
def test_budget(state: SessionState, now: int, expected: tuple[object, ...]) -> None:
    """At most 8 counted messages, a break only with room for its back, breaks before check-ins."""
    assert describe(decide(state, LIMITS, at(now))) == expected


def test_break_dropped_for_budget_closes_up_the_plan() -> None:
    """With one message left, break 3 is dropped, the plan shrinks by 5 and check-in 4.1 goes."""
    state = session(90, deliveries=history(FIRST_SIX_OF_90 | {"checkin:3.1": 72}))
    steps = []
    for now in (85, 85, 92, 92, 100):
        decision = decide(state, LIMITS, at(now))
        steps.append(describe(decision))
        if isinstance(decision, Send | Drop):
            status = SENT if isinstance(decision, Send) else DROPPED
            state = record(state, decision.slot.key, status, at(now))

    assert steps == [
        ("drop", "break:3", 85, "budget"),
        ("wait", 92),  # block 4 now runs 85..100: its check-in at 85 + floor(7.5)
        ("send", "checkin:4.1", 92),
        ("wait", 100),
        ("finish", 100, False),
    ]
    assert make_plan(state, LIMITS).total == 100 * MIN


def test_back_to_work_is_never_sent_for_a_dropped_break() -> None:
    """Once break 1 is dropped its back-to-work slot is gone, even at its old due time."""
    state = session(45, deliveries=history({"checkin:1.1": 12}) | history({"break:1": 25}, DROPPED))

    assert "back:1" not in {s.key for s in make_plan(state, LIMITS).slots}
    assert describe(decide(state, LIMITS, at(30))) == ("wait", 35)


# --- whole sessions, minute by minute ----------------------------------------------------------

PLAIN_45 = [
    (12, "send", "checkin:1.1", 12),
    (25, "send", "break:1", 25),
    (30, "send", "back:1", 30),
    (40, "send", "checkin:2.1", 40),
    (50, "finish", 50, False),
]

PLAIN_90 = [
    (12, "send", "checkin:1.1", 12),
    (25, "send", "break:1", 25),
    (30, "send", "back:1", 30),
    (42, "send", "checkin:2.1", 42),
    (55, "send", "break:2", 55),
    (60, "send", "back:2", 60),
    (72, "drop", "checkin:3.1", 72, "budget"),
    (85, "send", "break:3", 85),
    (90, "send", "back:3", 90),
    (97, "drop", "checkin:4.1", 97, "budget"),
    (105, "finish", 105, False),
]

TIMELINES = [
    ("45 minutes", 45, {}, range(121), PLAIN_45),
    (
        "10-minute pause at minute 20",
        45,
        {20: "pause", 30: "resume"},
        range(121),
        [
            (12, "send", "checkin:1.1", 12),
            (35, "send", "break:1", 35),
            (40, "send", "back:1", 40),
            (50, "send", "checkin:2.1", 50),
            (60, "finish", 60, False),
        ],
    ),
    (
        "a pause during the break",
        45,
        {27: "pause", 33: "resume"},
        range(121),
        [
            (12, "send", "checkin:1.1", 12),
            (25, "send", "break:1", 25),
            (36, "send", "back:1", 36),
            (46, "send", "checkin:2.1", 46),
            (56, "finish", 56, False),
        ],
    ),
    (
        "a 31-minute pause ends the session",
        45,
        {20: "pause", 51: "resume"},
        range(121),
        [(12, "send", "checkin:1.1", 12), (50, "expired", 50, False)],
    ),
    (
        "stopped at minute 28",
        45,
        {28: "stop"},
        range(121),
        [(12, "send", "checkin:1.1", 12), (25, "send", "break:1", 25)],
    ),
    (
        "extended by 15 at minute 20",
        45,
        {20: "extend 15"},
        range(121),
        [
            (12, "send", "checkin:1.1", 12),
            (25, "send", "break:1", 25),
            (30, "send", "back:1", 30),
            (42, "send", "checkin:2.1", 42),
            (55, "send", "break:2", 55),
            (60, "send", "back:2", 60),
            (70, "finish", 70, False),
        ],
    ),
    ("5 minutes", 5, {}, range(121), [(5, "finish", 5, False)]),
    ("90 minutes: 8 messages", 90, {}, range(121), PLAIN_90),
    (
        "down 11..27: the break goes 2 minutes late, its back waits for the gap",
        45,
        {},
        [t for t in range(121) if not 11 < t < 27],
        [
            (27, "drop", "checkin:1.1", 12, "missed"),
            (27, "send", "break:1", 25),
            (32, "send", "back:1", 30),
            (40, "send", "checkin:2.1", 40),
            (50, "finish", 50, False),
        ],
    ),
    (
        "down 11..28: the missed break is dropped and closed up",
        45,
        {},
        [t for t in range(121) if not 11 < t < 28],
        [
            (28, "drop", "checkin:1.1", 12, "missed"),
            (28, "drop", "break:1", 25, "missed"),
            (35, "send", "checkin:2.1", 35),
            (45, "finish", 45, False),
        ],
    ),
    (
        "down 11..60: everything missed, one late finish",
        45,
        {},
        [t for t in range(121) if not 11 < t < 60],
        [
            (60, "drop", "checkin:1.1", 12, "missed"),
            (60, "drop", "break:1", 25, "missed"),
            (60, "drop", "checkin:2.1", 35, "missed"),
            (60, "finish", 45, True),
        ],
    ),
]


@pytest.mark.parametrize("scale", [1, 60])
@pytest.mark.parametrize(
    ("planned", "events", "ticks", "expected"),
    [pytest.param(p, e, t, x, id=i) for i, p, e, t, x in TIMELINES],
)
def test_session_timeline(
    planned: int,
    events: dict[int, str],
    ticks: Iterable[int],
    expected: list[tuple[object, ...]],
    scale: int,
) -> None:
    """Every send, drop and end of a whole session, at the minute it happens (time-scaled too)."""
    assert (
        timeline(planned, limits=Limits(time_scale=scale), events=events, ticks=ticks) == expected
    )


def test_product_rules_for_45_and_5_minutes() -> None:
    """A 45-minute session gets a check-in and a break; a 5-minute one gets no message."""
    kinds_45 = {e[2].split(":")[0] for e in timeline(45) if e[1] == "send"}
    sends_5 = [e for e in timeline(5) if e[1] == "send"]

    assert {"checkin", "break", "back"} <= kinds_45
    assert sends_5 == []


# --- time zones -------------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    "start",
    [
        # Spring forward at 02:00 local. SessionState converts to UTC, so wall times are
        # absolute: adding minutes to a Berlin datetime would add wall-clock time instead.
        pytest.param(datetime(2026, 3, 29, 0, 50, tzinfo=BERLIN), id="berlin-00:50"),
        pytest.param(datetime(2026, 3, 29, 0, 30, tzinfo=UTC), id="utc"),
        # These sessions have slots after 03:00 local (the case that was an hour off).
        pytest.param(datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN), id="berlin-01:30"),
        pytest.param(datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK), id="new-york-01:30"),
    ],
)
def test_session_across_spring_forward(start: datetime) -> None:
    """Decisions use absolute time: a 90-minute session ends 105 real minutes after its start."""
    assert timeline(90, start=start) == PLAIN_90


def test_wall_after_spring_forward_is_absolute() -> None:
    """started_at + 105 minutes is 02:15 UTC, not 01:15 UTC."""
    start = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)
    state = SessionState(started_at=start, planned_minutes=90)

    assert state.wall(105 * MIN).astimezone(UTC) == datetime(2026, 3, 29, 2, 15, tzinfo=UTC)


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["started_at", "paused_at"])
def test_naive_datetimes_are_rejected(field: str) -> None:
    """SessionState refuses naive datetimes."""
    values: dict[str, object] = {"started_at": T0, "planned_minutes": 45}
    values[field] = T0.replace(tzinfo=None)

    with pytest.raises(ValidationError, match="timezone-aware"):
        SessionState.model_validate(values)


def test_only_a_message_that_may_have_gone_out_counts() -> None:
    # The statuses storage's claim counts too ('sending', 'sent'): a queued summary
    # ('pending') or a dropped message never uses the budget or the gap.
    assert {status for status in DeliveryStatus if status.counts} == {SENDING, SENT}
    assert not DeliveryStatus.PENDING.counts and not DROPPED.counts
