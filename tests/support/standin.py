"""A Bot API stand-in served over HTTP on 127.0.0.1, for end-to-end tests.

The real bot process talks to it with PTB's ordinary ``HTTPXRequest`` by pointing
``TELEGRAM_BASE_URL`` (PTB's ``base_url``) at :attr:`BotApiStandin.base_url`; every request is
answered by a :class:`bot.offline.local_api.LocalBotApi`, which the test drives and inspects.
"""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot.offline.local_api import LocalApiError, LocalBotApi, UploadedFile

# PTB sends string values raw and everything else json.dumps'd (RequestParameter.json_value),
# so "123" may be the int 123 or the text "123". Parameters that are strings in the Bot API
# are kept as sent; the others are JSON-decoded when they parse.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "parse_mode",
        "data",
        "description",
        "short_description",
        "name",
        "title",
        "command",
        "action",
        "language_code",
        "emoji",
        "message_effect_id",
        "business_connection_id",
        "photo",
        "document",
        "first_name",
        "last_name",
        "phone_number",
        "question",
    }
)
_MAX_BODY = 64 * 1024 * 1024  # the Bot API accepts uploads up to 50 MB


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def _decode_field(name: str, raw: str) -> Any:
    """Undo PTB's form encoding of one parameter."""
    if name in _STRING_PARAMS:
        return raw
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return raw


class BotApiStandin:
    """The Bot API over HTTP on 127.0.0.1, backed by a LocalBotApi, for end-to-end tests."""

    def __init__(
        self, api: LocalBotApi, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0
    ) -> None:
        """Serve ``api`` on ``host``:``port`` (0: a free port) once started. ``latency``: the
        seconds of a round trip to Telegram's servers, half before a call takes effect and half
        after (0: answer at once)."""
        self.api = api
        self.latency = latency
        self.host = host
        self.port = port
        self.base_url = ""
        self.requests: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None
        self._stopping = False

    async def start(self) -> None:
        """Start listening; sets :attr:`port` and :attr:`base_url`."""
        if self._runner is not None:
            raise RuntimeError("BotApiStandin already started")
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("GET", "/bot{token}/{method}", self._handle)
        app.router.add_route("POST", "/bot{token}/{method}", self._handle)
        # A long poll still waiting at stop() is released by interrupt_polls(); the timeout
        # only bounds how long cleanup waits for any other handler.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._stopping = False
        self.port = int(runner.addresses[0][1])
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.base_url = f"http://{host}:{self.port}/bot"

    async def stop(self) -> None:
        """Release waiting long polls and stop serving."""
        if self._runner is None:
            return
        self._stopping = True
        self.api.interrupt_polls()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> BotApiStandin:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        await self.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        self.requests.append((token, method))
        try:
            params = await self._params(request)
        except ValueError as error:
            bad = LocalApiError.bad_request(f"can't parse request: {error}")
            return web.json_response(bad.to_json(), status=bad.error_code)
        if self._stopping and method.lower() == "getupdates":
            params["timeout"] = 0
        if self.latency:
            await asyncio.sleep(self.latency / 2)
        try:
            result = await self.api.call(method, params)
        except LocalApiError as error:
            return web.json_response(error.to_json(), status=error.error_code)
        finally:
            if self.latency:
                await asyncio.sleep(self.latency / 2)
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        """The request's parameters as Python values, uploads as UploadedFile."""
        params: dict[str, Any] = {k: _decode_field(k, v) for k, v in request.query.items()}
        if not request.body_exists:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("a JSON body must be an object")
            params.update(body)
            return params
        form: MultiDictProxy[str | bytes | bytearray | web.FileField] = await request.post()
        uploads: dict[str, UploadedFile] = {}
        for name, value in form.items():
            if isinstance(value, web.FileField):
                uploads[name] = UploadedFile(
                    file_name=value.filename,
                    data=value.file.read(),
                    mime_type=value.content_type,
                )
            else:
                text = value.decode() if isinstance(value, bytes | bytearray) else value
                params[name] = _decode_field(name, text)
        for part_name, upload in uploads.items():
            # A part is either the parameter itself or referenced as attach://<part name>.
            referenced = [k for k, v in params.items() if v == f"attach://{part_name}"]
            for key in referenced:
                params[key] = upload
            if not referenced:
                params[part_name] = upload
        return params
