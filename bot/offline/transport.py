"""python-telegram-bot's transport, answered in-process by a LocalBotApi: no network call is
possible through it."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

from bot.offline.errors import LocalApiError
from bot.offline.records import UploadedFile

if TYPE_CHECKING:
    from bot.offline.local_api import LocalBotApi

__all__ = ["LocalRequest", "local_params"]


class LocalRequest(BaseRequest):
    """PTB request answering from a LocalBotApi in-process: a real network call is impossible."""

    def __init__(self, api: LocalBotApi, read_timeout: float | None = 5.0) -> None:
        """Route every request of a ``telegram.Bot`` to ``api``; enforce ``read_timeout``."""
        self.api = api
        self._read_timeout = read_timeout

    @property
    def read_timeout(self) -> float | None:
        """Default read timeout (PTB adds the long-poll ``timeout`` to it for getUpdates)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Answer one Bot API request from the LocalBotApi as (HTTP status, JSON body)."""
        api_method = url.rstrip("/").rsplit("/", 1)[-1]
        params = local_params(request_data)
        timeout = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        try:
            result = await asyncio.wait_for(self.api.call(api_method, params), timeout)
        except LocalApiError as error:
            return error.error_code, json.dumps(error.to_json()).encode()
        except TimeoutError as error:
            raise TimedOut(f"LocalBotApi did not answer {api_method} within {timeout} s") from error
        return 200, json.dumps({"ok": True, "result": result}).encode()


def local_params(request_data: RequestData | None) -> dict[str, Any]:
    """PTB's request parameters as Python values, with uploads as :class:`UploadedFile`."""
    if request_data is None:
        return {}
    params: dict[str, Any] = dict(request_data.parameters)
    if request_data.contains_files:
        for part_name, (file_name, content, mime_type) in request_data.multipart_data.items():
            data = content if isinstance(content, bytes) else content.read()
            upload = UploadedFile(file_name=file_name, data=data, mime_type=mime_type)
            attach_uri = f"attach://{part_name}"
            referenced = [k for k, v in params.items() if v == attach_uri]
            for key in referenced:
                params[key] = upload
            if not referenced:
                params[part_name] = upload
    return params
