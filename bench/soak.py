"""A week of daily sessions, compressed: ``python -m bench --only soak``.

The real ``python -m bot`` process (production settings: the rate limiter on, PTB's
HTTPXRequest) polls the Bot API stand-in served on 127.0.0.1 from this process, on its own
database file, with ``FOCUS_TIME_SCALE`` = ``scale``.

What is simulated, exactly. ``users`` people each focus once a day for ``days`` days, each at
their own time of day (a fixed offset inside the day): ``/focus <minutes> soak``, 👍 on the
check-in, a score tapped on the summary; once a week each also sends ``/stats`` and, on
another day, ``/history``. A week cannot run at Telegram's pace in a few minutes — not
because of the time scale (``MAX_TIME_SCALE`` is an hour a second) but because of Telegram's
flood limit: every message goes through the bot's 29-a-second budget, and a week of a few
hundred people is thousands of messages. So each day is only its active part: a day lasts
``day_s`` real seconds, long enough to carry its messages at ``LOAD`` of the budget and for one
session to end before the same person's next; the hours in which nothing is due are skipped
(the dispatcher sleeps through them anyway). The calendar does not move: for the bot every
session is on today's date (streaks and per-day figures see one day). Before the figures'
start, one warm-up person runs a session, ``/stats`` and ``/history`` (lazy imports, the chart
library, caches), so that the start is the bot as it runs, not as it booted.

Measured, at the start (idle, after the warm-up), after each day, mid-week (idle: after day
``days // 2`` the next day waits until every session so far has its summary, then 6 s) and at
the end (idle, once every session has its summary, then one ``/help`` answered: see below): RSS
(``/proc/PID/status``), open files (``/proc/PID/fd``, each by what it is: ``fd_kinds``),
threads, and asyncio tasks and Python's memory blocks — which only the process can count:
``kill -USR1`` makes the bot log them (``bot.telegram.diagnostics``), and this reads that line
from its log. The database: bytes of the file (closed: after SIGTERM, WAL checkpointed) over
the empty schema, per session; the live file + WAL at the end. Lateness: ``at − due_at`` of
every proactive ``deliveries`` row the bot marked sent (``at`` is when it recorded the send,
after the Bot API answered), and how many rows were dropped instead.

What "flat" compares (``python -m bench`` checks it; BENCHMARKS.md has the runs behind it).
RSS and Python blocks: the end against the idle mid-week sample. A 14-day run (30 people)
rose for five days and then stayed flat to the MiB for nine, with Python's own blocks flat
from the start: the rise is a plateau below Python (anonymous mappings: the C allocator's
arenas of the threads that render charts and run SQLite), not a leak; a leak keeps rising in
the second half. Python's blocks (after a full collection) grow by about 35 per person
(cached settings, rate-limit buckets) in the first days, by mid-week all made. Open files:
those other than sockets, end against start; the TCP sockets apart: PTB's pool
(``connection_pool_size`` 256, PTB's default) opens a socket per request in flight at the
busiest moment and closes idle ones only when it is next used, hence the ``/help`` before the
end sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.clock import SystemClock
from bot.offline.local_api import LocalBotApi, OutgoingMessage
from bot.telegram.callbacks import CheckinButton, ScoreButton, decode
from tests.support.standin import BotApiStandin

from .common import BENCH_TOKEN, create_database, environment_without_focus, percentile, rss_kib

__all__ = ["LOAD", "Sample", "SoakResult", "fd_kinds", "run_soak"]

ROOT = Path(__file__).resolve().parents[1]
FIRST_USER = 6_000_000
WARMUP_USER = 5_999_999
LOAD = 0.8
"""Share of the bot's 29-a-second budget a day is sized for (its messages spread over it)."""
CALLS_PER_SESSION = 5
"""Chat messages a soak session costs: the card, the check-in and its edit, the summary and
its edit (plus /stats or /history on two days of seven)."""
_DIAGNOSTICS = re.compile(
    r"diagnostics: (\d+) asyncio tasks, (\d+|\?) open files, (\d+) threads, (\d+) Python blocks"
)


