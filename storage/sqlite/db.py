"""Opening the database: one aiosqlite connection per process, WAL, numbered migrations."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from importlib import resources
from pathlib import Path
from typing import TypeVar

import aiosqlite

from storage.errors import StorageBusy, StorageError, StorageFull, StorageUnavailable
from storage.sqlite.guard import ProcessLock, check_file, hold_exclusively, prepare_folder

__all__ = ["BUSY_WAIT", "Database", "WriteHealth", "connect", "migrations", "schema_version"]

T = TypeVar("T")

log = logging.getLogger(__name__)

BUSY_WAIT = 15.0
"""Seconds a write waits (asleep) for another program's write lock before it is refused."""
BUSY_FIRST_SLEEP = 0.005
BUSY_MAX_SLEEP = 0.2
"""The wait's first and longest naps: short at first (a backup's write takes milliseconds)."""
HEALTH_LOG_EVERY = 60.0
"""Seconds between two log lines about the same refused writes: one line, never a storm."""

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_FULL = 13
_OUTSIDE = frozenset({5, 6, 8, 10, 11, 13, 14, 26})
"""SQLite's codes for causes outside the code: busy, locked, read-only, I/O error, corrupt,
full, can't open, not a database."""


def _busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", 0) & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


class WriteHealth:
    """Tells the operator, in one line a minute at most, that writes are being refused (a
    full disk, another program's lock), and in one line when they work again."""

    def __init__(self, name: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._monotonic = monotonic
        self._problem: str | None = None
        self._since = 0.0
        self._logged_at = 0.0
        self._refused = 0
        self.refusals = 0
        """Writes refused since the start (for tests and the operator's curiosity)."""

    def refused(self, problem: str) -> None:
        """One write was refused (``"full"`` or ``"busy"``)."""
        now = self._monotonic()
        self.refusals += 1
        self._refused += 1
        if problem == self._problem and now - self._logged_at < HEALTH_LOG_EVERY:
            return
        if self._problem is None:
            self._since = now
        self._problem, self._logged_at = problem, now
        what = "the disk is full" if problem == "full" else "another program holds its write lock"
        log.error(
            "can't write %s: %s; %d change(s) refused so far, nothing half-written; "
            "users are told to try again, sending waits and resumes by itself",
            self.name,
            what,
            self._refused,
        )

    def wrote(self) -> None:
        """A write was committed: if writes were being refused, say that they work again."""
        if self._problem is None:
            return
        log.warning(
            "%s: writes work again after %.0f s (%d change(s) were refused)",
            self.name,
            self._monotonic() - self._since,
            self._refused,
        )
        self._problem, self._refused = None, 0


_MIGRATION = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str]]:
    """The numbered migration scripts, in order: (version, SQL)."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


class Database(aiosqlite.Connection):
    """The process's connections to the file: aiosqlite's, on its own thread, for long reads
    (a year of sessions for /stats, an export), and a plain ``sqlite3`` connection used right
    on the event loop for the short operations every update and every message make.

    Why both (measured, BENCHMARKS.md): each aiosqlite call is a round trip to its thread,
    and every statement there releases and re-takes the GIL the event loop is holding, so an
    operation of a few 20-100 µs statements waited milliseconds for its thread. Run inline,
    the same operation costs what SQLite costs; the loop is held for that long and no longer.
    WAL lets the thread's reads run beside the inline writes, and a read started after a
    write returned sees it.

    ``run`` is inline, ``run_in_thread`` is one trip to aiosqlite's thread (built on
    ``Connection._execute``, the method every aiosqlite call uses; pyproject.toml pins
    aiosqlite to the minor version this was written against).
    """

    inline: sqlite3.Connection
    """The connection for short operations; used on the event loop's thread only."""

    _waiting: list[asyncio.Future[None]] | None = None
    """Writers waiting for the open group transaction to commit (None: none is open)."""

    lock: ProcessLock | None = None
    """This process's hold on the file (``storage.sqlite.guard``), released at close."""

    _opening: asyncio.Future[None] | None = None
    """Set while a write waits, asleep, for another program's write lock to go."""

    health: WriteHealth
    """What the operator is told about writes refused for a full disk or a lock."""

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """Call ``fn(connection)`` now, on the event loop, and return its result.

        A write runs in a savepoint of the transaction shared by every write of this turn of
        the event loop, and returns once that transaction has committed (group commit: the
        dispatcher's concurrent claims and confirmations share one commit, ~80 µs each
        alone). A write that raises is rolled back to its savepoint alone. ``write=False``:
        a read, run as it is, without taking the write lock.

        A write refused for a full disk raises ``StorageFull``, one that found another
        program holding the write lock for ``BUSY_WAIT`` raises ``StorageBusy``: in both
        cases nothing of it was kept. The wait for the lock is an ``asyncio.sleep``: the
        loop, and every other user's reply, go on meanwhile.
        """
        c = self.inline
        if not write:
            return fn(c)
        loop = asyncio.get_running_loop()
        committed = loop.create_future()
        while self._waiting is None and self._opening is not None:
            await asyncio.shield(self._opening)  # another write is waiting for the lock
        if self._waiting is None:
            await self._begin()
            # The first write of the turn opens the transaction; alone in it so far, it needs
            # no savepoint of its own: if it raises, rolling the transaction back undoes it.
            try:
                result = fn(c)
            except BaseException as error:
                c.rollback()
                self._raise_refused(error)
                raise
            self._waiting = [committed]
            loop.call_soon(self._commit)
        else:
            self._waiting.append(committed)
            c.execute("SAVEPOINT operation")
            try:
                result = fn(c)
            except BaseException as error:
                if c.in_transaction:
                    c.execute("ROLLBACK TO operation")
                    c.execute("RELEASE operation")
                    await asyncio.shield(committed)  # the others' writes stand; this one's error
                else:
                    # SQLite rolled the whole transaction back (some errors do: a full disk):
                    # the writes before this one in the turn are gone too, and must not say
                    # otherwise.
                    self._fail(error if isinstance(error, Exception) else RuntimeError(error))
                self._raise_refused(error)
                raise
            c.execute("RELEASE operation")
        await asyncio.shield(committed)
        return result

    async def _begin(self) -> None:
        """``BEGIN IMMEDIATE``; while another program holds the write lock, try again with a
        growing sleep, up to ``BUSY_WAIT`` (then ``StorageBusy``). Returns with the
        transaction open, without yielding after it began."""
        try:
            self.inline.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if not _busy(error):
                self._raise_refused(error)
                raise
        loop = asyncio.get_running_loop()
        opening = self._opening = loop.create_future()
        deadline = loop.time() + BUSY_WAIT
        pause = BUSY_FIRST_SLEEP
        try:
            while True:
                await asyncio.sleep(pause)
                try:
                    self.inline.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as error:
                    if not _busy(error) or loop.time() >= deadline:
                        self._raise_refused(error)
                        raise
                pause = min(pause * 2, BUSY_MAX_SLEEP)
        finally:
            self._opening = None
            opening.set_result(None)  # the writers queued behind try for themselves

    def _raise_refused(self, error: BaseException) -> None:
        """Raise the storage error a refused write means (told to the operator, at most a
        line a minute); return for any other error, for the caller to re-raise."""
        mapped = self._refused(error)
        if mapped is not None:
            raise mapped from error

    def _refused(self, error: BaseException) -> StorageError | None:
        if not isinstance(error, sqlite3.OperationalError):
            return None
        code = getattr(error, "sqlite_errorcode", 0) & 0xFF
        if code == _SQLITE_FULL:
            self.health.refused("full")
            return StorageFull(f"the disk holding {self.health.name} is full")
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
            self.health.refused("busy")
            return StorageBusy(f"another program holds the write lock of {self.health.name}")
        return None

    def _commit(self) -> None:
        if self._waiting is None:  # close() committed it already
            return
        try:
            self.inline.commit()
        except Exception as error:  # e.g. the disk is full: none of the batch happened
            mapped = self._refused(error)
            if mapped is not None:
                mapped.__cause__ = error
            self._fail(mapped or error)
            return
        self.health.wrote()
        waiting, self._waiting = self._waiting, None
        for future in waiting:
            if not future.done():
                future.set_result(None)

    def _fail(self, error: Exception) -> None:
        """End the turn's transaction as failed: every write waiting in it gets ``error``."""
        waiting, self._waiting = self._waiting or [], None
        try:
            if self.inline.in_transaction:
                self.inline.rollback()
        finally:
            for future in waiting:
                if not future.done():
                    future.set_exception(error)

    async def run_in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Call ``fn(connection)`` on aiosqlite's thread (for long reads) and return its
        result."""
        result: T = await self._execute(fn, self._conn)  # type: ignore[no-untyped-call]
        return result

    async def close(self) -> None:
        """Close both connections (committing a group transaction still open)."""
        inline = getattr(self, "inline", None)
        if inline is not None:
            if self._waiting is not None:
                self._commit()
            inline.close()
        await super().close()
        if self.lock is not None:
            self.lock.release()
            self.lock = None


async def schema_version(db: aiosqlite.Connection) -> int:
    """The schema version recorded in ``PRAGMA user_version``."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def connect(path: str | Path) -> Database:
    """Open (creating if needed) and migrate the database at ``path``, for this process alone.

    The file is created readable by its owner only: it holds people's work patterns. Every
    reason it can't be used — another bot holds it, a folder, garbage, damage, read-only, a
    newer schema, another program's write lock — is a ``StorageUnavailable`` with one line
    to show, raised before anything is written to the file (``storage.sqlite.guard``).
    """
    if str(path) == ":memory:":
        # Two connections (see Database) would each get a database of their own, and
        # everything would be gone at exit.
        raise StorageUnavailable(
            "FOCUS_DATABASE is ':memory:', but the bot needs a file: its sessions must "
            "outlive the process. Set FOCUS_DATABASE to a path such as focus.db."
        )
    target = Path(path)
    prepare_folder(target)
    lock = hold_exclusively(target)
    try:
        _create_if_missing(target)
        check_file(target, len(migrations()))
        _create_private(target)
        db = await _open(target)
    except sqlite3.Error as error:
        lock.release()
        if getattr(error, "sqlite_errorcode", 0) & 0xFF in _OUTSIDE:
            # What the checks could not foresee: the disk filled up while migrating, say.
            raise StorageUnavailable(f"Can't open {target.name}: {error}.") from None
        raise  # a bug (a broken migration): with its traceback
    except BaseException:
        lock.release()
        raise
    db.lock = lock
    return db


