"""Tests for the in-memory Bot API, its PTB request, the HTTP stand-in and the network guard."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot.offline.local_api import LocalApiError, LocalRequest, OutgoingMessage
from tests.conftest import NetworkAccessBlockedError
from tests.support.faults import FaultyBotApi
from tests.support.standin import BotApiStandin

TOKEN = "123:ABC"  # noqa: S105 - a dummy token, nothing leaves 127.0.0.1
SECRET = "s3cret"  # noqa: S105
USER = 42


def keyboard() -> InlineKeyboardMarkup:
    """Two callback buttons on one row and a URL button on the next."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("▶️ Start", callback_data="focus:start"),
                InlineKeyboardButton("Later", callback_data="focus:later"),
            ],
            [InlineKeyboardButton("Help", url="https://example.org/help")],
        ]
    )


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A valid PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
def api() -> FaultyBotApi:
    """A fresh in-memory Bot API."""
    return FaultyBotApi()


@pytest.fixture
async def bot(api: FaultyBotApi) -> AsyncIterator[telegram.Bot]:
    """An initialized PTB Bot wired to ``api`` in-process."""
    async with telegram.Bot(
        token=TOKEN, request=LocalRequest(api), get_updates_request=LocalRequest(api)
    ) as the_bot:
        yield the_bot


# ---------------------------------------------------------------------- in-process, via PTB


async def test_get_me_answers_the_configured_bot() -> None:
    api = FaultyBotApi(bot_id=777, username="SomeBot")
    async with telegram.Bot(token=TOKEN, request=LocalRequest(api)) as bot:
        me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (777, "SomeBot", True)
    assert api.calls["getMe"] >= 1


async def test_send_message_records_text_markup_and_buttons(
    api: FaultyBotApi, bot: telegram.Bot
) -> None:
    sent = await bot.send_message(USER, "Ready to focus?", reply_markup=keyboard())

    assert sent.message_id == 1
    assert sent.chat.id == USER
    assert sent.chat.type == "private"
    assert sent.from_user is not None
    assert sent.from_user.id == api.bot_id
    assert sent.reply_markup == keyboard()
    [msg] = api.sent
    assert (msg.chat_id, msg.message_id, msg.text, msg.kind) == (
        USER,
        1,
        "Ready to focus?",
        "message",
    )
    assert msg.buttons() == [("▶️ Start", "focus:start"), ("Later", "focus:later"), ("Help", "")]
    assert msg.sent_at.tzinfo is not None
    assert api.messages[(USER, 1)] is msg
    assert api.messages_to(USER) == [msg]
    assert api.messages_to(USER + 1) == []


async def test_message_ids_increase_per_chat(api: FaultyBotApi, bot: telegram.Bot) -> None:
    ids = [(await bot.send_message(chat, "hi")).message_id for chat in (1, 1, 2, 1)]
    assert ids == [1, 2, 1, 3]


async def test_group_chat_type_is_remembered(api: FaultyBotApi, bot: telegram.Bot) -> None:
    api.user_message(user_id=USER, chat_id=-100, chat_type="supergroup", text="hello")
    sent = await bot.send_message(-100, "hi all")
    assert sent.chat.type == "supergroup"
    assert sent.message_id == 2  # the user's message took id 1 in that chat
    other = await bot.send_message(-5, "unknown group")
    assert other.chat.type == "group"


async def test_html_is_rendered_with_entities(api: FaultyBotApi, bot: telegram.Bot) -> None:
    sent = await bot.send_message(
        USER, "<b>25 min</b> of &lt;deep&gt; work 🎯 <i>go</i>", parse_mode="HTML"
    )
    assert sent.text == "25 min of <deep> work 🎯 go"
    assert sent.text_html == "<b>25 min</b> of &lt;deep&gt; work 🎯 <i>go</i>"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 6),
        ("italic", 25, 2),  # 🎯 counts as two UTF-16 units
    ]
    assert api.sent[0].text == "<b>25 min</b> of &lt;deep&gt; work 🎯 <i>go</i>"
    assert api.sent[0].shown_text == "25 min of <deep> work 🎯 go"


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("", None, "Message text is empty"),
        ("   ", None, "Message text is empty"),
        ("x" * 4097, None, "Message is too long"),
        ("<b>unclosed", "HTML", "Can't parse entities"),
        ("a < b", "HTML", "Can't parse entities"),
        ("<b>x</i>", "HTML", "Can't parse entities"),
    ],
)
async def test_send_message_rejects_what_telegram_rejects(
    bot: telegram.Bot, api: FaultyBotApi, text: str, parse_mode: str | None, error: str
) -> None:
    with pytest.raises(BadRequest, match=error):
        await bot.send_message(USER, text, parse_mode=parse_mode)
    assert api.sent == []