@dataclass(frozen=True)
class Sample:
    """The bot process at one moment."""

    label: str
    rss_kib: int
    hwm_kib: int
    files: int
    threads: int
    tasks: int | None  # from the bot's own diagnostics line; None if it never came
    blocks: int | None  # memory blocks Python's allocator holds, from the same line
    fd_kinds: Counter[str] = field(default_factory=Counter)  # what each open file is

    @property
    def sockets(self) -> int:
        """Open TCP sockets: the Bot API's, PTB's two connection pools (see ``fd_kinds``)."""
        return sum(n for kind, n in self.fd_kinds.items() if kind.startswith("tcp "))

    @property
    def other_files(self) -> int:
        """Open files that are not TCP sockets: the database, the log, pipes, fonts..."""
        return self.files - self.sockets


@dataclass
class SoakResult:
    """What one soak measured."""

    users: int
    days: int
    minutes: int
    scale: float
    day_s: float
    seconds: float
    samples: list[Sample]
    sessions: int
    ended: int
    summaries_sent: int
    summaries_received: int
    empty_bytes: int
    closed_bytes: int
    live_bytes: int
    lateness_s: list[float] = field(repr=False)
    summary_lateness_s: list[float] = field(repr=False)
    dropped: int
    errors_logged: int
    exit_code: int | None
    chat_calls: int = 0  # send* and edit* calls the stand-in answered (what the budget counts)

    @property
    def start(self) -> Sample:
        """The idle bot after the warm-up."""
        return next(s for s in self.samples if s.label == "start")

    @property
    def midweek(self) -> Sample:
        """The idle bot after day ``days // 2`` (the start if there is none): RSS rises to a
        plateau in the first days (the C allocator's arenas, each person's cached state) and
        a leak keeps rising after it, so the second half of the week is what shows a leak."""
        return next((s for s in self.samples if s.label == "midweek"), self.start)

    @property
    def end(self) -> Sample:
        """The idle bot after the last summary."""
        return self.samples[-1]

    @property
    def bytes_per_session(self) -> float:
        """Growth of the closed file over the empty schema, per session (warm-up included)."""
        return (self.closed_bytes - self.empty_bytes) / max(1, self.sessions)

    def late_p(self, q: float, summaries: bool = False) -> float:
        """A lateness percentile, seconds (real time)."""
        return percentile(self.summary_lateness_s if summaries else self.lateness_s, q)


