"""The real ``python -m bot`` on a database it can't use, or with a Bot API failing at start:
one line, exit code 1, the file untouched — and one process per file (a second one is refused,
a SIGKILLed one's lock file does not block the next).

Console mode with stdin closed is the quickest real start (it opens the same storage as the
bot; on end of input it leaves). Tests run as root, who can read any file: the unreadable and
read-only files are tried by a child without the capabilities that let root ignore file modes
(``setpriv``), and the read-only filesystem is a tmpfs remounted read-only.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.offline.local_api import LocalApiError
from storage.sqlite.db import migrations
from tests.support.faults import FaultyBotApi
from tests.support.standin import BotApiStandin

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NO_DAC = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
]


def bot_command(*, as_plain_user: bool = False) -> list[str]:
    return [*(NO_DAC if as_plain_user else []), sys.executable, "-m", "bot", "console"]


def start_bot(
    database: str | Path, *, as_plain_user: bool = False, stdin: int = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    env = {**os.environ, "FOCUS_DATABASE": str(database), "TELEGRAM_BOT_TOKEN": ""}
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        bot_command(as_plain_user=as_plain_user),
        cwd=ROOT,
        env=env,
        stdin=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL, and close its pipes."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)


def run_bot(database: str | Path, *, as_plain_user: bool = False) -> tuple[int, list[str]]:
    proc = start_bot(database, as_plain_user=as_plain_user)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err.splitlines()


def digest(path: Path) -> str | None:
    """The file's bytes, with its write-ahead log's (where a running bot's writes are)."""
    if not path.is_file():
        return None
    wal = path.with_name(path.name + "-wal")
    return hashlib.sha256(
        path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    ).hexdigest()


def wait_until_open(path: Path, proc: subprocess.Popen[str]) -> None:
    """Until the bot holds the file's lock and has migrated it (a read-only look)."""
    lock = path.with_name(path.name + ".lock")
    for _ in range(600):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        if lock.exists() and lock.read_text().strip() == str(proc.pid) and path.exists():
            reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                if reader.execute("PRAGMA user_version").fetchone()[0] == len(migrations()):
                    return
            except sqlite3.Error:
                pass
            finally:
                reader.close()
        time.sleep(0.05)
    raise AssertionError("the bot did not open its file")


def a_real_database(path: Path, sessions: int = 0) -> Path:
    """A database as this code writes it (every migration), with ``sessions`` rows."""
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode = WAL")
    for version, sql in migrations():
        c.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    c.execute("INSERT INTO users (id, created_at) VALUES (1, 0)")
    for i in range(sessions):
        c.execute(
            "INSERT INTO sessions (user_id, chat_id, label, planned_minutes, block_minutes, "
            "break_minutes, checkins, time_scale, started_at, planned_end_at, paused_ms, "
            "ended_at, focused_ms, breaks_taken, outcome, late_summary, interruptions, version) "
            "VALUES (1, 1, ?, 25, 25, 5, 1, 1, ?, ?, 0, ?, 1500000, 0, 'completed', 0, 0, 1)",
            (f"label {i} " + "x" * 150, i * 10_000_000, i * 10_000_000 + 1, i * 10_000_000 + 1),
        )
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.execute("PRAGMA journal_mode = DELETE")  # one self-contained file to damage
    c.close()
    return path


@pytest.fixture
def mounts(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount small tmpfs folders for the test (root only; fails loudly otherwise)."""
    mounted: list[Path] = []

    def mount(name: str) -> Path:
        target = tmp_path / name
        target.mkdir()
        done = subprocess.run(  # noqa: S603
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(target)],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"could not mount a tmpfs (this test needs root): {done.stderr}")
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], check=False)  # noqa: S603, S607


def garbage(tmp: Path, _mount: Callable[[str], Path]) -> Path:
    path = tmp / "focus.db"
    path.write_bytes(b"this is not a database, just some text someone saved here\n" * 200)
    return path


def truncated(tmp: Path, _mount: Callable[[str], Path]) -> Path:
    path = a_real_database(tmp / "focus.db", sessions=400)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def corrupted_pages(tmp: Path, _mount: Callable[[str], Path]) -> Path:
    path = a_real_database(tmp / "focus.db", sessions=400)
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(6 * page, 9 * page, 7):  # scribble over three pages mid-file
        data[offset] = 0xA5
    path.write_bytes(bytes(data))
    return path


def a_folder(tmp: Path, _mount: Callable[[str], Path]) -> Path:
    path = tmp / "focus.db"
    path.mkdir()
    return path


def under_a_file(tmp: Path, _mount: Callable[[str], Path]) -> Path:
    (tmp / "data").write_text("a file where a folder should be")
    return tmp / "data" / "focus.db"


def unreadable(tmp: Path, _mount: Callable[[str], Path]) -> Path:
    path = a_real_database(tmp / "focus.db")
    path.chmod(0o000)
    return path


def read_only_file(tmp: Path, _mount: Callable[[str], Path]) -> Path:
    path = a_real_database(tmp / "focus.db")
    path.chmod(0o444)
    return path


def read_only_mount(_tmp: Path, mount: Callable[[str], Path]) -> Path:
    folder = mount("ro")
    path = a_real_database(folder / "focus.db")
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)  # noqa: S603, S607
    return path


def newer_schema(tmp: Path, _mount: Callable[[str], Path]) -> Path:
    path = a_real_database(tmp / "focus.db")
    c = sqlite3.connect(path)
    c.execute(f"PRAGMA user_version = {len(migrations()) + 1}")
    c.close()
    return path


CASES: list[tuple[Callable[[Path, Callable[[str], Path]], Path], bool, str]] = [
    (garbage, False, "is not a Focus Companion database"),
    (truncated, False, "is damaged"),
    (corrupted_pages, False, "is damaged"),
    (a_folder, False, "is a folder"),
    (under_a_file, False, "part of that path is a file"),
    (unreadable, True, "permission denied"),
    (read_only_file, True, "permission denied"),
    (read_only_mount, False, "read-only filesystem"),
    (newer_schema, False, "newer Focus Companion"),
]


@pytest.mark.parametrize(("make", "plain_user", "says"), CASES, ids=[c[0].__name__ for c in CASES])
def test_a_database_that_cant_be_used_is_one_line_exit_1_and_untouched(
    tmp_path: Path,
    mounts: Callable[[str], Path],
    make: Callable[[Path, Callable[[str], Path]], Path],
    plain_user: bool,
    says: str,
) -> None:
    if plain_user:
        tmp_path.chmod(0o777)  # the folder stays usable; only the file's mode is in the way
    path = make(tmp_path, mounts)
    before = digest(path) if os.access(path, os.R_OK) else None
    code, lines = run_bot(path, as_plain_user=plain_user)
    assert code == 1, lines
    assert len(lines) == 1, lines
    assert says in lines[0], lines
    assert not any("Traceback" in line for line in lines)
    if before is not None:
        assert digest(path) == before


def test_memory_is_refused_in_one_line() -> None:
    code, lines = run_bot(":memory:")
    assert (code, len(lines)) == (1, 1), lines
    assert "':memory:'" in lines[0] and "needs a file" in lines[0]


def test_another_programs_write_lock_is_one_line_and_the_file_untouched(tmp_path: Path) -> None:
    path = a_real_database(tmp_path / "focus.db")
    before = digest(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        code, lines = run_bot(path)
    finally:
        holder.rollback()
        holder.close()
    assert (code, len(lines)) == (1, 1), lines
    assert "locked by another program" in lines[0]
    assert digest(path) == before


def test_one_process_per_file_and_a_killed_ones_lock_does_not_block(
    tmp_path: Path,
) -> None:
    path = tmp_path / "focus.db"
    first = start_bot(path, stdin=subprocess.PIPE)  # runs until its stdin closes
    try:
        lock = tmp_path / "focus.db.lock"
        wait_until_open(path, first)
        before = digest(path)
        started = time.monotonic()
        code, lines = run_bot(path)
        assert time.monotonic() - started < 15
        assert (code, len(lines)) == (1, 1), lines
        assert (
            f"focus.db is in use by another Focus Companion (pid {first.pid}, started" in lines[0]
        )
        assert "Stop it first, or set FOCUS_DATABASE to another file." in lines[0]
        assert digest(path) == before
    finally:
        kill(first)
    assert lock.exists()  # left behind by the killed process: it must not block
    code, lines = run_bot(path)
    assert code == 0, lines
    assert not any("in use" in line for line in lines)


def test_a_reader_works_beside_a_running_bot(tmp_path: Path) -> None:
    path = tmp_path / "focus.db"
    bot = start_bot(path, stdin=subprocess.PIPE)
    try:
        wait_until_open(path, bot)
        reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            (version,) = reader.execute("PRAGMA user_version").fetchone()
            assert version == len(migrations())
        finally:
            reader.close()
        backup = sqlite3.connect(tmp_path / "copy.db")
        source = sqlite3.connect(path)
        source.backup(backup)
        source.close()
        assert backup.execute("PRAGMA user_version").fetchone()[0] == len(migrations())
        backup.close()
        assert bot.poll() is None
    finally:
        kill(bot)


TOKEN = "4839574812:AAFakeTokenForTheEndToEndTests_xyz"  # noqa: S105 - a test token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("unreachable", "Could not reach the Bot API"),
        ("500", "answered with an error (Internal Server Error)"),
        ("hang", "did not answer in time"),
    ],
)
async def test_a_bot_api_failing_at_start_is_one_line_and_exit_1(
    tmp_path: Path, fault: str, says: str
) -> None:
    api = FaultyBotApi()
    if fault == "500":
        api.fail_next("getMe", LocalApiError(500, "Internal Server Error"), times=100)
    elif fault == "hang":
        api.stall_next("getMe", 600, times=100)
    async with BotApiStandin(api) as server:
        base_url = (
            f"http://127.0.0.1:{free_port()}/bot" if fault == "unreachable" else server.base_url
        )
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": base_url,
            "FOCUS_DATABASE": str(tmp_path / "focus.db"),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = err.decode().splitlines()
    assert proc.returncode == 1, lines
    assert len(lines) == 1, lines
    assert says in lines[0] and "Traceback" not in lines[0]
    assert TOKEN.split(":")[1] not in lines[0]
