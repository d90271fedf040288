"""Console mode: chat with the real bot in a terminal, no Telegram needed.

The same Application, handlers, storage and dispatcher run against an in-process Bot API
(:mod:`bot.offline.local_api`). What the bot sends is printed; buttons get numbers, and typing
``#2`` presses button 2 (a bare ``4`` stays a plain message, so a score reply works as in Telegram);
``> some words`` sends them as a reply to the bot's last message (as swiping to reply does).
"""

from __future__ import annotations

import asyncio
import getpass
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from bot.core.clock import Clock, SystemClock
from bot.core.settings import Settings
from bot.core.timefmt import clock_time, zone
from bot.offline.local_api import LocalBotApi, LocalRequest, OutgoingMessage
from bot.telegram.app import build_application, close_application, open_application

__all__ = ["CONSOLE_CHAT_ID", "Console", "run_console"]

CONSOLE_CHAT_ID = 1
_PRESS = re.compile(r"^#(\d{1,6})$")

BANNER = """\
Focus Companion — console mode. You are chatting with the bot as user {user_id}.
Type commands as in Telegram (/focus 45 write the report, /status, /help ...).
Press a button by typing its number with # (#1); "> words" replies to the bot's last
message. Files the bot sends (/export, /stats charts) are saved in ./downloads. /quit or
Ctrl-D leaves.
"""


class Console:
    """Prints the bot's messages and turns typed lines into user updates."""

    def __init__(
        self, out: TextIO, clock: Clock, user_name: str, downloads: Path = Path("downloads")
    ) -> None:
        self.out = out
        self.downloads = downloads
        self.clock = clock
        self.user_name = user_name
        self.buttons: dict[int, tuple[int, str]] = {}
        self._next_button = 1
        self.last_message_id: int | None = None  # what "> words" replies to
        self.api = _ConsoleApi(self, clock)

    def show(self, change: str, message: OutgoingMessage) -> None:
        """Print a message the bot sent or edited, numbering its buttons."""
        stamp = clock_time(self.clock.now(), zone("UTC"))
        head = "✎ edited" if change == "edit" else "🤖"
        if change != "edit":
            self.last_message_id = message.message_id
        print(f"\n{head} [{stamp}]", file=self.out)
        if message.shown_text:
            print(message.shown_text, file=self.out)
        if message.file_bytes is not None:
            name = message.file_name or f"file-{message.message_id}"
            saved = self.save(name, message.file_bytes)
            print(f"📎 {name} — saved to {saved}", file=self.out)
        labels = []
        for text, data in message.buttons():
            number = self._next_button
            self._next_button += 1
            self.buttons[number] = (message.message_id, data)
            labels.append(f"[#{number} {text}]")
        if labels:
            print("  ".join(labels), file=self.out)
        self.out.flush()

    def save(self, name: str, data: bytes) -> Path:
        """Keep a file the bot sent (an export, a chart) where the user can open it."""
        self.downloads.mkdir(parents=True, exist_ok=True)
        target = self.downloads / Path(name).name  # never outside the folder
        target.write_bytes(data)
        return target

    def answered(self, text: str | None) -> None:
        """Print a callback answer (the small toast Telegram shows after a button press)."""
        if text:
            print(f"  ↳ {text}", file=self.out)
            self.out.flush()

    def type_line(self, line: str) -> bool:
        """Feed one typed line to the bot; False when the user wants to leave."""
        line = line.strip()
        if not line:
            return True
        if line in ("/quit", "/exit"):
            return False
        press = _PRESS.match(line)
        if press:
            target = self.buttons.get(int(press.group(1)))
            if target is None:
                print(f"  (no button #{press.group(1)})", file=self.out)
                return True
            message_id, data = target
            self.api.user_press(
                user_id=CONSOLE_CHAT_ID, chat_id=CONSOLE_CHAT_ID, message_id=message_id, data=data
            )
            return True
        if line.startswith(">") and line[1:].strip():
            self.api.user_message(
                user_id=CONSOLE_CHAT_ID,
                text=line[1:].strip(),
                first_name=self.user_name,
                reply_to_message_id=self.last_message_id,
            )
            return True
        self.api.user_message(user_id=CONSOLE_CHAT_ID, text=line, first_name=self.user_name)
        return True


class _ConsoleApi(LocalBotApi):
    """The in-process Bot API, echoing callback answers to the console."""

    def __init__(self, console: Console, clock: Clock) -> None:
        super().__init__(clock=clock.now, on_outgoing=console.show)
        self._console = console

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """Run the method; show callback answers as they happen."""
        result = await super().call(method, params)
        if method.lower() == "answercallbackquery":
            text = params.get("text")
            self._console.answered(text if isinstance(text, str) else None)
        return result


async def _settle(api: LocalBotApi, queue: asyncio.Queue[object]) -> None:
    """Wait until the line just typed has been fetched and handled.

    Keeps piped input (``printf ... | focus-companion console``) in step with the bot: a
    ``#3`` on the next line can only press a button that has been shown.
    """
    try:
        await api.wait_for(lambda: api.pending_update_count == 0 and queue.empty(), 5.0)
    except TimeoutError:
        return
    await asyncio.sleep(0.15)  # the handler of the last update finishing its replies


async def _stdin_line() -> str | None:
    line = await asyncio.to_thread(sys.stdin.readline)
    return line or None


async def run_console(
    settings: Settings,
    *,
    read_line: Callable[[], Awaitable[str | None]] = _stdin_line,
    out: TextIO = sys.stdout,
    clock: Clock | None = None,
) -> int:
    """Run the bot against the console until EOF or /quit; returns an exit code."""
    clock = clock or SystemClock()
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        name = "you"
    console = Console(out, clock, name)
    app = build_application(
        settings,
        clock=clock,
        request=LocalRequest(console.api),
        get_updates_request=LocalRequest(console.api),
        token="1:console",  # noqa: S106 - not a secret: the in-process API accepts any token
        rate_limiter=False,
    )
    print(BANNER.format(user_id=CONSOLE_CHAT_ID), file=out)
    if settings.focus_time_scale != 1:
        print(
            f"(FOCUS_TIME_SCALE={settings.focus_time_scale:g}: time runs that much faster.)\n",
            file=out,
        )
    await open_application(app)
    assert app.updater is not None  # noqa: S101 - built with the default updater
    await app.updater.start_polling(poll_interval=0, timeout=5)
    await app.start()
    try:
        while (line := await read_line()) is not None:
            if not console.type_line(line):
                break
            await _settle(console.api, app.update_queue)
    finally:
        console.api.interrupt_polls()
        await app.updater.stop()
        await app.stop()
        await close_application(app)
    return 0
