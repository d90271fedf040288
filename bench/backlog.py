"""One person's flood against the real bot process, over HTTP: ``--only flood_backlog``.

The bot runs as production starts it — ``python -m bot``, long polling, the production rate
limiter, PTB's HTTPXRequest — pointed at the Bot API stand-in served on 127.0.0.1 from this
process. One user sends ``flood`` plain messages in ``flood_seconds`` (each would get a hint
reply); others send /help, one every ``PROBE_EVERY`` seconds in turn, and we time each from
the moment it is handed to getUpdates until its answer reaches the stand-in. Measured:

- the bot process's RSS before the flood and ``seconds`` after it began (and its peak);
- how long the bot takes to fetch the whole flood (PTB turning 20,000 JSON updates into
  ``Update`` objects is most of it);
- the others' latency, p50 / p99 / worst, while the flood is being fetched (their updates are
  behind it in getUpdates) and in the ``after`` seconds after;
- what the flooder got: answers in all, and how many were the "slow down" answer;
- SIGTERM with a backlog: a second, smaller flood, fetched by the bot in full, then SIGTERM;
  the time until the process exits (given up after ``sigterm_cap`` seconds, then SIGKILL).

It needs nothing of the new code: run from a checkout of an older commit (with this file and
``bench/__main__.py`` copied in), it measures that commit the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.clock import SystemClock
from bot.offline.local_api import OutgoingMessage
from bot.telegram import texts
from tests.support.standin import BotApiStandin

from .common import ForgetfulBotApi, create_database, environment_without_focus, percentile

__all__ = ["PROBE_EVERY", "BacklogResult", "run_backlog"]

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "4839574812:AAFakeTokenForTheBacklogBenchmark_xyz"  # noqa: S105 - the stand-in's
FLOODER = 7_000_001
PROBERS = tuple(range(7_000_002, 7_000_007))
"""The other users, taking turns: each asks once a second, inside a chat's own 1 a second."""
PROBE_EVERY = 0.2
"""Seconds between two /help of the others (each waits for the answer to the one before)."""
INTAKE_CAP = 60.0
"""Seconds to wait for the bot to fetch the whole flood."""
SLOW_DOWN: str | None = getattr(texts, "SLOW_DOWN", None)
"""The answer to a full backlog (None on commits that have none)."""


@dataclass
class BacklogResult:
    """What one flood measured."""

    flood: int
    seconds: float
    rss_before_kib: int
    rss_after_kib: int
    hwm_kib: int
    probe_ms: list[float] = field(repr=False)
    """The others' /help sent while the flood was still being fetched: they queue behind it
    in getUpdates, as at Telegram, so these measure how fast the bot takes updates in."""
    probe_after_ms: list[float] = field(repr=False)
    """Sent after the flood was fetched, while the flooder's backlog is answered."""
    probes_unanswered: int
    intake_s: float | None
    """From the flood's start until the bot had fetched all of it (None: not within
    ``INTAKE_CAP``)."""
    flood_answers: int
    slow_downs: int
    second_flood: int
    sigterm_s: float | None
    """Seconds from SIGTERM to exit; None when it was still running after ``sigterm_cap``."""
    sigterm_cap: float
    answers_after_sigterm: int
    exit_code: int | None

    def probe_p(self, q: float, *, after: bool = False) -> float:
        """The others' latency percentile, ms: while the flood was fetched, or ``after``."""
        return percentile(self.probe_after_ms if after else self.probe_ms, q)


def _rss_of(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of process ``pid`` in KiB."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


class _Chats:
    """What the stand-in received, per chat that matters here."""

    def __init__(self) -> None:
        self.flood_answers = 0
        self.slow_downs = 0
        self.probe_answers = 0
        self.changed = asyncio.Event()

    def on_outgoing(self, change: str, msg: OutgoingMessage) -> None:
        if change != "send":
            return
        if msg.chat_id == FLOODER:
            self.flood_answers += 1
            if SLOW_DOWN is not None and msg.text == SLOW_DOWN:
                self.slow_downs += 1
        elif msg.chat_id in PROBERS:
            self.probe_answers += 1
            self.changed.set()


class _Prober:
    """The other users: /help every PROBE_EVERY seconds, one at a time, in turn, timed."""

    def __init__(self, api: ForgetfulBotApi, chats: _Chats) -> None:
        self.api, self.chats = api, chats
        self.probes: list[tuple[float, float]] = []
        """(when it was sent, ms until answered), for each probe answered."""
        self.unanswered = 0

    async def run(self, stop: asyncio.Event, give_up: float = 30.0) -> None:
        """Probe until ``stop`` is set; a probe unanswered after ``give_up`` s ends it."""
        loop = asyncio.get_running_loop()
        turn = 0
        while not stop.is_set():
            answered = self.chats.probe_answers
            self.chats.changed.clear()
            started = loop.time()
            self.api.user_message(user_id=PROBERS[turn % len(PROBERS)], text="/help")
            turn += 1
            while self.chats.probe_answers == answered and loop.time() < started + give_up:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.chats.changed.wait(), 0.5)
                self.chats.changed.clear()
            if self.chats.probe_answers == answered:
                self.unanswered += 1
                return
            self.probes.append((started, (loop.time() - started) * 1000))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, started + PROBE_EVERY - loop.time()))

    async def for_(self, seconds: float) -> None:
        """Probe for ``seconds``."""
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await self.run(stop)


