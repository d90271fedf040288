"""Claims lost to a SIGKILL in a 1,000-message burst (issue 14).

``burst`` running sessions, ten people each in 100 groups (Telegram lets a bot post 20 a
minute into a group, so the rate limiter may hold them), have their first check-in due at
once, a moment before the bot starts (``bench.runner``: production configuration, the rate
limiter letting out 29 a second). Once ``stall_after`` of them reached the transport, the
runner freezes inside that send and is killed with SIGKILL; counted after: claims in the file
that never reached the transport, each a message the person never gets (at most once: it
counts as sent). 5 is early in the first run, when its concurrent steps have claimed
together; a kill halfway (500) found 0 before and after on a loaded 2-core machine, where the
bot sent ~25 a second and the limiter held nothing.

When a claim is taken before the rate limiter admits its request, every claim waiting in
its queue at the kill is lost; taken on admission, right before the HTTP call, none is (the
one frozen mid-send did reach the transport).
"""

from __future__ import annotations

import signal
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .common import create_database, seed_running_sessions
from .recovery import _audit, _spawn, _wait_for_stall

__all__ = ["BurstKillResult", "run_burst_kill"]

GROUPS = 100


@dataclass
class BurstKillResult:
    """What one burst-and-kill measured."""

    burst: int
    killed_after: int  # proactive messages that reached the transport before the kill
    killed_mid_send: bool
    lost: int  # claimed, never reached the transport
    duplicates: int


async def run_burst_kill(workdir: Path, burst: int, stall_after: int) -> BurstKillResult:
    """Seed ``burst`` due check-ins, run, SIGKILL mid-send after ``stall_after``; audit."""
    database, log = workdir / "burst.db", workdir / "transport.jsonl"
    await create_database(database)
    due = datetime.now(UTC) - timedelta(seconds=1)
    seed_running_sessions(database, (due for _ in range(burst)))
    db = sqlite3.connect(database)
    with db:  # into groups: -1001 .. -1100
        db.execute("UPDATE sessions SET chat_id = -(1001 + id % ?)", (GROUPS,))
    db.close()
    victim = _spawn(["--db", str(database), "--log", str(log), "--stall-after", str(stall_after)])
    try:
        stalled = _wait_for_stall(log, victim, within=30 + burst / 10)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
    duplicates, lost, killed_after = _audit(database, log)
    return BurstKillResult(burst, killed_after, stalled, lost, duplicates)
