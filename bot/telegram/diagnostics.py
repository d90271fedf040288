"""``kill -USR1 <pid>``: one log line with what the running bot holds, for an operator.

What cannot be read from outside the process: its asyncio tasks (a leak of tasks shows there
long before it shows in RSS), and the memory blocks Python's allocator holds
(``sys.getallocatedblocks``, counted after a full garbage collection, so that cycles not yet
collected do not count: a pause of the loop of ~0.1 s, on the operator's signal only): flat
while RSS grows means the growth is below Python (the C
allocator's arenas, SQLite's page cache, a C library), rising means Python objects pile up.
The line also has the open files and threads, which ``/proc``
shows too, so that one line is enough to compare over days. It holds counts only — no user,
no text, no token — and it is logged at INFO, the default level; the signal changes nothing
else (the bot keeps running; SIGUSR1's default action would have killed it).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading

__all__ = ["figures_line", "install", "uninstall"]

log = logging.getLogger(__name__)


def figures_line() -> str:
    """The diagnostics line: asyncio tasks of the running loop, open files, threads, and
    the memory blocks Python holds."""
    tasks = len(asyncio.all_tasks())
    gc.collect()  # the blocks of live objects only: garbage awaiting collection comes and goes
    try:
        files = str(len(os.listdir("/proc/self/fd")))
    except OSError:  # no /proc (not Linux): the other figures still count
        files = "?"
    return (
        f"diagnostics: {tasks} asyncio tasks, {files} open files, "
        f"{threading.active_count()} threads, {sys.getallocatedblocks()} Python blocks"
    )


def _log_figures() -> None:
    log.info("%s", figures_line())


def install() -> None:
    """Log :func:`figures_line` on SIGUSR1, from the running loop (call it inside the loop)."""
    # Signal handlers belong to the main thread's loop; elsewhere (a test's thread, Windows)
    # there is simply no such line.
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _log_figures)


def uninstall() -> None:
    """Give SIGUSR1 back (its handler dies with the loop anyway; this is for a clean stop)."""
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
        asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR1)