async def _flood(api: ForgetfulBotApi, count: int, seconds: float, offset: int = 0) -> None:
    """Hand ``count`` messages of the flooder to getUpdates in 20 parts over ``seconds``."""
    parts = 20
    for part in range(parts):
        for n in range(part * count // parts, (part + 1) * count // parts):
            api.user_message(user_id=FLOODER, text=f"hello {offset + n}")
        await asyncio.sleep(seconds / parts)


async def _fetched(api: ForgetfulBotApi, within: float) -> float | None:
    """When getUpdates has nothing left pending (the flood has begun), or None after
    ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if not api.pending_update_count:
            return loop.time()
        await asyncio.sleep(0.02)
    return None


async def _rss_at(pid: int, when: float) -> tuple[int, int]:
    await asyncio.sleep(max(0.0, when - asyncio.get_running_loop().time()))
    return _rss_of(pid)


async def _until(predicate: Callable[[], bool], within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {within} s")
        await asyncio.sleep(0.02)


async def run_backlog(
    work: Path,
    flood: int,
    *,
    flood_seconds: float,
    seconds: float,
    after: float,
    second_flood: int,
    sigterm_cap: float,
) -> BacklogResult:
    """Start the bot, flood it, measure, flood again and SIGTERM it (see the module)."""
    database = work / "backlog.db"
    await create_database(database)
    chats = _Chats()
    api = ForgetfulBotApi(clock=SystemClock().now, on_outgoing=chats.on_outgoing)
    async with BotApiStandin(api) as standin:
        env = {
            **environment_without_focus(),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": standin.base_url,
            "FOCUS_DATABASE": str(database),
            "LOG_LEVEL": "WARNING",
        }
        with (work / "bot.log").open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        try:
            loop = asyncio.get_running_loop()
            await _until(lambda: api.calls["getUpdates"] > 0, 30)
            await _Prober(api, chats).for_(1.0)  # the bot has answered, and settled
            rss_before, _ = _rss_of(proc.pid)
            started = loop.time()
            prober, stop = _Prober(api, chats), asyncio.Event()
            probing = asyncio.create_task(prober.run(stop))
            sample = asyncio.create_task(_rss_at(proc.pid, started + seconds))
            await _flood(api, flood, flood_seconds)
            intake = await _fetched(api, INTAKE_CAP)
            await asyncio.sleep(after)
            stop.set()
            await probing
            rss_after, _ = await sample
            _, hwm = _rss_of(proc.pid)
            flood_answers, slow_downs = chats.flood_answers, chats.slow_downs
            intake_s = intake - started if intake is not None else None
            cut = intake if intake is not None else float("inf")

            # SIGTERM with a backlog: flood again, let the bot fetch it all, then stop it.
            await _flood(api, second_flood, flood_seconds, offset=flood)
            await _until(lambda: api.pending_update_count == 0, 30)
            await asyncio.sleep(0.5)
            answers_before = chats.flood_answers
            signalled = loop.time()
            proc.send_signal(signal.SIGTERM)
            sigterm_s: float | None
            try:
                exit_code: int | None = await asyncio.wait_for(proc.wait(), sigterm_cap)
                sigterm_s = loop.time() - signalled
            except TimeoutError:
                sigterm_s, exit_code = None, None
            answers_after = chats.flood_answers - answers_before
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                await proc.wait()
    return BacklogResult(
        flood=flood,
        seconds=seconds,
        rss_before_kib=rss_before,
        rss_after_kib=rss_after,
        hwm_kib=hwm,
        probe_ms=[ms for sent, ms in prober.probes if sent < cut],
        probe_after_ms=[ms for sent, ms in prober.probes if sent >= cut],
        probes_unanswered=prober.unanswered,
        intake_s=intake_s,
        flood_answers=flood_answers,
        slow_downs=slow_downs,
        second_flood=second_flood,
        sigterm_s=sigterm_s,
        sigterm_cap=sigterm_cap,
        answers_after_sigterm=answers_after,
        exit_code=exit_code,
    )
