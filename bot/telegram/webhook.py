"""Webhook mode: our own HTTP server, which refuses a request before it reads the body.

python-telegram-bot's ``run_webhook`` serves updates with a tornado handler that buffers the
whole body (tornado allows 100 MiB) before it looks at the secret token: ten 95 MB POSTs
without the secret took the bot from 60 MB to 886 MB of memory before each got its 403.
Here the handler streams the body (``@stream_request_body``), so ``prepare()`` runs on the
headers alone: the method (405), the path (404), the secret (403, compared in constant time)
and the declared length (413) are checked before one byte of the body is read; a chunked
body is counted while it arrives and refused at the limit. A refused request's connection is
closed after the answer, so its body is never read. Only a body from someone who knows the
secret, and small enough, is kept: then it is parsed (400 for anything that is not an update
object) and put on ``application.update_queue``, exactly where PTB's handler puts it.

``serve_webhook`` runs the Application as ``run_webhook`` does: initialise, ``post_init``,
``setWebhook`` (with the secret and the allowed updates), listen, start; on SIGTERM, SIGINT
or SIGABRT stop listening, stop, ``post_stop``, shut down, ``post_shutdown``. Like
``run_webhook`` it deletes nothing at exit: Telegram keeps the webhook and queues updates
until the bot is back.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import signal
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

from telegram import Bot, Update
from telegram.ext import ExtBot
from tornado.httpserver import HTTPServer
from tornado.web import Application as TornadoApplication
from tornado.web import RequestHandler, stream_request_body

from bot.telegram.app import AnyApplication, close_application, open_application

__all__ = [
    "MAX_UPDATE_BYTES",
    "SECRET_HEADER",
    "ListenError",
    "WebhookConfig",
    "WebhookServer",
    "parse_update",
    "serve_webhook",
]

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret

MAX_UPDATE_BYTES = 1024 * 1024
"""The largest request body accepted (1 MiB); a larger one gets 413 unread.

Telegram's updates are small: a message's text is at most 4,096 UTF-16 units (24 KiB even
when every character is JSON-escaped), a caption 1,024; with its entities, a replied-to
message and a quote, an update stays well under 100 KiB. 1 MiB leaves ten times that, and
bounds what one authenticated request can cost.
"""

BODY_TIMEOUT_S = 30.0
"""Seconds a client may take to send a body (tornado's default: an hour)."""
IDLE_TIMEOUT_S = 120.0
"""Seconds an idle kept-alive connection is held open (tornado's default: an hour)."""

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)
"""The signals that stop the bot gracefully (run_webhook's)."""


@dataclass(frozen=True)
class WebhookConfig:
    """Where the server listens, what Telegram is told, and the secret it must present."""

    listen: str
    port: int
    url: str  # the public https URL given to setWebhook; its path is the path served
    secret: str
    allowed_updates: Sequence[str]
    max_connections: int = 40  # Telegram's default, as run_webhook passes it


def parse_update(body: bytes, bot: Bot) -> Update | None:
    """The update in ``body``, or None when it is not JSON or not an update object.

    The body is untrusted bytes: anything but a JSON object with an integer ``update_id``
    that PTB can build an Update from is refused. Caught are the kinds that malformed input
    raises: ``json.loads`` a ValueError (UnicodeDecodeError is one), and a RecursionError for
    nesting deeper than it handles; PTB's ``de_json`` a TypeError, KeyError, AttributeError or
    ValueError for an ill-shaped object (a string where a dict belongs, a missing field), an
    OverflowError or OSError for a date beyond the platform's, a RecursionError for a chain of
    replies hundreds deep. Nothing else is caught.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return None
    try:
        return Update.de_json(data, bot)
    except (
        TypeError,
        KeyError,
        AttributeError,
        ValueError,
        OverflowError,
        OSError,
        RecursionError,
    ):
        return None


class _Terse(RequestHandler):
    """Answers with a status and nothing else: no server name, no HTML error page."""

    def set_default_headers(self) -> None:
        """Tornado's defaults name the server and its version; ours say nothing."""
        self.clear_header("Server")
        self.clear_header("Content-Type")

    def write_error(self, status_code: int, **kwargs: object) -> None:
        """Tornado's own refusals (405, 500) without their HTML page."""
        self.finish()


@stream_request_body
class _UpdateHandler(_Terse):
    """POST at the webhook path: checked on its headers, then read, parsed and queued."""

    SUPPORTED_METHODS = ("POST",)  # others get 405, before prepare

    def initialize(self, app: AnyApplication, secret: bytes) -> None:
        """Tornado's per-request set-up: what the handler needs, and an empty body."""
        self.app = app
        self.secret = secret
        self.body = bytearray()
        self.why = ""  # set once refused

    def prepare(self) -> None:
        """Runs when the headers are in, before any byte of the body is read."""
        presented = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(presented.encode(), self.secret):
            self.refuse(HTTPStatus.FORBIDDEN, "no or wrong secret token")
            return
        declared = self.request.headers.get("Content-Length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                self.refuse(HTTPStatus.BAD_REQUEST, "unreadable Content-Length")
                return
            if size > MAX_UPDATE_BYTES:
                self.refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"Content-Length {size}")

    def data_received(self, chunk: bytes) -> None:
        """Keep the body, up to the limit (a chunked body declares no length)."""
        if len(self.body) + len(chunk) > MAX_UPDATE_BYTES:
            self.refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body over the limit")
            return
        self.body += chunk

    async def post(self) -> None:
        """The whole body is in: parse it and hand the update to the Application."""
        if self.why:  # refused while the body streamed in (tornado still calls post)
            return
        update = parse_update(bytes(self.body), self.app.bot)
        if update is None:
            self.refuse(HTTPStatus.BAD_REQUEST, "not an update object")
            return
        if isinstance(self.app.bot, ExtBot):  # arbitrary callback data, as PTB's handler does
            self.app.bot.insert_callback_data(update)
        await self.app.update_queue.put(update)
        self.finish()

    def refuse(self, status: HTTPStatus, why: str) -> None:
        """Answer ``status`` with no body and close the connection (so nothing more is read)."""
        self.why = why
        self.set_status(status)
        self.set_header("Connection", "close")
        self.finish()


