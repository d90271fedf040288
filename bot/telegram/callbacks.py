"""Button data: the one codec that writes and reads every inline button's ``callback_data``.

Each kind of button is a small frozen type, valid by construction (a score is 1–5, a setting's
minutes are within that setting's range, ids fit SQLite's integers); :func:`encode` turns one
into the string Telegram carries and :func:`decode` turns any string back into one, or into
None for anything we would not have written (forged, stale, foreign). Nothing else in the bot
spells callback data.

The wire format is the first version's, so the buttons of cards already in people's chats keep
their meaning across an upgrade and a restart::

    p:12  r:12  e:12          pause, resume, end session 12 (its card)
    new:12  keep:12           a second /focus: replace session 12, or keep it
    ci:12:ok  ci:12:dis       a check-in: on track, distracted
    sc:12:4                   score session 12 (1-5)
    set:42:d45  b30  k10      user 42's default length, focus block, break (minutes)
    set:42:q1  set:42:q0      user 42's nudges quiet, normal
    hist:42:p3                user 42's /history, page 3 (from 0)
    del:42:yes  del:42:no     user 42's /delete_me confirmation
    en:12:tired               session 12's start energy (fresh, ok, tired)
    rs:12:phone               why a 😵 answer on session 12 (phone, people, wandering, tired, other)
    rb:12:long  rb:12:end     recovery on session 12's break: a longer break, or end here
    len:12:m45                make session 12 45 minutes long (the start card's suggestion)
    rec:42:o12  c12  d12  y12 user 42's session 12: open, correct, delete, confirm the delete
    un:12                     count session 12 again (it was cancelled as a stray)
    agn:42:s12                user 42: start session 12's label and length again
    hisf:42:w3  m3 c3 e3 l3   user 42's filtered /history (week, month, completed, early,
                              the label words last asked for), page 3
    rem:42:s25  rem:42:no     user 42's reminder: start 25 minutes, not today
    rem:42:keep rem:42:stop   user 42's "keep reminding you?": keep, stop
    rtn:42:qc1  rv0  qh0      user 42's check-ins in quiet hours, weekly review, quiet hours off
    tz:42:p180  tz:42:m300    user 42's answer to "what time is it?": UTC+03:00, UTC-05:00
    rvw:42:d6m1080  rvw:42:off  user 42's weekly review: Sunday 18:00 (Monday 0), or off

Session buttons carry the session's id; account buttons carry the owner's user id, so that in a
group only the owner can press them. Telegram accepts 1-64 bytes of callback data: ``encode``
refuses anything longer, ``decode`` ignores it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from nudges.companion import Energy, Reason
from nudges.limits import FOCUS_MINUTES, SCORE, SETTING_MINUTES, ZONE_OFFSET_MINUTES, Bound

__all__ = [
    "MAX_DATA_BYTES",
    "AccountButton",
    "AgainButton",
    "ButtonData",
    "CardAction",
    "CardButton",
    "CheckinButton",
    "DeleteButton",
    "EnergyButton",
    "HistoryButton",
    "HistoryFilter",
    "HistoryFilterButton",
    "KeepRemindingButton",
    "LengthButton",
    "OfferButton",
    "QuietButton",
    "ReasonButton",
    "RecordAction",
    "RecordButton",
    "RecoveryButton",
    "RemindButton",
    "RestoreButton",
    "ReviewButton",
    "RoutineButton",
    "RoutineSwitch",
    "ScoreButton",
    "SessionButton",
    "Setting",
    "SettingButton",
    "ZoneButton",
    "decode",
    "encode",
]

MAX_DATA_BYTES: Final = 64
"""Telegram's limit on ``callback_data`` (and it needs at least 1 byte)."""

_ID: Final = Bound(0, 2**63 - 1)  # session and user ids are looked up in SQLite (64-bit)
_PAGE: Final = Bound(0, 9_999_999)  # the first version's 8-character argument: "p" + 7 digits


def _check(value: int, bound: Bound, what: str) -> None:
    if value not in bound:
        raise ValueError(f"{what} {value!r} is outside {bound}")


