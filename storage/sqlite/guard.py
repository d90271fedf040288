"""Before the bot touches its file: one process per file, and a file fit to be written.

**One process per file.** The bot keeps users and streak days in memory on the promise that
it is the file's only writer, and the dispatcher's claims assume no one else sends for the
same sessions. So a second bot (or console) on the same file is refused at start. The lock is
an OS advisory lock (``flock``) on a sidecar file, ``<database>.lock``: the kernel releases it
when the process dies, however it dies, so a lock file left by a SIGKILLed bot never blocks
the next one. The file's text (pid) is only there for the refusal's message; the lock is what
counts. Programs that only read the database (``sqlite3 'file:focus.db?mode=ro'``, a backup)
don't take it and keep working beside the bot.

**A file fit to be written.** Each problem a self-hoster meets at start (a directory, garbage,
a damaged file, a read-only one, a newer schema, another program's write lock) becomes one
:class:`~storage.errors.StorageUnavailable` with a one-line message, raised *before* anything
is written to the file: the checks read, and the write probe is a ``BEGIN IMMEDIATE`` rolled
back at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import time
from pathlib import Path

from storage.errors import StorageUnavailable

__all__ = ["ProcessLock", "check_file", "hold_exclusively", "lock_path", "prepare_folder"]

START_LOCK_WAIT_MS = 2000
"""How long the start-up write probe waits for another program's write lock: a backup's
brief write passes, an ``sqlite3`` shell sitting in a transaction does not."""

_SQLITE_BUSY = 5
_SQLITE_READONLY = 8
_SQLITE_CANTOPEN = 14


def lock_path(database: Path) -> Path:
    """The sidecar file whose ``flock`` marks the database as in use."""
    return database.with_name(database.name + ".lock")


class ProcessLock:
    """This process's hold on a database file; released by :meth:`release` or by its death."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        """Let the next process have the file (closing the descriptor drops the flock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def prepare_folder(database: Path) -> None:
    """Create the database's folder if it is missing, or say in one line why it can't be."""
    name = database.name
    if database.is_dir():
        raise StorageUnavailable(
            f"{database} is a folder, not a database file. "
            f"Set FOCUS_DATABASE to a file path (e.g. {database / 'focus.db'})."
        )
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StorageUnavailable(
            f"Can't create {name} in {database.parent}: part of that path is a file, not a "
            "folder. Set FOCUS_DATABASE to a path inside a folder."
        ) from None
    except OSError as error:
        raise StorageUnavailable(
            f"Can't create the folder {database.parent} for {name} ({error.strerror}). "
            "Create it, or set FOCUS_DATABASE to a writable place."
        ) from None


def hold_exclusively(database: Path) -> ProcessLock:
    """Take the file for this process, or raise naming the process that holds it."""
    target = lock_path(database)
    try:
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise StorageUnavailable(_cannot_write(database, error)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise StorageUnavailable(
            f"{database.name} is in use by another Focus Companion ({holder}). "
            "Stop it first, or set FOCUS_DATABASE to another file."
        ) from None
    except OSError as error:  # a filesystem without locks (some network mounts)
        os.close(fd)
        raise StorageUnavailable(
            f"Can't lock {target.name} ({error.strerror}): the database must be on a local "
            "filesystem. Set FOCUS_DATABASE to a file on a local disk."
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass  # the text only serves a refusal's message; the lock itself is held
    return ProcessLock(fd)


def _holder(fd: int) -> str:
    """ "pid 1234, started 20:41 UTC", from the lock file (the holder wrote it on start)."""
    try:
        pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        started = time.strftime("%H:%M UTC", time.gmtime(os.fstat(fd).st_mtime))
    except OSError:
        return "its pid unknown"
    return f"pid {pid}, started {started}" if pid.isdigit() else f"started {started}"


def _cannot_write(database: Path, error: OSError) -> str:
    if error.errno == errno.EROFS:
        return (
            f"{database.name} is on a read-only filesystem ({database.parent}). "
            "The bot must write its database: set FOCUS_DATABASE to a writable place."
        )
    return (
        f"Can't write in {database.parent} ({error.strerror}). The bot's user must be able to "
        "create and write files there: fix the folder's owner or mode, or set FOCUS_DATABASE."
    )


def check_file(database: Path, known_version: int) -> None:
    """Read the file and probe its write lock; raise one line when it can't be used.

    Nothing is written: a file that fails here is left exactly as it was.
    """
    if database.exists():
        try:
            fd = os.open(database, os.O_RDWR)
        except OSError as error:
            raise StorageUnavailable(_unopenable(database, error)) from None
        os.close(fd)
    try:
        probe = sqlite3.connect(str(database), isolation_level=None)
    except sqlite3.Error as error:
        raise StorageUnavailable(f"Can't open {database.name} ({error}).") from None
    try:
        _check(probe, database, known_version)
    finally:
        probe.close()


def _check(probe: sqlite3.Connection, database: Path, known_version: int) -> None:
    name = database.name
    try:
        (version,) = probe.execute("PRAGMA user_version").fetchone()
        if version > known_version:
            raise StorageUnavailable(
                f"{name} was written by a newer Focus Companion (schema {version}; this one "
                f"knows up to {known_version}). Upgrade the bot, or restore a backup made "
                "for this version."
            )
        verdict = [str(r[0]) for r in probe.execute("PRAGMA quick_check(3)").fetchall()]
    except sqlite3.DatabaseError as error:
        if getattr(error, "sqlite_errorname", "") == "SQLITE_NOTADB":
            raise StorageUnavailable(
                f"{name} is not a Focus Companion database (SQLite: {error}). Point "
                "FOCUS_DATABASE at the right file, or move this one away to start afresh."
            ) from None
        raise StorageUnavailable(_damaged(name, str(error))) from None
    if verdict != ["ok"]:
        raise StorageUnavailable(_damaged(name, verdict[0]))
    probe.execute(f"PRAGMA busy_timeout = {START_LOCK_WAIT_MS}")
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        code = getattr(error, "sqlite_errorcode", 0) & 0xFF
        if code == _SQLITE_BUSY:
            raise StorageUnavailable(
                f"{name} is locked by another program (an sqlite3 shell or a backup tool in "
                "a write transaction). Close it, then start the bot again."
            ) from None
        if code in (_SQLITE_READONLY, _SQLITE_CANTOPEN):
            raise StorageUnavailable(
                f"{name} can't be written ({error}). The bot's user must be able to write "
                "the file and its folder: fix their owner or mode, or the mount."
            ) from None
        raise StorageUnavailable(f"Can't write {name} ({error}).") from None
    with contextlib.suppress(sqlite3.Error):
        probe.execute("ROLLBACK")


def _damaged(name: str, detail: str) -> str:
    detail = " ".join(detail.replace("*** in database main ***", "").split())  # one line
    if len(detail) > 120:
        detail = detail[:119] + "…"
    return (
        f"{name} is damaged (SQLite: {detail}). Restore it from a backup, or recover what "
        f"is readable with: sqlite3 {name} .recover | sqlite3 recovered.db"
    )


def _unopenable(database: Path, error: OSError) -> str:
    if error.errno == errno.EROFS:
        return (
            f"{database.name} is on a read-only filesystem ({database.parent}). "
            "The bot must write its database: remount it read-write, or copy the file."
        )
    if error.errno in (errno.EACCES, errno.EPERM):
        return (
            f"Can't read and write {database.name} (permission denied). The bot's user "
            "must own it or be allowed to write it: fix its owner or mode (chmod 600)."
        )
    return f"Can't open {database.name} ({error.strerror})."
