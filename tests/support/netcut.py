"""A TCP proxy on 127.0.0.1 that can cut the network: for the end-to-end tests.

While cut, it refuses new connections (nothing listens) and resets the ones open, as a laptop
that lost its Wi-Fi sees; once restored, it forwards again to the same target.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

__all__ = ["NetCut"]


class NetCut:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port`` unless cut."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def base_url(self) -> str:
        """The Bot API's base URL through the proxy."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        """Listen (again, on the same port once it had one) and forward."""
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        """Stop listening and reset every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def restore(self) -> None:
        """The network is back."""
        await self.start()

    async def __aenter__(self) -> NetCut:
        """Start forwarding."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop."""
        await self.cut()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            self._open.discard(writer)
            with contextlib.suppress(OSError, RuntimeError):
                writer.transport.abort()