class CardAction(StrEnum):
    """The buttons of a session's start card (the value is the wire action)."""

    PAUSE = "p"
    RESUME = "r"
    END = "e"


class Setting(StrEnum):
    """A session-shape setting a button steps (the value is its ``/settings`` name)."""

    DEFAULT = "default"
    BLOCK = "block"
    BREAK = "break"


@dataclass(frozen=True, slots=True)
class CardButton:
    """⏸ Pause, ▶ Resume or ⏹ End on a session's card."""

    action: CardAction
    session_id: int

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.session_id, _ID, "session id")


@dataclass(frozen=True, slots=True)
class OfferButton:
    """A second ``/focus`` while one runs: end it and start the new one, or keep it."""

    session_id: int
    replace: bool

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.session_id, _ID, "session id")


@dataclass(frozen=True, slots=True)
class CheckinButton:
    """👍 On track or 😵 Distracted under a check-in."""

    session_id: int
    on_track: bool

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.session_id, _ID, "session id")


@dataclass(frozen=True, slots=True)
class ScoreButton:
    """One of the summary's 1–5 focus-score buttons."""

    session_id: int
    score: int

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.session_id, _ID, "session id")
        _check(self.score, SCORE, "score")


@dataclass(frozen=True, slots=True)
class SettingButton:
    """A ``/settings`` button that sets one of the session's minutes."""

    owner: int
    setting: Setting
    minutes: int

    def __post_init__(self) -> None:
        """Valid by construction: the minutes are within that setting's range."""
        _check(self.owner, _ID, "user id")
        _check(self.minutes, SETTING_MINUTES[self.setting.value], f"{self.setting} minutes")


@dataclass(frozen=True, slots=True)
class QuietButton:
    """The ``/settings`` button that makes nudges quiet, or normal again."""

    owner: int
    quiet: bool

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.owner, _ID, "user id")


@dataclass(frozen=True, slots=True)
class HistoryButton:
    """◀ Newer or Older ▶ under ``/history``: the page to show (from 0)."""

    owner: int
    page: int

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.owner, _ID, "user id")
        _check(self.page, _PAGE, "page")


@dataclass(frozen=True, slots=True)
class DeleteButton:
    """The ``/delete_me`` confirmation: erase everything, or keep it."""

    owner: int
    confirm: bool

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.owner, _ID, "user id")


@dataclass(frozen=True, slots=True)
class EnergyButton:
    """🔋 fresh · 🙂 ok · 🪫 tired on a session's start card."""

    session_id: int
    energy: Energy

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.session_id, _ID, "session id")


@dataclass(frozen=True, slots=True)
class LengthButton:
    """The start card's suggestion: make the session that just started this long."""

    session_id: int
    minutes: int

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.session_id, _ID, "session id")
        _check(self.minutes, FOCUS_MINUTES, "minutes")


@dataclass(frozen=True, slots=True)
class ReasonButton:
    """Why a 😵 Distracted answer: 📱 phone · 💬 people · 🧠 wandering · 😴 tired · other."""

    session_id: int
    reason: Reason

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.session_id, _ID, "session id")


@dataclass(frozen=True, slots=True)
class RecoveryButton:
    """On a break message that offers recovery: take the longer break, or end here."""

    session_id: int
    longer: bool

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.session_id, _ID, "session id")


class RecordAction(StrEnum):
    """What a button under a session's record does (the value is the wire letter)."""

    OPEN = "o"
    CORRECT = "c"
    DELETE = "d"
    CONFIRM_DELETE = "y"


class HistoryFilter(StrEnum):
    """A filtered /history's kind (the value is the wire letter)."""

    WEEK = "w"
    MONTH = "m"
    COMPLETED = "c"
    EARLY = "e"
    LABEL = "l"


@dataclass(frozen=True, slots=True)
class RecordButton:
    """Open a session from /history, ✏️ Correct it, 🗑 Delete it, or confirm the delete."""

    owner: int
    session_id: int
    action: RecordAction

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.owner, _ID, "user id")
        _check(self.session_id, _ID, "session id")


