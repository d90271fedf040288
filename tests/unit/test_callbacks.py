"""The button-data codec: old buttons keep their meaning, encode and decode are inverses, junk
is None, and nothing longer than Telegram's 64 bytes is ever written or trusted."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram import callbacks, texts
from bot.telegram.callbacks import (
    AgainButton,
    ButtonData,
    CardAction,
    CardButton,
    CheckinButton,
    DeleteButton,
    EnergyButton,
    HistoryButton,
    HistoryFilter,
    HistoryFilterButton,
    KeepRemindingButton,
    LengthButton,
    OfferButton,
    QuietButton,
    ReasonButton,
    RecordAction,
    RecordButton,
    RecoveryButton,
    RemindButton,
    RestoreButton,
    ReviewButton,
    RoutineButton,
    RoutineSwitch,
    ScoreButton,
    Setting,
    SettingButton,
    ZoneButton,
    decode,
    encode,
)
from nudges.companion import Energy, Reason
from nudges.limits import FOCUS_MINUTES, SCORE, SETTING_MINUTES

ROOT = Path(__file__).resolve().parents[2]

# Data exactly as the first version wrote it (f-strings in bot/texts.py at 913cdcf), and what
# it meant to the router then. Cards, check-ins and summaries already in chats carry these.
OLD_BUTTONS: list[tuple[str, ButtonData]] = [
    ("p:12", CardButton(CardAction.PAUSE, 12)),
    ("r:12", CardButton(CardAction.RESUME, 12)),
    ("e:12", CardButton(CardAction.END, 12)),
    ("new:7", OfferButton(7, replace=True)),
    ("keep:7", OfferButton(7, replace=False)),
    ("ci:3:ok", CheckinButton(3, on_track=True)),
    ("ci:3:dis", CheckinButton(3, on_track=False)),
    ("sc:3:1", ScoreButton(3, 1)),
    ("sc:3:5", ScoreButton(3, 5)),
    ("set:4242:d45", SettingButton(4242, Setting.DEFAULT, 45)),
    ("set:4242:b30", SettingButton(4242, Setting.BLOCK, 30)),
    ("set:4242:k10", SettingButton(4242, Setting.BREAK, 10)),
    ("set:4242:q1", QuietButton(4242, quiet=True)),
    ("set:4242:q0", QuietButton(4242, quiet=False)),
    ("hist:4242:p0", HistoryButton(4242, 0)),
    ("hist:4242:p3", HistoryButton(4242, 3)),
    ("del:4242:yes", DeleteButton(4242, confirm=True)),
    ("del:4242:no", DeleteButton(4242, confirm=False)),
    ("p:999999999999999999", CardButton(CardAction.PAUSE, 999_999_999_999_999_999)),
    # issue 13's records: a wire format of their own, old data still decodes as before
    ("rec:4242:o12", RecordButton(4242, 12, RecordAction.OPEN)),
    ("rec:4242:c12", RecordButton(4242, 12, RecordAction.CORRECT)),
    ("rec:4242:d12", RecordButton(4242, 12, RecordAction.DELETE)),
    ("rec:4242:y12", RecordButton(4242, 12, RecordAction.CONFIRM_DELETE)),
    ("hisf:4242:w0", HistoryFilterButton(4242, HistoryFilter.WEEK, 0)),
    ("hisf:4242:l3", HistoryFilterButton(4242, HistoryFilter.LABEL, 3)),
    ("agn:4242:s12", AgainButton(4242, 12)),
    ("un:12", RestoreButton(12)),
]


@pytest.mark.parametrize(("data", "meaning"), OLD_BUTTONS)
def test_old_buttons_keep_their_meaning(data: str, meaning: ButtonData) -> None:
    assert decode(data) == meaning
    assert encode(meaning) == data  # and what we write now is what we wrote then


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "nonsense",
        "p",
        "p:",
        "p:abc",
        "p:-1",
        "p:1:extra",  # a card button never had an argument
        "p:1\n",
        "P:1",
        "x:1",
        "ci:1:zzz",
        "ci:1",
        "sc:1",
        "sc:1:0",
        "sc:1:6",
        "sc:1:9",
        "set:1",
        "set:1:d4",  # a default under 5 minutes
        "set:1:d91",
        "set:1:b5",  # a block under 10 minutes
        "set:1:k31",
        "set:1:q2",
        "set:1:x5",
        "set:1:d",
        "hist:1",
        "hist:1:3",
        "hist:1:p",
        "hist:1:p12345678",  # the first version's argument had 8 characters at most
        "del:1",
        "del:1:maybe",
        "en:1",
        "en:1:sleepy",
        "rs:1",
        "rs:1:cat",
        "rb:1",
        "rb:1:short",
        "len:1:m4",  # a length under 5 minutes
        "len:1:m91",
        "len:1:45",
        "len:1",
        "p:٤٥",  # Arabic-Indic digits: int() reads them, we never wrote them
        "p:9223372036854775808",  # past SQLite's 64-bit integers
        "p:" + "9" * 30,
        "x" * 64,
        "x" * 65,
        "ci:1:ok\x00",
        "ci:1:ok ",
        "hist:1:p\ud800",
        "rec:1:x12",
        "rec:1:o",
        "rec:1:o٤",
        "rec:1:o99999999999999999999",
        "hisf:1:z1",
        "hisf:1:w",
        "agn:1:12",
        "agn:1:s",
        "un:1:x",
        "tz:1:m0",  # zero is written p0
        "tz:1:p7",  # not in quarter hours
        "tz:1:p855",  # beyond UTC+14:00
        "tz:1:m735",  # beyond UTC-12:00
        "tz:1:180",
        "rvw:1:d7m0",
        "rvw:1:d6m1440",
        "rvw:1:d6",
        "rvw:1:on",
    ],
)
def test_anything_we_did_not_write_is_none(data: str | None) -> None:
    assert decode(data) is None


@pytest.mark.parametrize(
    ("data", "meaning"),
    [
        ("en:12:tired", EnergyButton(12, Energy.TIRED)),
        ("en:12:fresh", EnergyButton(12, Energy.FRESH)),
        ("rs:12:phone", ReasonButton(12, Reason.PHONE)),
        ("rs:12:other", ReasonButton(12, Reason.OTHER)),
        ("rb:12:long", RecoveryButton(12, longer=True)),
        ("rb:12:end", RecoveryButton(12, longer=False)),
    ],
)
def test_companion_buttons_have_their_own_spelling(data: str, meaning: ButtonData) -> None:
    assert decode(data) == meaning
    assert encode(meaning) == data
    biggest = encode(ReasonButton(2**63 - 1, Reason.WANDERING))
    assert len(biggest.encode()) <= 64


def test_zone_and_review_buttons_have_their_own_spelling() -> None:
    for data, meaning in [
        ("tz:42:p180", ZoneButton(42, 180)),  # UTC+03:00
        ("tz:42:m300", ZoneButton(42, -300)),  # UTC-05:00
        ("tz:42:p0", ZoneButton(42, 0)),
        ("tz:42:p330", ZoneButton(42, 330)),
        ("rvw:42:d6m1080", ReviewButton(42, 6, 1080)),
        ("rvw:42:off", ReviewButton(42, None)),
    ]:
        assert decode(data) == meaning
        assert encode(meaning) == data
    assert len(encode(ZoneButton(2**63 - 1, -720)).encode()) <= 64
    assert len(encode(ReviewButton(2**63 - 1, 6, 1439)).encode()) <= 64


def test_more_than_64_bytes_is_never_trusted() -> None:
    fits = "sc:1:" + "0" * 58 + "5"  # well-formed, if odd: the score 5
    assert len(fits.encode()) == 64 and decode(fits) == ScoreButton(1, 5)
    assert decode("sc:1:" + "0" * 59 + "5") is None  # 65 bytes: Telegram would not send it


def test_encode_refuses_what_telegram_would_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    widest = HistoryButton(2**63 - 1, 9_999_999)
    assert len(encode(widest).encode()) <= callbacks.MAX_DATA_BYTES
    monkeypatch.setattr(callbacks, "MAX_DATA_BYTES", 20)
    with pytest.raises(ValueError, match="Telegram takes 1-20"):
        encode(widest)
    assert encode(CardButton(CardAction.END, 1)) == "e:1"  # what fits still goes


@pytest.mark.parametrize(
    "make",
    [
        lambda: ScoreButton(1, 0),
        lambda: ScoreButton(1, 6),
        lambda: SettingButton(1, Setting.BLOCK, 9),
        lambda: SettingButton(1, Setting.DEFAULT, 91),
        lambda: SettingButton(1, Setting.BREAK, 4),
        lambda: HistoryButton(1, -1),
        lambda: HistoryButton(1, 10_000_000),
        lambda: CardButton(CardAction.PAUSE, -1),
        lambda: CardButton(CardAction.PAUSE, 2**63),
        lambda: DeleteButton(-5, confirm=True),
    ],
)
def test_button_data_is_valid_by_construction(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="outside"):
        make()


# --- properties ------------------------------------------------------------------------------

ids = st.integers(0, 2**63 - 1)
settings_and_minutes = st.sampled_from(list(Setting)).flatmap(
    lambda s: st.tuples(
        st.just(s),
        st.integers(SETTING_MINUTES[s.value].low, SETTING_MINUTES[s.value].high),
    )
)
buttons_data: st.SearchStrategy[ButtonData] = st.one_of(
    st.builds(CardButton, st.sampled_from(list(CardAction)), ids),
    st.builds(OfferButton, ids, st.booleans()),
    st.builds(CheckinButton, ids, st.booleans()),
    st.builds(ScoreButton, ids, st.integers(SCORE.low, SCORE.high)),
    st.tuples(ids, settings_and_minutes).map(lambda t: SettingButton(t[0], *t[1])),
    st.builds(QuietButton, ids, st.booleans()),
    st.builds(HistoryButton, ids, st.integers(0, 9_999_999)),
    st.builds(DeleteButton, ids, st.booleans()),
    st.builds(EnergyButton, ids, st.sampled_from(list(Energy))),
    st.builds(ReasonButton, ids, st.sampled_from(list(Reason))),
    st.builds(RecoveryButton, ids, st.booleans()),
    st.builds(LengthButton, ids, st.integers(FOCUS_MINUTES.low, FOCUS_MINUTES.high)),
    st.builds(RecordButton, ids, ids, st.sampled_from(list(RecordAction))),
    st.builds(
        HistoryFilterButton, ids, st.sampled_from(list(HistoryFilter)), st.integers(0, 9_999_999)
    ),
    st.builds(AgainButton, ids, ids),
    st.builds(RestoreButton, ids),
    st.builds(RemindButton, ids, st.none() | st.integers(FOCUS_MINUTES.low, FOCUS_MINUTES.high)),
    st.builds(KeepRemindingButton, ids, st.booleans()),
    st.builds(
        RoutineButton,
        ids,
        st.sampled_from([RoutineSwitch.QUIET_CHECKINS, RoutineSwitch.REVIEW]),
        st.booleans(),
    ),
    st.builds(
        RoutineButton,
        ids,
        st.sampled_from([RoutineSwitch.QUIET_HOURS, RoutineSwitch.REMINDER]),
        st.just(False),  # these are set by typing, and only switched off by a button
    ),
    st.builds(ZoneButton, ids, st.integers(-48, 56).map(lambda quarters: quarters * 15)),
    st.builds(ReviewButton, ids, st.none()),
    st.builds(ReviewButton, ids, st.integers(0, 6), st.integers(0, 1439)),
)


@given(buttons_data)
@settings(max_examples=500, deadline=None)
def test_decode_inverts_encode(button: ButtonData) -> None:
    data = encode(button)
    assert 1 <= len(data.encode()) <= 64
    assert decode(data) == button


# Any text, lone surrogates included (they can arrive in JSON as "\ud800").
any_text = st.text(st.characters(exclude_categories=()), max_size=100)
near_misses = st.from_regex(
    r"(p|r|e|ci|sc|new|keep|set|hist|del|en|rs|rb|rec|hisf|agn|un|rem|rtn|tz|rvw|[a-z]{1,5})"
    r":-?[0-9٤]{0,25}(:[a-z0-9]{0,60})?",
    fullmatch=True,
)


@given(any_text | near_misses)
@settings(max_examples=1000, deadline=None)
def test_decode_never_raises_and_what_it_reads_it_can_write(data: str) -> None:
    button = decode(data)
    if button is not None:
        assert decode(encode(button)) == button  # one canonical spelling per meaning


# --- the codec is the only writer --------------------------------------------------------------


def test_every_settings_step_is_a_button_the_codec_accepts() -> None:
    """The /settings buttons step through fixed values; each must decode, or it would be a
    button that always answers "expired"."""
    for name, steps in texts._CYCLES.items():
        for minutes in steps:
            button = SettingButton(1, Setting(name), minutes)
            assert decode(encode(button)) == button


_SPELLED = re.compile(
    r"""["'](?:p|r|e|ci|sc|new|keep|set|hist|del|en|rs|rb|rec|hisf|agn|un|rem|rtn|tz|rvw):"""
)
_PTB_KEYBOARD = re.compile(r"InlineKeyboard(?:Markup|Button)\b(?!``)")  # ``named`` in prose is fine


def test_no_other_module_spells_button_data() -> None:
    """Button data is written and read in bot/telegram/callbacks.py only: a string such as "sc:"
    elsewhere in the bot's (or the benchmark's) code is a second spelling that will drift. And
    keyboards come in one form, the JSON of ``texts.buttons``: no InlineKeyboardMarkup."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "bench").rglob("*.py")])
        if path.name != "callbacks.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _SPELLED.search(line) or "callback_data=" in line or _PTB_KEYBOARD.search(line)
    ]
    assert offenders == []
