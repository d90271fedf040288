"""The webhook server (bot/telegram/webhook.py) against raw HTTP on 127.0.0.1, with the real
Application.

Requests are written by hand on a socket, so a test can send the headers of a 95 MB body and
only a few bytes of it: an answer that comes at once proves the server did not wait for (and
buffer) the body. Each such read has a deadline; a server that reads before it checks would
wait for the rest of the body and miss it.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import functools
import json
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Bot, Update

from bot.telegram.webhook import (
    MAX_UPDATE_BYTES,
    SECRET_HEADER,
    ListenError,
    WebhookConfig,
    WebhookServer,
    parse_update,
    serve_webhook,
)
from tests.support.harness import BotHarness

SECRET = "webhook-Secret_42"  # noqa: S105 - a test secret
GUESS = "my-guess-1234"
PATH = "/focus-hook"
ATTACK = 95_000_000  # the size the tester sent: under tornado's 100 MiB default limit
PROMPT = 3.0  # seconds: an answer on the headers comes in milliseconds


class Served:
    """The real Application, started, behind a WebhookServer on an ephemeral port."""

    def __init__(self, harness: BotHarness, port: int) -> None:
        self.harness = harness
        self.port = port

    async def exchange(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        """Send ``head`` + ``body``; the answer's status and what came until the server closed.

        The status line is read first: a server that closes a connection with bytes still
        unread resets it, and asyncio then fails a read that waits for more.
        """
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(head + body)
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), PROMPT)
            rest = b""
            with contextlib.suppress(ConnectionResetError):
                rest = await asyncio.wait_for(reader.read(), PROMPT)
        finally:
            writer.close()
        return int(status_line.split()[1]), status_line + rest


def head(
    *,
    method: str = "POST",
    path: str = PATH,
    secret: str | None = SECRET,
    length: int | str | None = None,
    chunked: bool = False,
) -> bytes:
    """The request line and headers of a hand-made request."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines.append("Content-Type: application/json")  # as Telegram sends it
    if secret is not None:
        lines.append(f"{SECRET_HEADER}: {secret}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post(body: bytes, **kwargs: Any) -> tuple[bytes, bytes]:
    """Head and body of a POST of ``body`` with its Content-Length."""
    return head(length=len(body), **kwargs), body


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with BotHarness(tmp_path / "focus.db") as harness:
        await harness.app.start()  # so the update queue is consumed, as in production
        server = WebhookServer(harness.app, PATH, SECRET)
        try:
            yield Served(harness, server.listen(0, "127.0.0.1"))
        finally:
            await server.close()
            await harness.app.stop()


async def until(predicate: Any, seconds: float = 5.0) -> None:
    """Wait until ``predicate()`` holds; fail after ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("secret", [None, "", "guess", SECRET + "x", SECRET[:-1], "ümlaut"])
async def test_no_or_wrong_secret_gets_403_before_the_body_is_read(
    served: Served, secret: str | None
) -> None:
    # Headers of a 95 MB body, then 3 bytes of it: the answer comes without the rest.
    status, _ = await served.exchange(head(secret=secret, length=ATTACK), b"abc")
    assert status == 403


async def test_no_secret_on_a_chunked_body_gets_403_before_the_body_is_read(
    served: Served,
) -> None:
    status, _ = await served.exchange(head(secret=None, chunked=True), chunk(b"x" * 1000))
    assert status == 403


async def test_right_secret_but_a_declared_length_over_the_limit_gets_413_unread(
    served: Served,
) -> None:
    for length in (ATTACK, MAX_UPDATE_BYTES + 1, 10**12):
        status, _ = await served.exchange(head(length=length), b"{")
        assert status == 413, length


async def test_a_chunked_body_over_the_limit_gets_413_at_the_limit(served: Served) -> None:
    # Exactly the limit, then one byte more, and the body never ends (no last chunk): the
    # answer comes once the limit is crossed.
    body = chunk(b"x" * 65536) * (MAX_UPDATE_BYTES // 65536) + chunk(b"x")
    status, _ = await served.exchange(head(chunked=True), body)
    assert status == 413
    assert served.harness.api.sent == []


async def test_a_chunked_update_within_the_limit_is_accepted(served: Served) -> None:
    update = json.dumps(served.harness.api.user_message(user_id=71, text="/start")).encode()
    body = chunk(update[:10]) + chunk(update[10:]) + b"0\r\n\r\n"
    status, _ = await served.exchange(head(chunked=True), body)
    assert status == 200
    await until(lambda: any("Hi Ada" in (m.shown_text or "") for m in served.harness.api.sent))


async def test_the_right_secret_and_an_update_get_200_and_the_bot_answers(
    served: Served,
) -> None:
    api = served.harness.api
    update = json.dumps(api.user_message(user_id=72, text="/start")).encode()
    status, answer = await served.exchange(*post(update))
    assert status == 200
    assert b"Server:" not in answer  # no server name or version
    await until(lambda: any(m.chat_id == 72 and "Hi Ada" in (m.shown_text or "") for m in api.sent))


async def test_an_update_at_exactly_the_limit_is_read(served: Served) -> None:
    api = served.harness.api
    update = api.user_message(user_id=73, text="/start")
    padded = json.dumps(update).encode()
    padded = padded[:-1] + b" " * (MAX_UPDATE_BYTES - len(padded)) + b"}"
    assert len(padded) == MAX_UPDATE_BYTES
    status, _ = await served.exchange(*post(padded))
    assert status == 200
    await until(lambda: any(m.chat_id == 73 for m in api.sent))


NOT_UPDATES = [
    b"{not json",
    b"\xff\xfe",
    b"",
    b"[]",
    b'"text"',
    b"{}",
    b'{"update_id": "1"}',
    b'{"update_id": true}',
    b'{"update_id": 1, "message": "hello"}',
    b'{"update_id": 1, "message": {"message_id": 1, "date": 1e300, '
    b'"chat": {"id": 1, "type": "private"}}}',
    b"[" * 100_000 + b"]" * 100_000,
]


@pytest.mark.parametrize("body", NOT_UPDATES, ids=lambda b: repr(b[:30]))
async def test_malformed_json_or_not_an_update_gets_400_and_one_log_line(
    served: Served, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        status, _ = await served.exchange(*post(body))
    assert status == 400
    assert served.harness.api.sent == []
    assert not any(r.exc_info for r in caplog.records), "a traceback was logged"
    refusals = [r for r in caplog.records if "webhook request refused" in r.getMessage()]
    assert [(r.name, r.levelno) for r in refusals] == [("bot.telegram.webhook", logging.INFO)]
    assert refusals[0].getMessage().startswith("webhook request refused: 400")
    if len(body) > 2:
        assert body[:12].decode("latin-1") not in caplog.text  # never the body


async def test_a_deep_chain_of_replies_gets_400_not_500(served: Served) -> None:
    message = '{"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}, '
    body = ('{"update_id": 1, "message": ' + message * 900 + '"x": 0' + "}" * 901).encode()
    status, _ = await served.exchange(*post(body))
    assert status == 400


async def test_refusals_log_one_debug_line_without_the_secret_or_the_path(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        status, _ = await served.exchange(head(secret=GUESS, length=10), b"0123456789")
    assert status == 403
    lines = [r for r in caplog.records if r.name.startswith(("bot.telegram.webhook", "tornado"))]
    assert [(r.levelno, r.getMessage()) for r in lines] == [
        (logging.DEBUG, "webhook request refused: 403 no or wrong secret token")
    ]


async def test_another_path_gets_404_and_another_method_405_unread(served: Served) -> None:
    status, _ = await served.exchange(head(path="/other", length=ATTACK), b"abc")
    assert status == 404
    status, _ = await served.exchange(head(path="/", secret=None, length=ATTACK), b"abc")
    assert status == 404
    status, _ = await served.exchange(head(method="PUT", length=ATTACK), b"abc")
    assert status == 405
    status, _ = await served.exchange(head(method="GET"))
    assert status == 405
    update = json.dumps(served.harness.api.user_message(user_id=74, text="/start")).encode()
    status, _ = await served.exchange(*post(update, path=PATH + "/"))  # a trailing slash is fine
    assert status == 200


async def test_an_unreadable_content_length_gets_400(served: Served) -> None:
    status, _ = await served.exchange(head(length="12abc"), b"{}")
    assert status == 400


@functools.cache
def offline_bot() -> Bot:
    """A Bot for de_json to attach (it never sends; building one costs ~0.1 s of TLS set-up)."""
    return Bot("1:offline")


# What PTB's de_json is handed: any JSON value under any update kind, with field names it
# knows (so that it gets past the first level and into the nested objects).
FIELDS = ["message_id", "date", "chat", "from", "id", "type", "text", "is_bot", "first_name"]
FIELDS += ["entities", "offset", "length", "data", "message", "reply_to_message", "edit_date"]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(FIELDS),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["message", "edited_message", "callback_query", "my_chat_member"]),
    value=json_values,
    update_id=st.integers(min_value=-(2**63), max_value=2**63) | st.text(max_size=3),
)
def test_parse_update_returns_an_update_or_none_for_any_json(
    kind: str, value: object, update_id: object
) -> None:
    body = json.dumps({"update_id": update_id, kind: value}).encode()
    update = parse_update(body, offline_bot())
    assert update is None or isinstance(update, Update)
    if not isinstance(update_id, int):
        assert update is None


def test_parse_update_reads_a_real_update() -> None:
    body = json.dumps(
        {
            "update_id": 9,
            "message": {
                "message_id": 3,
                "date": 1_700_000_000,
                "chat": {"id": 5, "type": "private"},
                "from": {"id": 5, "is_bot": False, "first_name": "Ada"},
                "text": "/start",
            },
        }
    ).encode()
    update = parse_update(body, offline_bot())
    assert update is not None and update.update_id == 9
    assert update.message is not None and update.message.text == "/start"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_webhook_sets_the_webhook_serves_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    harness = BotHarness(tmp_path / "focus.db")  # not entered: serve_webhook runs the lifecycle
    api, app = harness.api, harness.app
    port = free_port()
    config = WebhookConfig(
        listen="127.0.0.1",
        port=port,
        url=f"https://focus.example.test{PATH}",
        secret=SECRET,
        allowed_updates=["message", "callback_query"],
    )
    task = asyncio.create_task(serve_webhook(app, config))
    try:
        await until(lambda: app.running)
        assert api.webhook is not None
        assert api.webhook["url"] == config.url
        assert api.webhook["secret_token"] == SECRET
        assert api.webhook["allowed_updates"] == ["message", "callback_query"]
        update = json.dumps(api.user_message(user_id=75, text="/start")).encode()
        status, _ = await Served(harness, port).exchange(*post(update))
        assert status == 200
        await until(lambda: any(m.chat_id == 75 for m in api.sent))
        # SIGTERM stops it gracefully (were no handler installed, it would end pytest).
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, 10)
    finally:
        if faulthandler.is_enabled():  # asyncio's handler for SIGABRT replaced pytest's
            faulthandler.enable()
    assert not app.running
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers removed again
    assert harness.app.bot_data.service is not None
    assert api.webhook is not None  # left in place: Telegram queues updates until we are back
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)  # no longer listening


async def test_a_port_in_use_is_a_listen_error_not_a_traceback(tmp_path: Path) -> None:
    harness = BotHarness(tmp_path / "focus.db")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        server = WebhookServer(harness.app, PATH, SECRET)
        with pytest.raises(ListenError, match=rf"can't listen on 127\.0\.0\.1:{port} \(.+\)"):
            server.listen(port, "127.0.0.1")