@dataclass(frozen=True, slots=True)
class HistoryFilterButton:
    """◀ ▶ under a filtered /history."""

    owner: int
    kind: HistoryFilter
    page: int

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.owner, _ID, "user id")
        _check(self.page, _PAGE, "page")


@dataclass(frozen=True, slots=True)
class AgainButton:
    """A bare /focus's offer: start the label and length of one of the owner's sessions."""

    owner: int
    session_id: int

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.owner, _ID, "user id")
        _check(self.session_id, _ID, "session id")


@dataclass(frozen=True, slots=True)
class RestoreButton:
    """↩ Count it: undo the cancellation of a stray session."""

    session_id: int

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.session_id, _ID, "session id")


@dataclass(frozen=True, slots=True)
class RemindButton:
    """A reminder's buttons: start a session of ``minutes``, or (None) not today."""

    owner: int
    minutes: int | None

    def __post_init__(self) -> None:
        """Valid by construction: a length one could have typed."""
        _check(self.owner, _ID, "user id")
        if self.minutes is not None:
            _check(self.minutes, FOCUS_MINUTES, "minutes")


@dataclass(frozen=True, slots=True)
class KeepRemindingButton:
    """The answer to "keep reminding you?" after reminders went unanswered."""

    owner: int
    keep: bool

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.owner, _ID, "user id")


class RoutineSwitch(StrEnum):
    """A routine setting a ``/settings`` button switches (the value is its wire code)."""

    QUIET_CHECKINS = "qc"
    REVIEW = "rv"
    QUIET_HOURS = "qh"  # only off: quiet hours are set with /quiet
    REMINDER = "rm"  # only off: a reminder is set with /remind


@dataclass(frozen=True, slots=True)
class RoutineButton:
    """A ``/settings`` button that switches a routine setting on or off."""

    owner: int
    switch: RoutineSwitch
    on: bool

    def __post_init__(self) -> None:
        """Valid by construction: times are typed, so those switches only turn off."""
        _check(self.owner, _ID, "user id")
        if self.on and self.switch in (RoutineSwitch.QUIET_HOURS, RoutineSwitch.REMINDER):
            raise ValueError(f"{self.switch} is only switched off by a button")


@dataclass(frozen=True, slots=True)
class ZoneButton:
    """An answer to "What time is it for you now?": the UTC offset of the time it showed
    (so it means the same however late it is pressed)."""

    owner: int
    offset: int  # minutes east of UTC

    def __post_init__(self) -> None:
        """Valid by construction: an offset in use, in quarter hours."""
        _check(self.owner, _ID, "user id")
        _check(self.offset, ZONE_OFFSET_MINUTES, "UTC offset")
        if self.offset % 15:
            raise ValueError(f"UTC offset {self.offset} is not in quarter hours")


_MINUTE_OF_DAY: Final = Bound(0, 24 * 60 - 1)


@dataclass(frozen=True, slots=True)
class ReviewButton:
    """Under /review: the weekly review on a weekday (Monday 0) at a local minute, or off
    (``weekday`` None)."""

    owner: int
    weekday: int | None
    minute: int = 0

    def __post_init__(self) -> None:
        """Valid by construction."""
        _check(self.owner, _ID, "user id")
        if self.weekday is not None:
            _check(self.weekday, Bound(0, 6), "weekday")
            _check(self.minute, _MINUTE_OF_DAY, "minute of the day")


SessionButton = (
    CardButton
    | OfferButton
    | CheckinButton
    | ScoreButton
    | EnergyButton
    | ReasonButton
    | RecoveryButton
    | LengthButton
    | RestoreButton
)
"""Buttons about one session: only the session's owner may press them."""

AccountButton = (
    SettingButton
    | QuietButton
    | HistoryButton
    | DeleteButton
    | RecordButton
    | HistoryFilterButton
    | AgainButton
    | RemindButton
    | KeepRemindingButton
    | RoutineButton
    | ZoneButton
    | ReviewButton
)
"""Buttons about a user's own account: only that user may press them (a record button's
session must be theirs too: checked where it is used)."""