async def _open(target: Path) -> Database:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly
    # the block the storage code says it is.
    db = Database(partial(sqlite3.connect, str(target), isolation_level=None), 64)
    await db  # starts its thread and opens the file there
    try:
        async with db.execute("PRAGMA journal_mode = WAL") as cursor:
            mode = await cursor.fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            log.warning("SQLite refused WAL mode (got %s); crash safety is reduced", mode)
        # NORMAL is durable against a crash of this process (kill -9 included) in WAL mode.
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute("PRAGMA foreign_keys = ON")
        # Off the event loop, waiting is harmless: the thread's long reads may wait.
        await db.execute("PRAGMA busy_timeout = 5000")
        await _migrate(db)
        db.inline = _open_inline(target)
        db.health = WriteHealth(target.name)
    except BaseException:
        await db.close()
        raise
    return db


def _open_inline(target: Path) -> sqlite3.Connection:
    inline = sqlite3.connect(str(target), isolation_level=None)
    try:
        # busy_timeout 0: SQLite's busy wait would block the event loop, and every other
        # user's reply with it, for as long as another program holds the write lock. A busy
        # write waits in Database.run instead, asleep, with the loop free.
        for pragma in ("synchronous = NORMAL", "foreign_keys = ON", "busy_timeout = 0"):
            inline.execute(f"PRAGMA {pragma}")
    except BaseException:
        inline.close()
        raise
    return inline


def _create_if_missing(target: Path) -> None:
    """A new file is created owner-only before the checks open it: SQLite would create it
    with the umask's mode (and the bot would then warn that it tightened its own new file)."""
    if not target.exists():
        _create_private(target)


def _create_private(target: Path) -> None:
    """Create the file with mode 0600, or tighten an existing one (quick, local calls)."""
    if target.exists():
        if target.stat().st_mode & 0o077:
            log.warning("tightening %s to owner-only (0600)", target.name)
            target.chmod(0o600)
        return
    fd = os.open(target, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


async def _migrate(db: aiosqlite.Connection) -> None:
    """Apply every migration newer than the file's ``user_version``, each in one transaction."""
    current = await schema_version(db)
    scripts = migrations()
    if current > len(scripts):
        raise StorageUnavailable(
            f"database schema version {current} is newer than this code knows ({len(scripts)})"
        )
    for version, sql in scripts[current:]:
        log.info("applying migration %03d", version)
        try:
            await db.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
            )
        except BaseException:
            if db.in_transaction:
                await db.rollback()
            raise
