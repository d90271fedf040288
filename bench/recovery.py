"""Recovery: SIGKILL mid-send with N running sessions, restart, time until all is armed again.

1. N running sessions are seeded, their first check-ins due one after the other, 75 ms apart
   (the steady state of 20,000 people in 25-minute sessions: about 13 messages a second),
   starting a moment before the bot starts, so its first run already has some to send.
2. ``bench.runner`` starts the bot on that file (production configuration: polling, JobQueue,
   rate limiter) and sends what comes due; after ``stall_after`` messages it freezes inside a
   send — the message has reached the transport, its claim is not confirmed — and is killed
   with SIGKILL.
3. The runner starts again on the same file at once. Recovery time — "until every schedule
   is armed" — is from just before the process is spawned to the dispatcher's one job armed
   at the soonest due time in the file (what post_init does). Reported beside it: the end of
   the dispatcher's first run, which sends what came due meanwhile through the production
   rate limiter (30 a second), with the next job armed. The
   restarted bot then runs ``LINGER`` seconds more: the dispatcher must keep running (about 13
   messages a second are due), which is checked too.
4. Duplicates: for every chat, the messages the transport received (both processes) against
   the slots claimed in the database — a slot can be claimed once, so more messages than
   claims means a message went out twice — and no summary more than once.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .common import create_database, environment_without_focus, seed_running_sessions

__all__ = ["RecoveryResult", "run_recovery"]

STEADY_GAP = timedelta(minutes=25) / 20_000
"""Between two seeded due times: 20,000 people in 25-minute sessions, ~13 check-ins a second."""
LINGER = 2.0
"""Seconds the restarted bot keeps running after its first dispatcher run."""


@dataclass
class RecoveryResult:
    """What one kill-and-restart measured."""

    sessions: int
    seconds: float  # spawn to first pass done, next job armed
    armed_s: float  # spawn to the dispatcher's job armed at the soonest due time
    armed_at_init: bool
    import_s: float
    init_s: float
    first_pass_s: float
    first_pass: dict[str, Any]
    next_job_armed: bool
    killed_after: int  # proactive messages the first process got out
    killed_mid_send: bool  # it was frozen inside a send when killed (else: killed idle)
    later_passes: int  # dispatcher runs in the LINGER seconds after the first
    later_sent: int  # messages they sent
    duplicates: int
    lost: int  # claimed, never reached the transport: the price of at-most-once


def _spawn(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.runner", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment_without_focus(),
        cwd=Path(__file__).resolve().parent.parent,
    )


def _wait_for_stall(log: Path, process: subprocess.Popen[str], within: float) -> bool:
    """Whether the runner froze mid-send within ``within`` seconds (else it is killed idle)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if log.exists() and b'"stalled"' in log.read_bytes():
            return True
        if process.poll() is not None:
            raise RuntimeError(f"the first runner exited early ({process.returncode})")
        time.sleep(0.01)
    return False


async def run_recovery(workdir: Path, sessions: int, stall_after: int) -> RecoveryResult:
    """Seed, run, SIGKILL mid-send, restart; see the module docstring."""
    database, log = workdir / "recovery.db", workdir / "transport.jsonl"
    await create_database(database)
    first = datetime.now(UTC) - STEADY_GAP * 4 * stall_after
    seed_running_sessions(database, (first + STEADY_GAP * i for i in range(sessions)))

    victim = _spawn(["--db", str(database), "--log", str(log), "--stall-after", str(stall_after)])
    try:
        stalled = _wait_for_stall(log, victim, within=20)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate()

    spawned = time.time()
    restart = _spawn(
        ["--db", str(database), "--log", str(log), "--first-pass", "--linger", str(LINGER)]
    )
    out, err = restart.communicate(timeout=600)
    if restart.returncode != 0:
        raise RuntimeError(f"the restarted runner failed ({restart.returncode}): {err[-2000:]}")
    timings = json.loads(out.strip().splitlines()[-1])
    duplicates, lost, killed_after = _audit(database, log)
    return RecoveryResult(
        sessions=sessions,
        seconds=timings["first_pass_done"] - spawned,
        armed_s=timings["initialised"] - spawned,
        armed_at_init=bool(timings["armed_at_init"]),
        import_s=timings["imported"] - spawned,
        init_s=timings["initialised"] - timings["imported"],
        first_pass_s=timings["first_pass_done"] - timings["initialised"],
        first_pass={k: v for k, v in timings.items() if k.startswith("first_pass_")},
        next_job_armed=timings["next_job_at"] is not None,
        killed_after=killed_after,
        killed_mid_send=stalled,
        later_passes=timings["later_passes"],
        later_sent=timings["later_sent"],
        duplicates=duplicates,
        lost=lost,
    )


def _audit(database: Path, log: Path) -> tuple[int, int, int]:
    """(duplicates, claims never received, proactive messages before the kill)."""
    proactive: Counter[int] = Counter()
    summaries: Counter[int] = Counter()
    texts: Counter[tuple[int, str]] = Counter()
    before_kill = 0
    stalled = False
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("stalled"):
            stalled = True
            continue
        if entry["change"] != "send":
            continue
        if entry["kind"] in ("checkin", "break", "back"):
            proactive[entry["chat"]] += 1
            texts[(entry["chat"], entry["text"])] += 1
            before_kill += not stalled
        elif entry["kind"] == "summary":
            summaries[entry["chat"]] += 1
    db = sqlite3.connect(database)
    try:
        claimed = Counter(
            {
                chat: count
                for chat, count in db.execute(
                    "SELECT s.chat_id, count(*) FROM deliveries d JOIN sessions s "
                    "ON s.id = d.session_id WHERE d.kind != 'summary' "
                    "AND d.status IN ('sending', 'sent') GROUP BY s.chat_id"
                )
            }
        )
    finally:
        db.close()
    over_claims = sum(max(0, n - claimed[chat]) for chat, n in proactive.items())
    same_text = sum(n - 1 for n in texts.values() if n > 1)  # one slot, one wording
    extra_summaries = sum(n - 1 for n in summaries.values() if n > 1)
    duplicates = max(over_claims, same_text) + extra_summaries
    lost = sum(max(0, n - proactive[chat]) for chat, n in claimed.items())
    return duplicates, lost, before_kill