ButtonData = SessionButton | AccountButton
"""Whatever a button of ours can mean."""

# One letter per setting on the wire (the first version's); "q" is the quiet switch.
_SETTING_CODE: Final = {Setting.DEFAULT: "d", Setting.BLOCK: "b", Setting.BREAK: "k"}
_SETTING_OF_CODE: Final = {code: setting for setting, code in _SETTING_CODE.items()}


_SWITCHES: Final = frozenset(switch.value for switch in RoutineSwitch)


def encode(button: ButtonData) -> str:
    """The ``callback_data`` of ``button``; ValueError if it would not fit Telegram's 64 bytes."""
    # The buttons of proactive messages (summary, check-in, card) first: they are the hot path.
    match button:
        case ScoreButton(session_id=session_id, score=score):
            data = f"sc:{session_id}:{score}"
        case CheckinButton(session_id=session_id, on_track=on_track):
            data = f"ci:{session_id}:{'ok' if on_track else 'dis'}"
        case CardButton(action=action, session_id=session_id):
            data = f"{action.value}:{session_id}"
        case OfferButton(session_id=session_id, replace=replace):
            data = f"{'new' if replace else 'keep'}:{session_id}"
        case SettingButton(owner=owner, setting=setting, minutes=minutes):
            data = f"set:{owner}:{_SETTING_CODE[setting]}{minutes}"
        case QuietButton(owner=owner, quiet=quiet):
            data = f"set:{owner}:q{int(quiet)}"
        case HistoryButton(owner=owner, page=page):
            data = f"hist:{owner}:p{page}"
        case DeleteButton(owner=owner, confirm=confirm):
            data = f"del:{owner}:{'yes' if confirm else 'no'}"
        case EnergyButton(session_id=session_id, energy=energy):
            data = f"en:{session_id}:{energy.value}"
        case ReasonButton(session_id=session_id, reason=reason):
            data = f"rs:{session_id}:{reason.value}"
        case RecoveryButton(session_id=session_id, longer=longer):
            data = f"rb:{session_id}:{'long' if longer else 'end'}"
        case LengthButton(session_id=session_id, minutes=minutes):
            data = f"len:{session_id}:m{minutes}"
        case RecordButton(owner=owner, session_id=session_id, action=record):
            data = f"rec:{owner}:{record.value}{session_id}"
        case HistoryFilterButton(owner=owner, kind=kind, page=page):
            data = f"hisf:{owner}:{kind.value}{page}"
        case AgainButton(owner=owner, session_id=session_id):
            data = f"agn:{owner}:s{session_id}"
        case RestoreButton(session_id=session_id):
            data = f"un:{session_id}"
        case RemindButton(owner=owner, minutes=minutes):
            data = f"rem:{owner}:{'no' if minutes is None else f's{minutes}'}"
        case KeepRemindingButton(owner=owner, keep=keep):
            data = f"rem:{owner}:{'keep' if keep else 'stop'}"
        case RoutineButton(owner=owner, switch=switch, on=on):
            data = f"rtn:{owner}:{switch.value}{int(on)}"
        case ZoneButton(owner=owner, offset=offset):
            data = f"tz:{owner}:{'m' if offset < 0 else 'p'}{abs(offset)}"
        case ReviewButton(owner=owner, weekday=weekday, minute=minute):
            data = f"rvw:{owner}:{'off' if weekday is None else f'd{weekday}m{minute}'}"
    # ASCII only, so characters are bytes.
    if not 1 <= len(data) <= MAX_DATA_BYTES:
        raise ValueError(f"callback data of {len(data)} bytes; Telegram takes 1-{MAX_DATA_BYTES}")
    return data


_ENERGIES: Final = frozenset(e.value for e in Energy)
_REASONS: Final = frozenset(r.value for r in Reason)

# action:number[:argument], ASCII only (so that characters are bytes).
_WIRE = re.compile(r"([a-z]{1,4}):([0-9]{1,19})(?::([a-z0-9]+))?")