@stream_request_body
class _NotFound(_Terse):
    """Every other path: 404 on the headers, body unread (tornado's own 404 buffers it)."""

    def prepare(self) -> None:
        """Refuse at once."""
        self.set_status(HTTPStatus.NOT_FOUND)
        self.set_header("Connection", "close")
        self.finish()

    def data_received(self, chunk: bytes) -> None:
        """Never reached: the request was finished in prepare."""


class _WebApp(TornadoApplication):
    """The tornado application: one path, and one log line per refusal (no access log)."""

    def log_request(self, handler: RequestHandler) -> None:
        """One line per refusal, its status and why; never a header, the path or the body.

        INFO for a request that carried the secret (it came from Telegram, or from someone
        who has the secret: worth the operator's eye), DEBUG for the rest (anyone can send
        those, and a scanner would fill the log)."""
        status = handler.get_status()
        if status < HTTPStatus.BAD_REQUEST:
            return
        level = logging.INFO if status in _AUTHENTICATED_REFUSALS else logging.DEBUG
        why = getattr(handler, "why", "") or HTTPStatus(status).phrase
        log.log(level, "webhook request refused: %d %s", status, why)


_AUTHENTICATED_REFUSALS = frozenset({HTTPStatus.BAD_REQUEST, HTTPStatus.REQUEST_ENTITY_TOO_LARGE})
"""Refusals that come after the secret was checked (an unknown status is a DEBUG line)."""


class ListenError(Exception):
    """The webhook server could not open its socket (FOCUS_WEBHOOK_LISTEN / _PORT)."""


class WebhookServer:
    """The HTTP server for updates at ``path``, fed into ``app.update_queue``."""

    def __init__(self, app: AnyApplication, path: str, secret: str) -> None:
        """Build the server; :meth:`listen` opens its socket."""
        route = re.escape("/" + path.strip("/")) if path.strip("/") else ""
        web = _WebApp(
            [(rf"{route}/?", _UpdateHandler, {"app": app, "secret": secret.encode()})],
            default_handler_class=_NotFound,
        )
        # Every handler streams and refuses at MAX_UPDATE_BYTES itself, with a 413. Tornado's
        # own body limit (100 MiB by default) stays a backstop, above ours: set at our limit,
        # it would answer a chunked body with a bare 400 as soon as a chunk header announced
        # more than the rest of the limit, before our handler had counted the bytes. (Only a
        # single chunk announcing over 100 MiB meets it: a 400, unread as well.)
        self._http = HTTPServer(
            web,
            body_timeout=BODY_TIMEOUT_S,
            idle_connection_timeout=IDLE_TIMEOUT_S,
        )

    def listen(self, port: int, address: str) -> int:
        """Listen on ``address``:``port`` (0: a free port); returns the port.

        Raises ListenError when the address can't be used (taken, not this machine's)."""
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            # Not tornado's bind_sockets: it leaves a socket it failed to bind open.
            sock = socket.create_server((address, port), family=family, backlog=128)
        except OSError as error:
            why = os.strerror(error.errno) if error.errno else str(error)
            raise ListenError(f"can't listen on {address}:{port} ({why})") from error
        sock.setblocking(False)
        self._http.add_sockets([sock])
        return int(sock.getsockname()[1])

    async def close(self) -> None:
        """Stop accepting connections, then close the open ones."""
        self._http.stop()
        await self._http.close_all_connections()


async def serve_webhook(
    app: AnyApplication, config: WebhookConfig, stop: asyncio.Event | None = None
) -> None:
    """Run ``app`` in webhook mode until ``stop`` is set or a stop signal arrives.

    The order is run_webhook's: initialise and ``post_init``; ``setWebhook``; listen; start;
    then stop listening, stop, ``post_stop``, shut down and ``post_shutdown``. Errors of
    ``initialize`` and ``setWebhook`` (a rejected token, an unreachable Bot API, a refused
    URL) propagate, after the shutdown.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        await open_application(app)
        try:
            await _serve(app, config, stop)
        finally:
            await close_application(app)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


async def _serve(app: AnyApplication, config: WebhookConfig, stop: asyncio.Event) -> None:
    # Telegram posts only after setWebhook, so it comes first, as in run_webhook.
    await app.bot.set_webhook(
        url=config.url,
        allowed_updates=config.allowed_updates,
        drop_pending_updates=False,
        max_connections=config.max_connections,
        secret_token=config.secret,
    )
    path = urlsplit(config.url).path
    server = WebhookServer(app, path, config.secret)
    port = server.listen(config.port, config.listen)
    log.info("webhook server listening on %s:%d at %s", config.listen, port, path or "/")
    try:
        await app.start()
        await stop.wait()
    finally:
        await server.close()
        if app.running:
            await app.stop()
            if app.post_stop is not None:
                await app.post_stop(app)
