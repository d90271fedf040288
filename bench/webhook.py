"""Webhook under attack: the bot's memory while large POSTs without the secret arrive.

The real bot process (``python -m bot``, run from the repository root, so it is the code of
that checkout) runs in webhook mode against the Bot API stand-in, both on 127.0.0.1. Then:

1. one real update, with the secret, must be answered (the bot is up and warm); its RSS
   (``VmRSS`` in ``/proc/<pid>/status``) is read: *before*;
2. ``attackers`` POSTs of ``body_bytes`` each, all at once, none with the secret, each body
   declared in Content-Length and streamed from a generator (this process never holds one),
   the answer read while the body is sent; the bot's RSS is sampled every 10 ms meanwhile,
   and each answer's status recorded. A server that answers on the headers closes the
   connection unread; a client still sending may then get the reset before the answer,
   which is recorded as ``ConnectionResetError``;
3. a second after the last answer: *after*, and ``VmHWM``, the process's peak RSS, as *peak*;
   a second real update must be answered too, and SIGTERM must stop the bot with exit code 0.

A server that checks the secret before it reads the body answers each POST at once and its
memory does not move; one that reads first holds every body until its 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot.core.clock import SystemClock
from bot.offline.local_api import LocalBotApi
from tests.support.standin import BotApiStandin

from .common import environment_without_focus, rss_kib

__all__ = ["WebhookResult", "run_webhook_attack"]

SECRET = "bench-webhook-secret"  # noqa: S105 - a secret for this run only
TOKEN = "4839574812:AAFakeTokenForTheWebhookBench_xyz"  # noqa: S105 - the stand-in takes any
PATH = "/focus-hook"
PIECE = 64 * 1024
"""Bytes of each piece the attack's bodies are streamed in."""
SETTLE_S = 1.0
"""Seconds waited after the last answer before *after* is read."""
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class WebhookResult:
    """What one attack measured (memory in KiB, from /proc/<pid>/status)."""

    attackers: int
    body_bytes: int
    statuses: Counter[str]  # "403", or what the client got instead of an answer
    seconds: float  # from the first POST to the last answer
    rss_before_kib: int
    hwm_before_kib: int
    rss_sampled_max_kib: int
    rss_after_kib: int
    hwm_after_kib: int
    answered_after: bool  # a real update was answered after the attack
    exit_code: int  # of SIGTERM

    def status_text(self) -> str:
        """``403 ×10``, or every outcome with its count."""
        return ", ".join(f"{k} ×{v}" for k, v in sorted(self.statuses.items()))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _until(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"webhook bench: {what} within {seconds} s")
        await asyncio.sleep(0.02)


async def _listening(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"webhook bench: nothing listening on {port}") from None
            await asyncio.sleep(0.02)
        else:
            writer.close()
            await writer.wait_closed()
            return


def _pieces(size: int) -> Iterator[bytes]:
    """``size`` bytes, one shared piece at a time (nothing held per request)."""
    piece = b"x" * PIECE
    for start in range(0, size, PIECE):
        yield piece[: min(PIECE, size - start)]


async def _attack(port: int, size: int) -> str:
    """One POST of ``size`` bytes without the secret; its status, or what went wrong.

    Written by hand on a socket, its answer awaited while the body is sent: a server that
    answers on the headers closes the connection unread, which makes the sending fail, and
    the answer it sent before is still in the socket to read.
    """
    loop = asyncio.get_running_loop()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    )

    async def send() -> None:
        with contextlib.suppress(ConnectionError):  # closed by the server: it answered
            await loop.sock_sendall(sock, head.encode())
            for piece in _pieces(size):
                await loop.sock_sendall(sock, piece)

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        sender = asyncio.create_task(send())
        try:
            answer = await asyncio.wait_for(loop.sock_recv(sock, 1024), 120)
        except (ConnectionError, TimeoutError) as error:
            return type(error).__name__
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    parts = answer.split(b"\r\n", 1)[0].split()
    return parts[1].decode() if len(parts) > 1 else "no answer"


async def _answered(api: LocalBotApi, http: aiohttp.ClientSession, url: str, user_id: int) -> bool:
    """Post a real /start with the secret; whether the bot answered it within 20 s."""
    update = api.user_message(user_id=user_id, text="/start")
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with http.post(url, json=update, headers=headers) as response:
        if response.status != 200:
            return False
    try:
        await _until(lambda: bool(api.messages_to(user_id)), 20, "no answer")
    except RuntimeError:
        return False
    return True


async def run_webhook_attack(workdir: Path, attackers: int, body_bytes: int) -> WebhookResult:
    """Start the bot in webhook mode, attack it, measure it; see the module docstring."""
    api = LocalBotApi(clock=SystemClock().now)
    port = _free_port()
    async with BotApiStandin(api) as standin:
        env = {
            **environment_without_focus(),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": standin.base_url,
            "FOCUS_DATABASE": str(workdir / "webhook.db"),
            "FOCUS_WEBHOOK_URL": f"https://focus.example.test{PATH}",
            "FOCUS_WEBHOOK_LISTEN": "127.0.0.1",
            "FOCUS_WEBHOOK_PORT": str(port),
            "FOCUS_WEBHOOK_SECRET": SECRET,
            "LOG_LEVEL": "WARNING",
        }
        with (workdir / "bot.log").open("wb") as log:
            bot = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=ROOT, env=env, stdout=log, stderr=log
            )
        try:
            return await _measure(api, bot, port, attackers, body_bytes)
        except RuntimeError as error:
            tail = (workdir / "bot.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{error}; the bot's log ends:\n{tail}") from error
        finally:
            if bot.returncode is None:
                bot.kill()
                await bot.wait()


async def _measure(
    api: LocalBotApi,
    bot: asyncio.subprocess.Process,
    port: int,
    attackers: int,
    body_bytes: int,
) -> WebhookResult:
    await _until(lambda: api.webhook is not None, 60, "setWebhook was not called")
    await _listening(port, 30)
    url = f"http://127.0.0.1:{port}{PATH}"
    async with aiohttp.ClientSession() as http:
        if not await _answered(api, http, url, user_id=1):
            raise RuntimeError("webhook bench: the bot did not answer a real update")
        rss_before, hwm_before = rss_kib(bot.pid)
        sampled = [rss_before]
        attack = asyncio.gather(*(_attack(port, body_bytes) for _ in range(attackers)))
        started = time.monotonic()
        while not attack.done():
            sampled.append(rss_kib(bot.pid)[0])
            await asyncio.sleep(0.01)
        seconds = time.monotonic() - started
        statuses = Counter(await attack)
        await asyncio.sleep(SETTLE_S)
        rss_after, hwm_after = rss_kib(bot.pid)
        answered = await _answered(api, http, url, user_id=2)
    bot.send_signal(signal.SIGTERM)
    exit_code = await asyncio.wait_for(bot.wait(), 30)
    return WebhookResult(
        attackers=attackers,
        body_bytes=body_bytes,
        statuses=statuses,
        seconds=seconds,
        rss_before_kib=rss_before,
        hwm_before_kib=hwm_before,
        rss_sampled_max_kib=max(sampled),
        rss_after_kib=rss_after,
        hwm_after_kib=hwm_after,
        answered_after=answered,
        exit_code=exit_code,
    )