async def test_longest_allowed_message_is_accepted(bot: telegram.Bot) -> None:
    sent = await bot.send_message(USER, "x" * 4096)
    assert len(sent.text or "") == 4096


async def test_edit_message_text_updates_the_same_record(
    api: FaultyBotApi, bot: telegram.Bot
) -> None:
    sent = await bot.send_message(USER, "Session: 25 min", reply_markup=keyboard())
    edited = await bot.edit_message_text(
        "Session: 24 min", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard()
    )
    assert isinstance(edited, telegram.Message)
    assert edited.text == "Session: 24 min"
    assert edited.edit_date is not None
    [msg] = api.sent
    assert (msg.text, msg.edits) == ("Session: 24 min", 1)
    assert len(msg.buttons()) == 3

    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "Session: 24 min", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard()
        )

    # Like Telegram, an edit without reply_markup drops the inline keyboard.
    await bot.edit_message_text("Done", chat_id=USER, message_id=sent.message_id)
    assert (msg.text, msg.reply_markup, msg.edits) == ("Done", None, 2)


async def test_edit_missing_message_fails(bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=99)


async def test_edit_reply_markup(api: FaultyBotApi, bot: telegram.Bot) -> None:
    sent = await bot.send_message(USER, "Pick", reply_markup=keyboard())
    await bot.edit_message_reply_markup(chat_id=USER, message_id=sent.message_id)
    assert api.sent[0].reply_markup is None
    assert api.sent[0].buttons() == []
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(chat_id=USER, message_id=sent.message_id)


async def test_delete_message(api: FaultyBotApi, bot: telegram.Bot) -> None:
    first = await bot.send_message(USER, "one")
    await bot.send_message(USER, "two")
    assert await bot.delete_message(USER, first.message_id) is True
    assert [m.text for m in api.messages_to(USER)] == ["two"]
    assert api.sent[0].deleted
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=first.message_id)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(USER, first.message_id)


