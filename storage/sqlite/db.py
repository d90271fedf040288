"""Opening the database: one aiosqlite connection per process, WAL, numbered migrations."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections.abc import Callable
from functools import partial
from importlib import resources
from pathlib import Path
from typing import TypeVar

import aiosqlite

__all__ = ["Database", "connect", "migrations", "schema_version"]

T = TypeVar("T")

log = logging.getLogger(__name__)

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

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """Call ``fn(connection)`` now, on the event loop, and return its result.

        A write runs in a savepoint of the transaction shared by every write of this turn of
        the event loop, and returns once that transaction has committed (group commit: the
        dispatcher's concurrent claims and confirmations share one commit, ~80 µs each
        alone). A write that raises is rolled back to its savepoint alone. ``write=False``:
        a read, run as it is, without taking the write lock.
        """
        c = self.inline
        if not write:
            return fn(c)
        loop = asyncio.get_running_loop()
        committed = loop.create_future()
        if self._waiting is None:
            # The first write of the turn opens the transaction; alone in it so far, it needs
            # no savepoint of its own: if it raises, rolling the transaction back undoes it.
            c.execute("BEGIN IMMEDIATE")
            try:
                result = fn(c)
            except BaseException:
                c.rollback()
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
                    # SQLite rolled the whole transaction back (some errors do): the writes
                    # before this one in the turn are gone too, and must not say otherwise.
                    self._fail(error if isinstance(error, Exception) else RuntimeError(error))
                raise
            c.execute("RELEASE operation")
        await asyncio.shield(committed)
        return result

    def _commit(self) -> None:
        if self._waiting is None:  # close() committed it already
            return
        try:
            self.inline.commit()
        except Exception as error:  # e.g. the disk is full: none of the batch happened
            self._fail(error)
            return
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


async def schema_version(db: aiosqlite.Connection) -> int:
    """The schema version recorded in ``PRAGMA user_version``."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def connect(path: str | Path) -> Database:
    """Open (creating if needed) and migrate the database at ``path``.

    The file is created readable by its owner only: it holds people's work patterns.
    """
    if str(path) == ":memory:":
        # Two connections (see Database) would each get a database of their own.
        raise ValueError("the database must be a file, not ':memory:'")
    target = Path(path)
    _create_private(target)
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
        await db.execute("PRAGMA busy_timeout = 5000")
        await _migrate(db)
        db.inline = _open_inline(target)
    except BaseException:
        await db.close()
        raise
    return db


def _open_inline(target: Path) -> sqlite3.Connection:
    inline = sqlite3.connect(str(target), isolation_level=None)
    try:
        for pragma in ("synchronous = NORMAL", "foreign_keys = ON", "busy_timeout = 5000"):
            inline.execute(f"PRAGMA {pragma}")
    except BaseException:
        inline.close()
        raise
    return inline


def _create_private(target: Path) -> None:
    """Create the file with mode 0600, or tighten an existing one (quick, local calls)."""
    if target.exists():
        if target.stat().st_mode & 0o077:
            log.warning("tightening %s to owner-only (0600)", target.name)
            target.chmod(0o600)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


async def _migrate(db: aiosqlite.Connection) -> None:
    """Apply every migration newer than the file's ``user_version``, each in one transaction."""
    current = await schema_version(db)
    scripts = migrations()
    if current > len(scripts):
        raise RuntimeError(
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