class _People:
    """The simulated people: they answer what the bot sends them, as the stand-in sees it."""

    def __init__(self, api: LocalBotApi) -> None:
        self.api = api
        self.summaries: dict[int, int] = {}
        self.extra: dict[int, str] = {}  # a command to send once the day's summary arrived
        self.answers = 0  # replies to /stats and /history (and anything else not proactive)
        self.changed = asyncio.Event()

    def on_outgoing(self, change: str, msg: OutgoingMessage) -> None:
        if change != "send":
            return
        buttons = msg.buttons()
        data = decode(buttons[0][1]) if buttons else None
        loop = asyncio.get_running_loop()
        if isinstance(data, CheckinButton):  # 👍 on track, a moment later
            loop.call_later(0.05, self._press, msg, buttons[0][1])
        elif isinstance(data, ScoreButton):
            self.summaries[msg.chat_id] = self.summaries.get(msg.chat_id, 0) + 1
            loop.call_later(0.05, self._press, msg, buttons[3][1])  # 4 of 5
            command = self.extra.pop(msg.chat_id, None)
            if command is not None:
                loop.call_later(0.3, self._say, msg.chat_id, command)
        else:
            self.answers += 1
        self.changed.set()

    def _press(self, msg: OutgoingMessage, data: str) -> None:
        self.api.user_press(user_id=msg.chat_id, message_id=msg.message_id, data=data)

    def _say(self, user: int, text: str) -> None:
        self.api.user_message(user_id=user, text=text)

    async def wait_for(self, predicate: Callable[[], bool], seconds: float) -> bool:
        """Wait until ``predicate()`` holds (re-checked on every message); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.5))
        return True


class _Bot:
    """``python -m bot`` in a subprocess, its output in a log file."""

    def __init__(self, base_url: str, database: Path, log: Path, scale: float) -> None:
        self.env = {
            **environment_without_focus(),
            "TELEGRAM_BOT_TOKEN": BENCH_TOKEN,
            "TELEGRAM_BASE_URL": base_url,
            "FOCUS_DATABASE": str(database),
            "FOCUS_TIME_SCALE": f"{scale:g}",
            "LOG_LEVEL": "INFO",
        }
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=ROOT,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None  # noqa: S101 - started first
        return self.proc.pid

    async def diagnostics(self) -> tuple[int | None, int | None]:
        """Ask the bot for its diagnostics line (SIGUSR1): its asyncio tasks and the memory
        blocks Python holds (None, None: the line never came)."""
        before = len(_DIAGNOSTICS.findall(self.log.read_text(errors="replace")))
        assert self.proc is not None  # noqa: S101
        self.proc.send_signal(signal.SIGUSR1)
        for _ in range(100):
            await asyncio.sleep(0.05)
            found = _DIAGNOSTICS.findall(self.log.read_text(errors="replace"))
            if len(found) > before:
                return int(found[-1][0]), int(found[-1][3])
        return None, None

    async def sample(self, label: str) -> Sample:
        """RSS, peak RSS, open files and threads from /proc; tasks from the bot itself."""
        rss, hwm = rss_kib(self.pid)
        files, threads = _files_and_threads(self.pid)
        kinds = fd_kinds(self.pid)
        tasks, blocks = await self.diagnostics()
        return Sample(label, rss, hwm, files, threads, tasks, blocks, kinds)

    async def stop(self) -> int | None:
        """SIGTERM, and the exit code (None: still running after 30 s, then killed)."""
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            return None


def _files_and_threads(pid: int) -> tuple[int, int]:
    """Open file descriptors and threads of process ``pid``, from /proc."""
    files = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        threads = next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
    return files, threads


def _tcp_sockets(pid: int) -> dict[str, str]:
    """``socket:[inode]`` -> ``"tcp :PORT STATE"`` (the remote port) for the process's TCP
    sockets, from /proc/PID/net/tcp{,6}."""
    states = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN"}
    found: dict[str, str] = {}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/net/{table}") as lines:
            for line in list(lines)[1:]:
                cols = line.split()
                port = int(cols[2].rsplit(":", 1)[1], 16)
                state = states.get(cols[3], cols[3])
                found[f"socket:[{cols[9]}]"] = f"tcp :{port} {state}"
    return found


def fd_kinds(pid: int) -> Counter[str]:
    """What process ``pid``'s open files are, counted: a file by its name (the database,
    its WAL and shm, the log), a TCP socket by its remote port and state, else the kind
    (pipe, anon_inode:[eventpoll], a unix socket...). Names only — no content."""
    tcp = _tcp_sockets(pid)
    kinds: Counter[str] = Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:"):
            kinds[tcp.get(target, "unix/other socket")] += 1
        elif target.startswith("/"):
            kinds[Path(target).name if "/dev/" not in target else target] += 1
        else:
            kinds[target.split(":[")[0] if target.startswith("pipe:") else target] += 1
    return kinds


def _file_bytes(database: Path) -> int:
    """The database file and its WAL, in bytes (what a disk holds for it)."""
    wal = database.with_name(database.name + "-wal")
    return database.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


async def run_soak(
    work: Path, users: int, days: int, *, minutes: int = 25, scale: float = 120
) -> SoakResult:
    """Run the compressed week (see the module docstring) and measure it."""
    database, log = work / "soak.db", work / "bot.log"
    await create_database(database)
    empty = _file_bytes(database)
    session_s = (minutes + 2) * 60 / scale  # a session and its summary
    day_s = max(users * CALLS_PER_SESSION / (29 * LOAD), session_s + 3)
    offsets = [day_s * i / users for i in range(users)]  # each person's time of day
    people: _People
    api = LocalBotApi(clock=SystemClock().now, on_outgoing=lambda c, m: people.on_outgoing(c, m))
    people = _People(api)
    samples: list[Sample] = []
    loop = asyncio.get_running_loop()
    async with BotApiStandin(api) as standin:
        bot = _Bot(standin.base_url, database, log, scale)
        await bot.start()
        try:
            if not await people.wait_for(lambda: api.calls["getUpdates"] > 0, 60):
                raise RuntimeError(f"soak: the bot never polled; see {log}")
            samples.append(await bot.sample("after start-up"))
            people.extra[WARMUP_USER] = "/stats"
            api.user_message(user_id=WARMUP_USER, text=f"/focus {minutes} soak warm-up")
            await people.wait_for(lambda: people.summaries.get(WARMUP_USER) == 1, session_s + 30)
            answered = people.answers
            await people.wait_for(lambda: people.answers > answered, 30)  # /stats
            answered = people.answers
            api.user_message(user_id=WARMUP_USER, text="/history")
            await people.wait_for(lambda: people.answers > answered, 30)
            await asyncio.sleep(2)  # idle: pending edits and presses done
            samples.append(await bot.sample("start"))
            started = loop.time()
            paused = 0.0  # the idle mid-week moment moves the rest of the week later
            half = days // 2
            ids = [FIRST_USER + i for i in range(users)]
            for day in range(days):
                day_start = started + paused + day * day_s
                for user, offset in zip(ids, offsets, strict=True):
                    await asyncio.sleep(max(0.0, day_start + offset - loop.time()))
                    if day == user % 7:
                        people.extra[user] = "/stats"
                    elif day == (user + 3) % 7:
                        people.extra[user] = "/history"
                    api.user_message(user_id=user, text=f"/focus {minutes} soak day {day + 1}")
                if day < days - 1:
                    await asyncio.sleep(max(0.0, day_start + day_s - loop.time()))
                    samples.append(await bot.sample(f"day {day + 1}"))
                if day + 1 == half:  # idle mid-week, as the end is: the second half's base
                    pause_from = loop.time()
                    await people.wait_for(
                        lambda: all(people.summaries.get(u, 0) >= half for u in ids), session_s + 60
                    )
                    await asyncio.sleep(6)
                    samples.append(await bot.sample("midweek"))
                    paused += loop.time() - pause_from

            def all_summaries() -> bool:
                return all(people.summaries.get(u, 0) >= days for u in ids)

            await people.wait_for(all_summaries, session_s + 60)
            seconds = loop.time() - started
            await asyncio.sleep(6)  # idle: longer than httpx's 5 s keep-alive of pooled sockets
            # httpcore closes the pool's expired keep-alive sockets only when the pool is next
            # used (it has no timer): one reply, so that the end counts the sockets the bot
            # keeps, not those of its busiest moment (a socket never released still shows).
            answered = people.answers
            api.user_message(user_id=WARMUP_USER, text="/help")
            await people.wait_for(lambda: people.answers > answered, 30)
            await asyncio.sleep(1)
            samples.append(await bot.sample("end"))
            live = _file_bytes(database)
            chat_calls = sum(
                n for name, n in api.calls.items() if name.startswith(("send", "edit"))
            )
        finally:
            api.interrupt_polls()
            exit_code = await bot.stop()
    result = _result(
        database, log, people, samples, users, days, minutes, scale, day_s, seconds,
        empty=empty, live=live, exit_code=exit_code,
    )  # fmt: skip
    result.chat_calls = chat_calls
    return result


def _result(
    database: Path,
    log: Path,
    people: _People,
    samples: list[Sample],
    users: int,
    days: int,
    minutes: int,
    scale: float,
    day_s: float,
    seconds: float,
    *,
    empty: int,
    live: int,
    exit_code: int | None,
) -> SoakResult:
    """Read the outcome from the closed file and the bot's log."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        sessions, ended = db.execute("SELECT count(*), count(ended_at) FROM sessions").fetchone()
        rows = db.execute("SELECT kind, status, due_at, at FROM deliveries").fetchall()
    sent = [(kind, (at - due) / 1000) for kind, st, due, at in rows if st == "sent"]
    late = [seconds for kind, seconds in sent if kind != "summary"]
    late_summary = [seconds for kind, seconds in sent if kind == "summary"]
    text = log.read_text(errors="replace")
    return SoakResult(
        users=users,
        days=days,
        minutes=minutes,
        scale=scale,
        day_s=day_s,
        seconds=seconds,
        samples=samples,
        sessions=sessions,
        ended=ended,
        summaries_sent=sum(1 for kind, st, _, _ in rows if kind == "summary" and st == "sent"),
        summaries_received=sum(people.summaries.values()),
        empty_bytes=empty,
        closed_bytes=_file_bytes(database),
        live_bytes=live,
        lateness_s=late,
        summary_lateness_s=late_summary,
        dropped=sum(1 for kind, st, _, _ in rows if st == "dropped" and kind != "summary"),
        errors_logged=len(re.findall(r" (?:ERROR|CRITICAL) \S+: ", text)) + text.count("Traceback"),
        exit_code=exit_code,
    )


if __name__ == "__main__":  # a direct run, for trying sizes: python -m bench.soak USERS DAYS
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(asyncio.run(run_soak(Path(tmp), int(sys.argv[1]), int(sys.argv[2]))))
