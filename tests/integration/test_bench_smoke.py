"""The capacity benchmark runs end to end (``python -m bench --quick``): a smoke test.

It checks that every figure is produced as a number and that the restart after SIGKILL sent
nothing twice — not the timings, which depend on the machine (see BENCHMARKS.md). Not marked
e2e: it belongs to the normal suite (about 25 s).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FIGURE_KEYS = (
    "inbound_updates_per_s",
    "inbound_handler_p50_ms",
    "inbound_handler_p99_ms",
    "echo_updates_per_s",
    "echo_ratio",
    "inbound_rate_limited_updates_per_s",
    "inbound_far_updates_per_s",
    "inbound_far_one_at_a_time_updates_per_s",
    "dispatch_per_s",
    "dispatch_lateness_p50_s",
    "dispatch_lateness_p99_s",
    "memory_small_bytes_per_session",
    "memory_large_bytes_per_session",
    "recovery_s",
    "recovery_first_pass_done_s",
    "recovery_duplicates",
    "recovery_lost",
    "recovery_later_passes",
    "flood_worst_second",
    "flood_worst_chat_second",
    "flood_drain_s",
    "stats_week_p99_ms",
    "stats_month_p99_ms",
    "stats_all_p99_ms",
    "history_p99_ms",
    "webhook_rss_before_mib",
    "webhook_rss_peak_mib",
    "webhook_rss_after_mib",
    "backlog_rss_before_mib",
    "backlog_rss_after_mib",
    "backlog_probe_after_p99_ms",
    "backlog_intake_s",
    "backlog_slow_downs",
    "backlog_sigterm_s",
    "exports_help_p99_ms",
    "exports_documents",
    "exports_bulk_done_s",
    "exports_proactive_done_s",
    "soak_rss_start_mib",
    "soak_rss_end_mib",
    "soak_files_start",
    "soak_files_end",
    "soak_tasks_start",
    "soak_tasks_end",
    "soak_bytes_per_session",
    "soak_lateness_p50_s",
    "soak_lateness_p95_s",
    "soak_lateness_max_s",
)

SIGNED = frozenset({"memory_small_bytes_per_session", "memory_large_bytes_per_session"})
"""RSS growth over the median empty process: at the quick run's few hundred sessions it is
smaller than the noise between two processes (see bench/memory.py), so it may be negative."""


def test_quick_bench_prints_every_figure_and_sends_nothing_twice() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    for key in FIGURE_KEYS:
        value = figures.get(key)
        assert isinstance(value, int | float) and not isinstance(value, bool), key
        assert math.isfinite(value), (key, value)
        if key not in SIGNED:
            assert value >= 0, (key, value)
    for size in ("small", "large"):  # noise can make the figure negative, never huge
        noise = figures[f"memory_{size}_noise_bytes_per_session"]
        assert noise >= 0
        assert figures[f"memory_{size}_bytes_per_session"] <= 4096 + noise
    assert figures["recovery_duplicates"] == 0
    assert figures["recovery_s"] < figures["recovery_first_pass_done_s"]
    assert figures["inbound_updates_per_s"] > 0 and figures["dispatch_per_s"] > 0
    assert figures["flood_worst_chat_second"] >= 1  # every nudge reached the stand-in
    assert figures["webhook_refused_403"] == figures["webhook_attackers"]
    assert figures["webhook_exit_code"] == 0
    assert figures["backlog_slow_downs"] == 1  # one answer for the whole burst
    assert figures["backlog_probes_unanswered"] == 0
    assert figures["exports_documents"] == 2 * figures["exports_users"]
    assert figures["exports_wrong_documents"] == 0
    # The soak: every session ended with one summary, its leak bounds held (else exit code 1),
    # and the bot's own asyncio task count was read through its SIGUSR1 line.
    assert figures["soak_ended"] == figures["soak_sessions"] == figures["soak_summaries_received"]
    assert figures["soak_sessions"] == figures["soak_users"] * figures["soak_days"] + 1
    assert figures["soak_tasks_start"] > 0 and figures["soak_tasks_end"] > 0
    assert figures["soak_errors_logged"] == 0
    assert "figure" in done.stdout  # the table came first
