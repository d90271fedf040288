"""Memory per active session: RSS growth of a bot process over an empty one, divided by N.

For each N (0 first, as the baseline), a fresh file gets N running sessions all due at one
instant, and a fresh process (``bench.probe``) initialises the Application on it and runs one
dispatcher pass — at most ``batch * max_batches`` sessions get their message in a pass; the
rest stay due in the database, which is where the architecture keeps them. Each process is
measured after ``gc.collect()``; the difference from the empty process is what N running
sessions cost it.

Two processes doing the same thing differ by up to about 800 KiB of RSS on this machine (the
allocator, thread stacks, hash seeds), so the empty process is run ``BASELINES`` times: its
median is the baseline and its spread, divided by N, is printed as the figure's noise. At the
quick run's few hundred sessions the noise is larger than the figure, which can come out
negative; at the full run's 20,000 it is a few tens of bytes.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .common import create_database, environment_without_focus, seed_running_sessions

__all__ = ["BASELINES", "MemoryPoint", "run_memory"]

BASELINES = 3
"""Empty processes measured: the median is the baseline, the spread the noise."""


@dataclass
class MemoryPoint:
    """One process's measurement."""

    sessions: int
    rss_kib: int
    hwm_kib: int
    dispatched: int  # sessions the pass stepped through
    bytes_per_session: float  # RSS growth over the empty process, per running session
    noise_bytes_per_session: float  # the spread of the empty processes' RSS, per session
    db_bytes_per_session: float  # the database file (and its WAL), per running session


def _probe(database: Path, at: datetime) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.probe", "--db", str(database), "--at", str(at.timestamp())],
        capture_output=True,
        text=True,
        env=environment_without_focus(),
        cwd=Path(__file__).resolve().parent.parent,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _file_bytes(database: Path) -> int:
    return sum(p.stat().st_size for p in (database, Path(f"{database}-wal")) if p.exists())


async def run_memory(workdir: Path, sizes: list[int]) -> list[MemoryPoint]:
    """Measure ``BASELINES`` empty processes, then one per size in ``sizes``."""
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    # One empty file per baseline process: a database file serves one process at a time.
    empties = [workdir / f"memory-0-{i}.db" for i in range(BASELINES)]
    for database in empties:
        await create_database(database)
    empty = empties[0]
    databases = [workdir / f"memory-{n}.db" for n in sizes]
    for n, database in zip(sizes, databases, strict=True):
        await create_database(database)
        seed_running_sessions(database, [due] * n)
    # Nothing here is timed, so the processes may share the CPUs.
    at = due + timedelta(seconds=1)
    results = await asyncio.gather(
        *(asyncio.to_thread(_probe, db, at) for db in [*empties, *databases])
    )
    baselines = [r["rss_kib"] for r in results[:BASELINES]]
    baseline_kib = statistics.median(baselines)
    noise_kib = max(baselines) - min(baselines)
    empty_bytes = _file_bytes(empty)
    return [
        MemoryPoint(
            sessions=n,
            rss_kib=result["rss_kib"],
            hwm_kib=result["hwm_kib"],
            dispatched=result["sessions"],
            bytes_per_session=(result["rss_kib"] - baseline_kib) * 1024 / n,
            noise_bytes_per_session=noise_kib * 1024 / n,
            db_bytes_per_session=(_file_bytes(database) - empty_bytes) / n,
        )
        for n, database, result in zip(sizes, databases, results[BASELINES:], strict=True)
    ]