def decode(data: str | None) -> ButtonData | None:
    """What button data means; None for anything :func:`encode` would not have written.

    Never raises, whatever the string: it comes from the network.
    """
    if not data or len(data) > MAX_DATA_BYTES:
        return None
    match = _WIRE.fullmatch(data)
    if match is None:
        return None
    action, number, arg = match.group(1), int(match.group(2)), match.group(3)
    try:
        return _read(action, number, arg)
    except ValueError:  # a number out of range: not a button we made
        return None


def _read(action: str, number: int, arg: str | None) -> ButtonData | None:
    """The button for a well-formed ``action:number[:arg]``; ValueError for bad numbers."""
    match action, arg:
        case (("p" | "r" | "e"), None):
            return CardButton(CardAction(action), number)
        case (("new" | "keep"), None):
            return OfferButton(number, replace=action == "new")
        case "ci", ("ok" | "dis"):
            return CheckinButton(number, on_track=arg == "ok")
        case "sc", str(score) if score.isdigit():
            return ScoreButton(number, int(score))
        case "set", ("q0" | "q1"):
            return QuietButton(number, quiet=arg == "q1")
        case "set", str(code) if code[:1] in _SETTING_OF_CODE and code[1:].isdigit():
            return SettingButton(number, _SETTING_OF_CODE[code[:1]], int(code[1:]))
        case "hist", str(page) if page[:1] == "p" and page[1:].isdigit():
            return HistoryButton(number, int(page[1:]))
        case "del", ("yes" | "no"):
            return DeleteButton(number, confirm=arg == "yes")
        case "en", str(energy) if energy in _ENERGIES:
            return EnergyButton(number, Energy(energy))
        case "rs", str(reason) if reason in _REASONS:
            return ReasonButton(number, Reason(reason))
        case "rb", ("long" | "end"):
            return RecoveryButton(number, longer=arg == "long")
        case "len", str(length) if length[:1] == "m" and length[1:].isdigit():
            return LengthButton(number, int(length[1:]))
        case "rec", str(code) if code[:1] in _RECORD_ACTIONS and _digits(code[1:]):
            return RecordButton(number, int(code[1:]), RecordAction(code[:1]))
        case "hisf", str(code) if code[:1] in _HISTORY_FILTERS and _digits(code[1:]):
            return HistoryFilterButton(number, HistoryFilter(code[:1]), int(code[1:]))
        case "agn", str(code) if code[:1] == "s" and _digits(code[1:]):
            return AgainButton(number, int(code[1:]))
        case "un", None:
            return RestoreButton(number)
        case "rem", "no":
            return RemindButton(number, None)
        case "rem", ("keep" | "stop"):
            return KeepRemindingButton(number, keep=arg == "keep")
        case "rem", str(start) if start[:1] == "s" and start[1:].isdigit():
            return RemindButton(number, int(start[1:]))
        case "rtn", str(code) if code[:2] in _SWITCHES and code[2:] in ("0", "1"):
            return RoutineButton(number, RoutineSwitch(code[:2]), on=code[2:] == "1")
        case "tz", str(code) if code[:1] in ("p", "m") and _digits(code[1:]) and code != "m0":
            return ZoneButton(number, int(code[1:]) * (-1 if code[:1] == "m" else 1))
        case "rvw", "off":
            return ReviewButton(number, None)
        case "rvw", str(code) if (found := _REVIEW_CODE.fullmatch(code)) is not None:
            return ReviewButton(number, int(found.group(1)), int(found.group(2)))
    return None


_REVIEW_CODE: Final = re.compile(r"d([0-6])m([0-9]{1,4})")


_RECORD_ACTIONS: Final = frozenset(a.value for a in RecordAction)
_HISTORY_FILTERS: Final = frozenset(f.value for f in HistoryFilter)


def _digits(text: str) -> bool:
    """1-19 ASCII digits (``str.isdigit`` accepts other scripts' digits too)."""
    return 1 <= len(text) <= 19 and text.isascii() and text.isdigit()