async def test_user_message_command_reaches_ptb_as_a_command(
    api: FaultyBotApi, bot: telegram.Bot
) -> None:
    injected = api.user_message(user_id=USER, text="/focus 25 write report", username="ada")
    [update] = await bot.get_updates()

    assert update.update_id == injected["update_id"] == 1
    assert update.message is not None
    assert update.message.text == "/focus 25 write report"
    assert update.message.from_user is not None
    assert update.message.from_user.username == "ada"
    [entity] = update.message.entities
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, len("/focus"))

    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Never called: only check_update is exercised."""

    assert CommandHandler("focus", callback).check_update(update)
    assert not CommandHandler("start", callback).check_update(update)


async def test_plain_text_has_no_command_entity(api: FaultyBotApi, bot: telegram.Bot) -> None:
    api.user_message(user_id=USER, text="just thinking")
    [update] = await bot.get_updates()
    assert update.message is not None
    assert update.message.entities == ()


async def test_get_updates_offset_confirms(api: FaultyBotApi, bot: telegram.Bot) -> None:
    for text in ("a", "b", "c"):
        api.user_message(user_id=USER, text=text)
    first = await bot.get_updates()
    assert [u.update_id for u in first] == [1, 2, 3]
    # Not confirmed yet: delivered again.
    assert [u.update_id for u in await bot.get_updates()] == [1, 2, 3]
    assert [u.update_id for u in await bot.get_updates(offset=3)] == [3]
    assert await bot.get_updates(offset=4) == ()
    assert api.pending_update_count == 0
    api.user_message(user_id=USER, text="d")
    assert [u.update_id for u in await bot.get_updates(limit=5)] == [4]


async def test_get_updates_limit(api: FaultyBotApi, bot: telegram.Bot) -> None:
    for _ in range(5):
        api.user_message(user_id=USER, text="x")
    assert [u.update_id for u in await bot.get_updates(limit=2)] == [1, 2]


async def test_long_poll_returns_promptly_when_an_update_arrives(
    api: FaultyBotApi, bot: telegram.Bot
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.05)
    assert not poll.done()
    api.user_message(user_id=USER, text="/start")
    updates = await asyncio.wait_for(poll, 2)
    assert [u.update_id for u in updates] == [1]
    assert time.monotonic() - started < 2


async def test_long_poll_times_out_empty(api: FaultyBotApi) -> None:
    started = time.monotonic()
    assert await api.call("getUpdates", {"timeout": 0.2}) == []
    assert 0.15 <= time.monotonic() - started < 2


async def test_second_poller_terminates_the_first(api: FaultyBotApi, bot: telegram.Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(bot.get_updates(timeout=10))
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, 2)
    api.user_message(user_id=USER, text="hi")
    assert len(await asyncio.wait_for(second, 2)) == 1


async def test_webhook_blocks_get_updates_until_deleted(
    api: FaultyBotApi, bot: telegram.Bot
) -> None:
    api.user_message(user_id=USER, text="old")
    assert await bot.set_webhook("https://example.org/hook", secret_token=SECRET)
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("https://example.org/hook", 1)
    assert api.webhook is not None
    assert api.webhook["secret_token"] == SECRET
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()
    assert (await bot.get_webhook_info()).url == ""


async def test_press_button_and_answer_callback(api: FaultyBotApi, bot: telegram.Bot) -> None:
    sent = await bot.send_message(USER, "Ready?", reply_markup=keyboard())
    api.user_press(user_id=USER, message_id=sent.message_id, button=1)
    api.user_press(user_id=USER, message_id=sent.message_id, data="focus:start")
    later, start = await bot.get_updates()

    for update, data in ((later, "focus:later"), (start, "focus:start")):
        query = update.callback_query
        assert query is not None
        assert query.data == data
        assert isinstance(query.message, telegram.Message)
        assert query.message.text == "Ready?"
        assert query.message.reply_markup == keyboard()
    assert later.callback_query is not None
    assert start.callback_query is not None
    assert later.callback_query.id != start.callback_query.id

    assert await later.callback_query.answer("See you later", show_alert=True)
    assert await bot.answer_callback_query(start.callback_query.id)
    assert [(a.callback_query_id, a.text, a.show_alert) for a in api.callback_answers] == [
        (later.callback_query.id, "See you later", True),
        (start.callback_query.id, None, False),
    ]
    with pytest.raises(BadRequest, match=r"(?i)query id is invalid"):
        await bot.answer_callback_query(start.callback_query.id)


async def test_press_reflects_the_current_state_of_the_message(
    api: FaultyBotApi, bot: telegram.Bot
) -> None:
    sent = await bot.send_message(USER, "v1", reply_markup=keyboard())
    await bot.edit_message_text(
        "v2",
        chat_id=USER,
        message_id=sent.message_id,
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Stop", callback_data="stop")]]),
    )
    update = api.user_press(user_id=USER, message_id=sent.message_id, button=0)
    assert update["callback_query"]["data"] == "stop"
    assert update["callback_query"]["message"]["text"] == "v2"


def test_press_rejects_impossible_presses(api: FaultyBotApi) -> None:
    with pytest.raises(ValueError, match="no message"):
        api.user_press(user_id=USER, message_id=1, data="x")


async def test_press_rejects_bad_button_indexes(api: FaultyBotApi, bot: telegram.Bot) -> None:
    sent = await bot.send_message(USER, "Ready?", reply_markup=keyboard())
    with pytest.raises(ValueError, match="has 3 buttons"):
        api.user_press(user_id=USER, message_id=sent.message_id, button=3)
    with pytest.raises(ValueError, match="no callback_data"):
        api.user_press(user_id=USER, message_id=sent.message_id, button=2)
    with pytest.raises(ValueError, match="exactly one"):
        api.user_press(user_id=USER, message_id=sent.message_id)


async def test_fail_next_retry_after(
    api: FaultyBotApi, bot: telegram.Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter.retry_after as timedelta
    api.fail_next("sendMessage", LocalApiError.too_many_requests(3), times=2)
    for _ in range(2):
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(USER, "hi")
        assert caught.value.retry_after == timedelta(seconds=3)
    assert (await bot.send_message(USER, "hi")).text == "hi"
    assert api.calls["sendMessage"] == 3
    assert len(api.sent) == 1


async def test_fail_next_forbidden(api: FaultyBotApi, bot: telegram.Bot) -> None:
    api.fail_next("sendMessage", LocalApiError.blocked_by_user())
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "hi")
    assert api.sent == []
    await bot.get_me()  # other methods are unaffected


def test_error_json_matches_telegram() -> None:
    assert LocalApiError.too_many_requests(3).to_json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }


async def test_send_document_keeps_bytes(api: FaultyBotApi, bot: telegram.Bot) -> None:
    content = b"day,minutes\n2024-05-01,50\n"
    sent = await bot.send_document(
        USER, document=content, filename="focus.csv", caption="Your week"
    )
    assert sent.document is not None
    assert (sent.document.file_name, sent.document.file_size) == ("focus.csv", len(content))
    assert sent.caption == "Your week"
    [msg] = api.sent
    assert (msg.kind, msg.file_name, msg.file_bytes, msg.text) == (
        "document",
        "focus.csv",
        content,
        "Your week",
    )


async def test_send_photo_keeps_png(api: FaultyBotApi, bot: telegram.Bot) -> None:
    png = tiny_png(3, 2)
    sent = await bot.send_photo(USER, photo=png, caption="<b>Chart</b>", parse_mode="HTML")
    assert (sent.photo[-1].width, sent.photo[-1].height) == (3, 2)
    assert sent.caption == "Chart"
    assert api.sent[0].kind == "photo"
    assert api.sent[0].file_bytes == png
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(USER, photo=b"not an image")


async def test_chat_action_and_commands(api: FaultyBotApi, bot: telegram.Bot) -> None:
    assert await bot.send_chat_action(USER, "typing")
    assert api.chat_actions == [(USER, "typing")]
    commands = [("focus", "Start a focus session"), ("stats", "Your week")]
    assert await bot.set_my_commands(commands)
    assert api.commands == [
        {"command": "focus", "description": "Start a focus session"},
        {"command": "stats", "description": "Your week"},
    ]
    assert [(c.command, c.description) for c in await bot.get_my_commands()] == commands
    assert await bot.delete_my_commands()
    assert api.commands == []
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([("Bad Command", "x")])


async def test_clock_and_on_outgoing() -> None:
    now = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    events: list[tuple[str, str | None]] = []

    def record(event: str, msg: OutgoingMessage) -> None:
        events.append((event, msg.text))

    api = FaultyBotApi(clock=lambda: now, on_outgoing=record)
    async with telegram.Bot(token=TOKEN, request=LocalRequest(api)) as bot:
        sent = await bot.send_message(USER, "a")
        await bot.edit_message_text("b", chat_id=USER, message_id=sent.message_id)
    assert sent.date == now
    assert api.sent[0].sent_at == now
    assert events == [("send", "a"), ("edit", "b")]


async def test_unknown_method_is_not_found(bot: telegram.Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": USER})


async def test_wait_for_wakes_on_send(api: FaultyBotApi, bot: telegram.Bot) -> None:
    async def send_later() -> None:
        await asyncio.sleep(0.05)
        await bot.send_message(USER, "ping")

    task = asyncio.create_task(send_later())
    await api.wait_for(lambda: len(api.sent) == 1, within=2)
    await task
    with pytest.raises(TimeoutError):
        await api.wait_for(lambda: len(api.sent) == 2, within=0.05)


# ---------------------------------------------------------------------- over HTTP


async def test_standin_serves_ptb_over_http(api: FaultyBotApi) -> None:
    async with BotApiStandin(api) as standin:
        assert standin.base_url.startswith("http://127.0.0.1:")
        assert standin.base_url.endswith("/bot")
        async with telegram.Bot(token=TOKEN, base_url=standin.base_url) as bot:
            me = await bot.get_me()
            sent = await bot.send_message(USER, "123", reply_markup=keyboard())
            api.user_message(user_id=USER, text="/start")
            updates = await bot.get_updates(timeout=5)

    assert me.username == api.username
    assert sent.text == "123"  # a numeric-looking text stays a string
    [msg] = api.sent
    assert (msg.chat_id, msg.text) == (USER, "123")  # while chat_id became an int
    assert msg.buttons()[0] == ("▶️ Start", "focus:start")
    [update] = updates
    assert update.message is not None
    assert update.message.text == "/start"
    assert update.message.entities[0].type == "bot_command"
    assert (TOKEN, "getMe") in standin.requests
    assert (TOKEN, "sendMessage") in standin.requests
    assert (TOKEN, "getUpdates") in standin.requests


async def test_standin_latency_delays_the_answer_not_the_effect(api: FaultyBotApi) -> None:
    async with (
        BotApiStandin(api, latency=0.2) as standin,
        telegram.Bot(token=TOKEN, base_url=standin.base_url) as bot,
    ):
        loop = asyncio.get_running_loop()
        started = loop.time()
        call = asyncio.ensure_future(bot.send_message(USER, "far away"))
        await api.wait_for(lambda: bool(api.sent), 5.0)
        took_effect = loop.time() - started
        await call
        answered = loop.time() - started
    assert 0.1 <= took_effect < answered  # half the round trip there, the rest back
    assert answered >= 0.2


async def test_standin_uploads_and_errors(
    api: FaultyBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    content = b"a,b\n1,2\n"
    async with (
        BotApiStandin(api) as standin,
        telegram.Bot(token=TOKEN, base_url=standin.base_url) as bot,
    ):
        doc = await bot.send_document(USER, document=content, filename="x.csv", caption="42")
        api.fail_next("sendMessage", LocalApiError.too_many_requests(7))
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(USER, "hi")
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("x", chat_id=USER, message_id=99)
    assert doc.document is not None
    assert doc.document.file_name == "x.csv"
    assert (api.sent[0].file_bytes, api.sent[0].text) == (content, "42")
    assert caught.value.retry_after == timedelta(seconds=7)


async def test_standin_stop_releases_a_waiting_long_poll(api: FaultyBotApi) -> None:
    standin = BotApiStandin(api)
    await standin.start()
    try:
        async with telegram.Bot(token=TOKEN, base_url=standin.base_url) as bot:
            poll = asyncio.create_task(bot.get_updates(timeout=30))
            await asyncio.sleep(0.2)
            assert not poll.done()
            started = time.monotonic()
            await standin.stop()
            assert time.monotonic() - started < 1.5
            assert await asyncio.wait_for(poll, 2) == ()
    finally:
        await standin.stop()


# ---------------------------------------------------------------------- network guard


def test_network_guard_blocks_the_outside(network_guard: list[str]) -> None:
    with pytest.raises(NetworkAccessBlockedError):
        socket.create_connection(("192.0.2.1", 443), timeout=0.1)
    with socket.socket() as sock, pytest.raises(NetworkAccessBlockedError):
        sock.connect(("192.0.2.1", 443))
    with pytest.raises(NetworkAccessBlockedError):
        socket.getaddrinfo("api.telegram.org", 443)
    assert len(network_guard) == 3
    network_guard.clear()  # expected attempts: don't fail this test at teardown


async def test_network_guard_allows_loopback(api: FaultyBotApi, network_guard: list[str]) -> None:
    async with BotApiStandin(api) as standin:
        with socket.create_connection(("127.0.0.1", standin.port), timeout=2):
            pass
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex(("localhost", standin.port)) == 0
    assert network_guard == []


# ---------------------------------------------------------------------- a whole PTB Application


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply to /start with a keyboard."""
    assert update.effective_chat is not None
    await context.bot.send_message(update.effective_chat.id, "Ready?", reply_markup=keyboard())


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a press and show which button it was."""
    query = update.callback_query
    assert query is not None
    await query.answer("Started")
    await query.edit_message_text(f"You chose {query.data}")


@pytest.mark.parametrize("transport", ["in-process", "http"])
async def test_application_polls_and_handles(api: FaultyBotApi, transport: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        builder = Application.builder().token(TOKEN)
        if transport == "http":
            standin = await stack.enter_async_context(BotApiStandin(api))
            builder = builder.base_url(standin.base_url)
        else:
            builder = builder.request(LocalRequest(api)).get_updates_request(LocalRequest(api))
        app = builder.build()
        app.add_handler(CommandHandler("start", start))
        app.add_handler(CallbackQueryHandler(pressed))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(timeout=5)
            api.user_message(user_id=USER, text="/start")
            await api.wait_for(lambda: len(api.messages_to(USER)) == 1)
            [msg] = api.messages_to(USER)
            api.user_press(user_id=USER, message_id=msg.message_id, button=0)
            await api.wait_for(lambda: msg.edits == 1 and len(api.callback_answers) == 1)
            await app.updater.stop()
            await app.stop()
    assert msg.text == "You chose focus:start"
    assert msg.reply_markup is None
    assert api.callback_answers[0].text == "Started"
    assert api.pending_update_count == 0  # the updater confirmed both updates on stop
