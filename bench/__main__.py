"""``python -m bench``: measure every capacity figure, print a table and one JSON line.

Sizes are options; the defaults are the full run described in BENCHMARKS.md. ``--quick`` is a
smoke run (tiny sizes: it checks that everything works, not how fast).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.telegram.ordering import RUNNING
from nudges.limits import LATE_WINDOW_MINUTES

from .backlog import PROBE_EVERY, run_backlog
from .burst_kill import run_burst_kill
from .common import percentile
from .dispatch import run_dispatch
from .exports import run_exports
from .flood import run_flood
from .inbound import InboundResult, run_inbound
from .memory import run_memory
from .recovery import run_recovery
from .soak import Sample as SoakSample
from .soak import SoakResult, run_soak
from .stats_latency import run_stats
from .webhook import run_webhook_attack

__all__ = ["FIGURES", "Sizes", "main"]

FIGURES = (
    "inbound",
    "dispatch",
    "memory",
    "recovery",
    "flood",
    "stats",
    "flood_backlog",
    "exports",
    "webhook",
    "soak",
    "burst_kill",
)


@dataclass(frozen=True)
class Sizes:
    """How big each figure's run is."""

    users: int = 1_000
    updates: int = 20_000
    limited_updates: int = 300
    http_users: int = 50
    http_updates: int = 200
    sessions: int = 20_000
    burst: int = 1_000
    stats_sessions: int = 1_000_000
    calls: int = 50
    stall_after: int = 5
    attackers: int = 10
    attack_bytes: int = 95_000_000  # the tester's size: under tornado's 100 MiB default limit
    backlog_flood: int = 20_000
    backlog_flood_seconds: float = 2.0
    backlog_seconds: float = 10.0
    backlog_after: float = 5.0
    backlog_second_flood: int = 2_000
    sigterm_cap: float = 30.0
    export_users: int = 200
    export_sessions: int = 3
    soak_users: int = 300
    soak_days: int = 7
    soak_scale: float = 60  # a minute a second: the 2-minute late window is 2 s of real time

    @property
    def stats_heavy(self) -> int:
        """Sessions of the one heavy user: 10,000 in a database of a million."""
        return max(1, min(10_000, self.stats_sessions // 100))

    @property
    def stats_users(self) -> int:
        """Users in the /stats database: one for every ten sessions."""
        return max(1, self.stats_sessions // 10)


ROUND_TRIP = 0.05
"""Seconds of a Bot API round trip in the far inbound figure: a server in Europe to Telegram's."""

QUICK = Sizes(
    users=10,
    updates=70,
    limited_updates=14,
    http_users=5,
    http_updates=14,
    sessions=300,
    burst=40,
    stats_sessions=5_000,
    calls=5,
    attackers=2,
    attack_bytes=5_000_000,
    backlog_flood=300,
    backlog_flood_seconds=0.5,
    backlog_seconds=2.0,
    backlog_after=1.0,
    backlog_second_flood=100,
    sigterm_cap=10.0,
    export_users=5,
    export_sessions=2,
    soak_users=4,
    soak_days=2,
    soak_scale=300,
)

Figures = dict[str, float]


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure, its value, and its target (if it has one)."""

    name: str
    value: str
    target: str = ""
    met: bool | None = None
    fatal: bool = False
    """A missed fatal row makes the run exit with code 1 (the soak's leak bounds)."""


def _ms(value: float) -> str:
    return f"{value:,.1f} ms"


async def _inbound(sizes: Sizes, work: Path, rows: list[Row]) -> Figures:
    warmup = min(500, sizes.updates // 10)
    focus, echo = [
        await run_inbound(
            bot=bot,
            transport="local",
            database=work / f"{bot}.db",
            users=sizes.users,
            updates=sizes.updates,
            warmup=warmup,
        )
        for bot in ("focus", "echo")
    ]
    limited = await run_inbound(
        bot="focus",
        transport="local",
        database=work / "limited.db",
        updates=sizes.limited_updates,
        rate_limiter=True,
        users=sizes.users,
        warmup=0,
    )
    # Production talks to Telegram over the internet: every Bot API call is a round trip.
    far, far_one = [
        await run_inbound(
            bot="focus",
            transport="http",
            database=work / f"far-{running}.db",
            users=sizes.http_users,
            updates=sizes.http_updates,
            warmup=0,
            latency=ROUND_TRIP,
            running=running,
        )
        for running in (RUNNING, 1)
    ]
    ratio = focus.per_s / echo.per_s if echo.per_s else 0.0
    _check_clean(focus, echo, limited, far, far_one)
    rows += [
        Row(
            "inbound updates/s (focus bot)",
            f"{focus.per_s:,.0f}/s",
            ">= 1,000/s",
            focus.per_s >= 1000,
        ),
        Row(
            "  handler p50 / p99",
            f"{_ms(focus.handler_p(50))} / {_ms(focus.handler_p(99))}",
            "p99 <= 50 ms",
            focus.handler_p(99) <= 50,
        ),
        Row("  Bot API calls per update", _calls(focus)),
        Row("bare echo bot, same harness", f"{echo.per_s:,.0f}/s (p99 {_ms(echo.handler_p(99))})"),
        Row("ratio focus / echo", f"{ratio:.2f}", ">= 0.5", ratio >= 0.5),
        Row(
            "inbound with the production rate limiter",
            f"{limited.per_s:,.0f}/s (p99 {_ms(limited.handler_p(99))})",
        ),
        Row(
            f"over HTTP, {ROUND_TRIP * 1000:.0f} ms round trips: {RUNNING} at once / one at a time",
            f"{far.per_s:,.0f}/s / {far_one.per_s:,.0f}/s "
            f"(wait p99 {_ms(far.e2e_p(99))} / {_ms(far_one.e2e_p(99))})",
        ),
    ]
    return {
        "inbound_updates_per_s": focus.per_s,
        "inbound_handler_p50_ms": focus.handler_p(50),
        "inbound_handler_p99_ms": focus.handler_p(99),
        "inbound_e2e_p99_ms": focus.e2e_p(99),
        "echo_updates_per_s": echo.per_s,
        "echo_handler_p99_ms": echo.handler_p(99),
        "echo_ratio": ratio,
        "inbound_rate_limited_updates_per_s": limited.per_s,
        "inbound_far_updates_per_s": far.per_s,
        "inbound_far_e2e_p99_ms": far.e2e_p(99),
        "inbound_far_one_at_a_time_updates_per_s": far_one.per_s,
        "inbound_far_one_at_a_time_e2e_p99_ms": far_one.e2e_p(99),
    }


def _calls(result: InboundResult) -> str:
    calls = {k: v for k, v in result.api_calls.items() if k != "getUpdates"}
    return ", ".join(f"{k} {v / result.updates:.2f}" for k, v in sorted(calls.items()))


def _check_clean(*results: InboundResult) -> None:
    for result in results:
        if result.errors or result.fallbacks:
            raise RuntimeError(
                f"{result.bot}: {result.errors} handler errors, {result.fallbacks} fallbacks"
            )


async def _dispatch(sizes: Sizes, work: Path, rows: list[Row]) -> Figures:
    small = await run_dispatch(work / "dispatch-small.db", min(1_000, sizes.sessions))
    full = await run_dispatch(work / "dispatch.db", sizes.sessions)
    for result in (small, full) if full.sessions > small.sessions else (full,):
        if result.sent != result.sessions:
            raise RuntimeError(f"dispatch: {result.sent} of {result.sessions} sent")
        rows += [
            Row(
                f"dispatch rate, {result.sessions:,} due at once",
                f"{result.per_s:,.0f}/s",
                ">= 1,000/s",
                result.per_s >= 1000,
            ),
            Row(
                "  lateness p50 / p99",
                f"{result.lateness_p(50):.2f} s / {result.lateness_p(99):.2f} s",
                "p99 <= 1 s",
                result.lateness_p(99) <= 1,
            ),
        ]
    return {
        "dispatch_sessions": full.sessions,
        "dispatch_per_s": full.per_s,
        "dispatch_lateness_p50_s": full.lateness_p(50),
        "dispatch_lateness_p99_s": full.lateness_p(99),
        "dispatch_small_sessions": small.sessions,
        "dispatch_small_per_s": small.per_s,
        "dispatch_small_lateness_p99_s": small.lateness_p(99),
    }


async def _memory(sizes: Sizes, work: Path, rows: list[Row]) -> Figures:
    small, large = await run_memory(work, [sizes.sessions, 5 * sizes.sessions])
    for point in (small, large):
        rows.append(
            Row(
                f"memory per running session, {point.sessions:,}",
                f"{point.bytes_per_session:,.0f} ± {point.noise_bytes_per_session:,.0f} B "
                f"(RSS {point.rss_kib / 1024:,.0f} MiB, "
                f"{point.dispatched:,} dispatched; file {point.db_bytes_per_session:,.0f} B)",
                "<= 4 KB",
                point.bytes_per_session <= 4096,
            )
        )
    return {
        "memory_small_sessions": small.sessions,
        "memory_small_bytes_per_session": small.bytes_per_session,
        "memory_small_noise_bytes_per_session": small.noise_bytes_per_session,
        "memory_large_sessions": large.sessions,
        "memory_large_bytes_per_session": large.bytes_per_session,
        "memory_large_noise_bytes_per_session": large.noise_bytes_per_session,
        "memory_large_rss_mib": large.rss_kib / 1024,
    }


async def _recovery(sizes: Sizes, work: Path, rows: list[Row]) -> Figures:
    result = await run_recovery(work, sizes.sessions, sizes.stall_after)
    first = result.first_pass
    killed = "mid-send" if result.killed_mid_send else "while idle"
    rows += [
        Row(
            f"recovery after SIGKILL, {result.sessions:,} running: every schedule armed",
            f"{result.armed_s:.2f} s",
            "<= 2 s",
            result.armed_s <= 2 and result.armed_at_init and result.next_job_armed,
        ),
        Row(
            "  and the first pass done (what came due meanwhile, at 29/s)",
            f"{result.seconds:.2f} s",
        ),
        Row(
            "  start-up: imports / init / first pass",
            f"{result.import_s:.2f} / {result.init_s:.2f} / {result.first_pass_s:.2f} s "
            f"({first['first_pass_sessions']} due, {first['first_pass_sent']} sent)",
        ),
        Row("  duplicates sent", str(result.duplicates), "0", result.duplicates == 0),
        Row(
            f"  killed {killed} after {result.killed_after} messages; claims never sent",
            str(result.lost),
        ),
        Row(
            "  dispatcher runs / messages in the 2 s after",
            f"{result.later_passes} / {result.later_sent}",
            "> 0 (it keeps running)",
            result.later_passes > 0,
        ),
    ]
    return {
        "recovery_s": result.armed_s,
        "recovery_first_pass_done_s": result.seconds,
        "recovery_import_s": result.import_s,
        "recovery_first_pass_s": result.first_pass_s,
        "recovery_first_pass_sent": first["first_pass_sent"],
        "recovery_duplicates": result.duplicates,
        "recovery_lost": result.lost,
        "recovery_later_passes": result.later_passes,
        "recovery_later_sent": result.later_sent,
    }


async def _burst_kill(sizes: Sizes, work: Path, rows: list[Row]) -> Figures:
    result = await run_burst_kill(work, sizes.burst, sizes.stall_after)
    killed = "mid-send" if result.killed_mid_send else "while idle"
    rows += [
        Row(
            f"SIGKILL {killed} after {result.killed_after:,} of a {result.burst:,}-message "
            "burst: claims never sent",
            str(result.lost),
            "0",
            result.lost == 0,
        ),
        Row("  duplicates sent", str(result.duplicates), "0", result.duplicates == 0),
    ]
    return {
        "burst_kill_lost": result.lost,
        "burst_kill_killed_after": result.killed_after,
        "burst_kill_duplicates": result.duplicates,
    }


async def _flood(sizes: Sizes, work: Path, rows: list[Row]) -> Figures:
    result = await run_flood(work / "flood.db", sizes.burst)
    if result.sent != result.burst:
        raise RuntimeError(f"flood: {result.sent} of {result.burst} sent")
    rows += [
        Row(
            f"flood: worst second, {result.burst:,} nudges (HTTP)",
            f"{result.worst_second}",
            "<= 30",
            result.worst_second <= 30,
        ),
        Row(
            "  worst chat in a second",
            f"{result.worst_chat_second}",
            "<= 1",
            result.worst_chat_second <= 1,
        ),
        Row("  drain time", f"{result.drain_s:.1f} s", f"~ burst / 30 = {result.burst / 30:.1f} s"),
    ]
    return {
        "flood_burst": result.burst,
        "flood_worst_second": result.worst_second,
        "flood_worst_chat_second": result.worst_chat_second,
        "flood_drain_s": result.drain_s,
    }


async def _stats(sizes: Sizes, work: Path, rows: list[Row]) -> Figures:
    result = await run_stats(
        work / "stats.db", sizes.stats_sessions, sizes.stats_heavy, sizes.stats_users, sizes.calls
    )
    figures: Figures = {}
    for name in ("week", "month", "all", "history"):
        p50, p99 = result.p(name, 50), result.p(name, 99)
        label = f"/stats {name}" if name != "history" else "/history page 0"
        if name == "week":
            label += f" ({result.heavy:,} of {result.total:,} sessions)"
        rows.append(
            Row(f"{label} p50 / p99", f"{_ms(p50)} / {_ms(p99)}", "p99 <= 100 ms", p99 <= 100)
        )
        key = "history" if name == "history" else f"stats_{name}"
        figures[f"{key}_p50_ms"], figures[f"{key}_p99_ms"] = p50, p99
    rows.append(
        Row(
            "  chart, all (excluded): again / first",
            f"{_ms(result.chart_ms)} / {_ms(result.first_chart_ms)}",
        )
    )
    figures["stats_chart_ms"] = result.chart_ms
    figures["stats_first_chart_ms"] = result.first_chart_ms
    return figures


ATTACK_GROWTH_MIB = 16
"""The webhook figure's target: the attack may raise the bot's peak RSS by at most this much
(a few MiB of sockets and buffers; a server that buffers the bodies grows by all of them)."""


async def _webhook(sizes: Sizes, work: Path, rows: list[Row]) -> Figures:
    result = await run_webhook_attack(work, sizes.attackers, sizes.attack_bytes)
    mib = 1024
    growth = (result.hwm_after_kib - result.rss_before_kib) / mib
    rows += [
        Row(
            f"webhook: {result.attackers} POSTs of {result.body_bytes / 1e6:,.0f} MB at once, "
            "no secret",
            f"{result.status_text()} in {result.seconds:.2f} s",
        ),
        Row(
            "  bot RSS before / peak (VmHWM) / after",
            f"{result.rss_before_kib / mib:,.0f} / {result.hwm_after_kib / mib:,.0f} / "
            f"{result.rss_after_kib / mib:,.0f} MiB",
            f"peak <= before + {ATTACK_GROWTH_MIB} MiB",
            growth <= ATTACK_GROWTH_MIB,
        ),
        Row(
            "  then a real update answered; exit code on SIGTERM",
            f"{'yes' if result.answered_after else 'NO'}; {result.exit_code}",
            "yes; 0",
            result.answered_after and result.exit_code == 0,
        ),
    ]
    return {
        "webhook_attackers": result.attackers,
        "webhook_attack_bytes": result.body_bytes,
        "webhook_attack_s": result.seconds,
        "webhook_refused_403": result.statuses.get("403", 0),
        "webhook_rss_before_mib": result.rss_before_kib / mib,
        "webhook_hwm_before_mib": result.hwm_before_kib / mib,
        "webhook_rss_sampled_max_mib": result.rss_sampled_max_kib / mib,
        "webhook_rss_peak_mib": result.hwm_after_kib / mib,
        "webhook_rss_after_mib": result.rss_after_kib / mib,
        "webhook_exit_code": result.exit_code,
    }


def _latencies(ms: list[float], unanswered: int = 0) -> str:
    p50, p99, worst = (percentile(ms, q) for q in (50, 99, 100))
    lost = f", {unanswered} not" if unanswered else ""
    return f"{_ms(p50)} / {_ms(p99)} / {_ms(worst)} ({len(ms)} answered{lost})"


async def _flood_backlog(sizes: Sizes, work: Path, rows: list[Row]) -> Figures:
    result = await run_backlog(
        work,
        sizes.backlog_flood,
        flood_seconds=sizes.backlog_flood_seconds,
        seconds=sizes.backlog_seconds,
        after=sizes.backlog_after,
        second_flood=sizes.backlog_second_flood,
        sigterm_cap=sizes.sigterm_cap,
    )
    mib = 1024
    exited = result.sigterm_s is not None
    rows += [
        Row(
            f"flood: {result.flood:,} messages from one user in {sizes.backlog_flood_seconds:g} s "
            "(bot process, HTTP): RSS",
            f"{result.rss_before_kib / mib:,.0f} → {result.rss_after_kib / mib:,.0f} MiB after "
            f"{result.seconds:g} s (peak {result.hwm_kib / mib:,.0f} MiB)",
        ),
        Row(
            "  all of it fetched from getUpdates after",
            f"{result.intake_s:.1f} s" if result.intake_s is not None else "not yet",
        ),
        Row(
            f"  others' /help (one every {PROBE_EVERY:g} s) while it is fetched: p50 / p99 / worst",
            _latencies(result.probe_ms),
        ),
        Row(
            f"  ... and in the {sizes.backlog_after:g} s after: p50 / p99 / worst",
            _latencies(result.probe_after_ms, result.probes_unanswered),
            "p99 <= 250 ms",
            result.probe_p(99, after=True) <= 250 and result.probes_unanswered == 0,
        ),
        Row(
            "  answers to the flooder / of them 'slow down'",
            f"{result.flood_answers} / {result.slow_downs}",
            "1 slow down",
            result.slow_downs == 1,
        ),
        Row(
            f"  SIGTERM with a backlog ({result.second_flood:,} more fetched): exit after",
            f"{result.sigterm_s:.2f} s (code {result.exit_code})"
            if exited
            else f"still running after {result.sigterm_cap:g} s "
            f"({result.answers_after_sigterm} answers meanwhile)",
            "<= 5 s",
            exited and (result.sigterm_s or 0) <= 5,
        ),
    ]
    return {
        "backlog_flood": result.flood,
        "backlog_rss_before_mib": result.rss_before_kib / mib,
        "backlog_rss_after_mib": result.rss_after_kib / mib,
        "backlog_rss_peak_mib": result.hwm_kib / mib,
        "backlog_probe_p50_ms": result.probe_p(50),
        "backlog_probe_p99_ms": result.probe_p(99),
        "backlog_probe_max_ms": result.probe_p(100),
        "backlog_probe_after_p50_ms": result.probe_p(50, after=True),
        "backlog_probe_after_p99_ms": result.probe_p(99, after=True),
        "backlog_probe_after_max_ms": result.probe_p(100, after=True),
        "backlog_probes_unanswered": result.probes_unanswered,
        "backlog_intake_s": result.intake_s if result.intake_s is not None else -1.0,
        "backlog_flood_answers": result.flood_answers,
        "backlog_slow_downs": result.slow_downs,
        "backlog_sigterm_s": result.sigterm_s if result.sigterm_s is not None else -1.0,
        "backlog_answers_after_sigterm": result.answers_after_sigterm,
    }


async def _exports(sizes: Sizes, work: Path, rows: list[Row]) -> Figures:
    result = await run_exports(work / "exports.db", sizes.export_users, sizes.export_sessions)
    files = 2 * result.users

    def seconds(value: float | None) -> str:
        return f"{value:.1f} s" if value is not None else "not done"

    rows += [
        Row(
            f"exports: {result.users:,} at once ({result.sessions_each} sessions each): "
            "/help p50 / p99",
            f"{_ms(result.help_p(50))} / {_ms(result.help_p(99))} ({len(result.help_ms)} probes)",
            "p99 <= 1 s",
            result.help_p(99) <= 1000,
        ),
        Row(
            "  files (bulk lane): all out after / first after",
            f"{seconds(result.bulk_done_s)} / {seconds(result.first_document_s)} "
            f"({result.documents} of {files}, {result.wrong_documents} wrong)",
            "all, none wrong",
            result.documents == files and result.wrong_documents == 0,
        ),
        Row(
            f"  check-ins due meanwhile (proactive lane): all {result.users} out after",
            seconds(result.proactive_done_s),
            "all",
            result.checkins >= result.users,
        ),
    ]
    return {
        "exports_users": result.users,
        "exports_help_p50_ms": result.help_p(50),
        "exports_help_p99_ms": result.help_p(99),
        "exports_documents": result.documents,
        "exports_wrong_documents": result.wrong_documents,
        "exports_bulk_done_s": result.bulk_done_s if result.bulk_done_s is not None else -1.0,
        "exports_proactive_done_s": result.proactive_done_s
        if result.proactive_done_s is not None
        else -1.0,
    }


SOAK_RSS_GROWTH_MIB = 16
"""The soak's bound: RSS at the end may exceed RSS at the idle mid-week by at most this much
(the first days rise to a plateau: see bench/soak.py; a leak per session or per message keeps
rising over the second half)."""
SOAK_BLOCKS_GROWTH = 0.02
"""The soak's bound on the memory blocks Python holds, end over the idle mid-week: at most 2 %
more (~11,000 of ~560,000: a leak of a few dozen objects per session of the second half
shows)."""
SOAK_FILES_GROWTH = 0
"""The soak's bound on open files other than sockets (database, log, fonts...), end over start."""
SOAK_SOCKETS_GROWTH = 1
"""The soak's bound on TCP sockets at the end (after one reply: see bench/soak.py) over the
start: one more at most (the reply's pooled connection)."""
SOAK_DROPPED_SHARE = 0.05
"""The share of proactive messages dropped as late above which the time scale is too fast for
the machine (its 2-minute late window shorter than its scheduling noise): not a leak, a warning."""
SOAK_TASKS_GROWTH = 5
"""The soak's bound on asyncio tasks, end over start (both idle: a leak per session shows)."""


async def _soak(sizes: Sizes, work: Path, rows: list[Row]) -> Figures:
    result = await run_soak(work, sizes.soak_users, sizes.soak_days, scale=sizes.soak_scale)
    start, end = result.start, result.end
    mib = 1024
    midweek = result.midweek
    rss_growth = (end.rss_kib - midweek.rss_kib) / mib
    files_growth = end.other_files - start.other_files
    sockets_growth = end.sockets - start.sockets
    blocks_growth = (
        None if end.blocks is None or midweek.blocks is None else end.blocks / midweek.blocks - 1
    )
    due = len(result.lateness_s) + result.dropped

    def by_day(value: Callable[[SoakSample], str]) -> str:
        """The samples after the start, in turn; the idle mid-week one in brackets."""
        return " ".join(
            f"[mid {value(s)}]" if s.label == "midweek" else value(s) for s in result.samples[1:]
        )

    window_s = LATE_WINDOW_MINUTES * 60 / result.scale
    tasks_growth = None if end.tasks is None or start.tasks is None else end.tasks - start.tasks
    sessions = result.users * result.days
    scaled = result.scale / 60  # real seconds to scaled minutes
    rows += [
        Row(
            f"soak: {result.users:,} people x {result.days} days, /focus {result.minutes} daily "
            f"(FOCUS_TIME_SCALE={result.scale:g}, a day = {result.day_s:.0f} s)",
            f"{result.seconds:.0f} s; {result.ended:,} of {result.sessions:,} ended, "
            f"{result.summaries_received:,} summaries received",
            "all ended, one summary each",
            result.ended == result.sessions == sessions + 1
            and result.summaries_received == result.summaries_sent == result.sessions,
            fatal=True,
        ),
        Row(
            "  Bot API messages and edits per session (budget: 29/s)",
            f"{result.chat_calls / max(1, result.sessions):.1f} "
            f"({result.chat_calls / max(1.0, result.seconds):.1f}/s over the week)",
        ),
        Row(
            f"  RSS start / {midweek.label} / end (peak)",
            f"{start.rss_kib / mib:,.1f} / {midweek.rss_kib / mib:,.1f} / "
            f"{end.rss_kib / mib:,.1f} MiB (peak {end.hwm_kib / mib:,.1f}; "
            f"after start-up {result.samples[0].rss_kib / mib:,.1f})",
            f"second half: end <= {midweek.label} + {SOAK_RSS_GROWTH_MIB} MiB",
            rss_growth <= SOAK_RSS_GROWTH_MIB,
            fatal=True,
        ),
        Row(
            "  RSS by day",
            by_day(lambda s: f"{s.rss_kib / mib:.0f}") + " MiB",
        ),
        Row(
            f"  Python blocks start / {midweek.label} / end (by day, thousands)",
            f"{start.blocks} / {midweek.blocks} / {end.blocks} "
            f"({by_day(lambda s: str(round((s.blocks or 0) / 1000)))})",
            f"second half: end <= {midweek.label} + {SOAK_BLOCKS_GROWTH:.0%}",
            blocks_growth is not None and blocks_growth <= SOAK_BLOCKS_GROWTH,
            fatal=True,
        ),
        Row(
            "  open files start / end (by day)",
            f"{start.files} / {end.files} ({by_day(lambda s: str(s.files))})",
        ),
        Row(
            "  open files other than sockets start / end",
            f"{start.other_files} / {end.other_files} (end: {_kinds(end, sockets=False)})",
            f"end <= start + {SOAK_FILES_GROWTH}",
            files_growth <= SOAK_FILES_GROWTH,
            fatal=True,
        ),
        Row(
            "  TCP sockets start / end (by day: PTB's pool in use)",
            f"{start.sockets} / {end.sockets} "
            f"({by_day(lambda s: str(s.sockets))}; "
            f"end: {_kinds(end, sockets=True)})",
            f"end (after one reply) <= start + {SOAK_SOCKETS_GROWTH}",
            sockets_growth <= SOAK_SOCKETS_GROWTH,
            fatal=True,
        ),
        Row(
            "  asyncio tasks start / end (by day); threads",
            f"{start.tasks} / {end.tasks} "
            f"({by_day(lambda s: str(s.tasks))}); "
            f"{start.threads} / {end.threads}",
            f"end <= start + {SOAK_TASKS_GROWTH}",
            tasks_growth is not None and tasks_growth <= SOAK_TASKS_GROWTH,
            fatal=True,
        ),
        Row(
            "  database per session (closed file over the empty schema)",
            f"{result.bytes_per_session:,.0f} B "
            f"({result.empty_bytes / 1e6:.2f} -> {result.closed_bytes / 1e6:.2f} MB; "
            f"live with WAL at the end {result.live_bytes / 1e6:.2f} MB)",
        ),
        Row(
            "  dispatcher lateness, proactive: p50 / p95 / max",
            " / ".join(f"{result.late_p(q):.3f}" for q in (50, 95, 100))
            + f" s (max {result.late_p(100) * scaled:.1f} scaled min; "
            f"{len(result.lateness_s):,} sent, {result.dropped} dropped)",
        ),
        Row(
            f"  proactive due: sent / dropped as late (late window {window_s:.1f} s real)",
            f"{len(result.lateness_s):,} / {result.dropped:,} of {due:,} "
            f"({result.dropped / max(1, due):.1%} dropped)",
            f"dropped <= {SOAK_DROPPED_SHARE:.0%} (else the scale is too fast here)",
            result.dropped <= SOAK_DROPPED_SHARE * due,
        ),
        Row(
            "  summaries: p50 / p95 / max",
            " / ".join(f"{result.late_p(q, summaries=True):.3f}" for q in (50, 95, 100)) + " s",
        ),
        Row(
            "  errors in the bot's log; exit code on SIGTERM",
            f"{result.errors_logged}; {result.exit_code}",
            "0; 0",
            result.errors_logged == 0 and result.exit_code == 0,
            fatal=True,
        ),
    ]
    return _soak_figures(result, rss_growth, files_growth, tasks_growth)


def _kinds(sample: SoakSample, *, sockets: bool) -> str:
    """The sample's open files of one side (TCP sockets or the rest), by kind, most first."""
    kinds = [(kind, n) for kind, n in sample.fd_kinds.items() if kind.startswith("tcp ") == sockets]
    return ", ".join(f"{n} {kind}" for kind, n in sorted(kinds, key=lambda kn: -kn[1])) or "none"


def _soak_figures(
    result: SoakResult, rss_growth: float, files_growth: int, tasks_growth: int | None
) -> Figures:
    start, end = result.start, result.end
    return {
        "soak_users": result.users,
        "soak_days": result.days,
        "soak_sessions": result.sessions,
        "soak_ended": result.ended,
        "soak_summaries_received": result.summaries_received,
        "soak_seconds": result.seconds,
        "soak_rss_start_mib": start.rss_kib / 1024,
        "soak_rss_end_mib": end.rss_kib / 1024,
        "soak_rss_growth_mib": rss_growth,
        "soak_files_start": start.files,
        "soak_files_end": end.files,
        "soak_files_growth": files_growth,
        "soak_sockets_start": start.sockets,
        "soak_sockets_end": end.sockets,
        "soak_blocks_start": -1 if start.blocks is None else start.blocks,
        "soak_blocks_end": -1 if end.blocks is None else end.blocks,
        "soak_rss_midweek_mib": result.midweek.rss_kib / 1024,
        "soak_tasks_start": -1 if start.tasks is None else start.tasks,
        "soak_tasks_end": -1 if end.tasks is None else end.tasks,
        "soak_tasks_growth": -1 if tasks_growth is None else tasks_growth,
        "soak_bytes_per_session": result.bytes_per_session,
        "soak_lateness_p50_s": result.late_p(50),
        "soak_lateness_p95_s": result.late_p(95),
        "soak_lateness_max_s": result.late_p(100),
        "soak_dropped": result.dropped,
        "soak_errors_logged": result.errors_logged,
        "soak_chat_calls": result.chat_calls,
    }


_RUNNERS: dict[str, Callable[[Sizes, Path, list[Row]], Awaitable[Figures]]] = {
    "inbound": _inbound,
    "dispatch": _dispatch,
    "memory": _memory,
    "recovery": _recovery,
    "flood": _flood,
    "stats": _stats,
    "webhook": _webhook,
    "flood_backlog": _flood_backlog,
    "exports": _exports,
    "soak": _soak,
    "burst_kill": _burst_kill,
}


async def run(sizes: Sizes, only: list[str]) -> tuple[list[Row], Figures]:
    """Run the chosen figures in a temporary directory, removed afterwards."""
    rows: list[Row] = []
    figures: Figures = {}
    with tempfile.TemporaryDirectory(prefix="focus-bench-") as tmp:
        for name in only:
            started = time.perf_counter()
            work = Path(tmp) / name
            work.mkdir()
            runner = _RUNNERS[name]
            figures.update(await runner(sizes, work, rows))
            figures[f"{name}_run_s"] = time.perf_counter() - started
    return rows, figures


def _print_table(rows: list[Row]) -> None:
    width = max(len(r.name) for r in rows)
    value_width = max(len(r.value) for r in rows)
    print(f"{'figure':<{width}}  {'measured':<{value_width}}  target")
    for row in rows:
        mark = "" if row.met is None else (" ✓" if row.met else " ✗ MISSED")
        print(f"{row.name:<{width}}  {row.value:<{value_width}}  {row.target}{mark}")


def main(argv: list[str] | None = None) -> int:
    """Parse the sizes, run, print the table and the JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    full = Sizes()
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--users", type=int, help=f"simulated users (default {full.users:,})")
    parser.add_argument("--updates", type=int, help=f"inbound updates (default {full.updates:,})")
    parser.add_argument(
        "--sessions",
        type=int,
        help=f"running sessions for dispatch and recovery; memory at it and 5x "
        f"(default {full.sessions:,})",
    )
    parser.add_argument("--burst", type=int, help=f"flood burst (default {full.burst:,})")
    parser.add_argument(
        "--stats-sessions",
        type=int,
        help=f"sessions in the /stats database (default {full.stats_sessions:,})",
    )
    parser.add_argument(
        "--attackers", type=int, help=f"webhook: POSTs at once (default {full.attackers})"
    )
    parser.add_argument(
        "--attack-bytes",
        type=int,
        help=f"webhook: bytes of each POST's body (default {full.attack_bytes:,})",
    )
    parser.add_argument(
        "--soak-users",
        type=int,
        help=f"soak: people, one session a day (default {full.soak_users})",
    )
    parser.add_argument("--soak-days", type=int, help=f"soak: days (default {full.soak_days})")
    parser.add_argument(
        "--soak-scale", type=float, help=f"soak: FOCUS_TIME_SCALE (default {full.soak_scale:g})"
    )
    parser.add_argument("--only", default=",".join(FIGURES), help="comma-separated figures")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else full
    changes = {
        name: getattr(args, name)
        for name in (
            "users",
            "updates",
            "sessions",
            "burst",
            "stats_sessions",
            "attackers",
            "attack_bytes",
            "soak_users",
            "soak_days",
            "soak_scale",
        )
        if getattr(args, name) is not None
    }
    sizes = Sizes(**{**sizes.__dict__, **changes})
    only = [f.strip() for f in args.only.split(",") if f.strip()]
    unknown = set(only) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figures: {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    rows, figures = asyncio.run(run(sizes, only))
    _print_table(rows)
    missed = []
    parent = ""
    for row in rows:
        if not row.name.startswith(" "):
            parent = row.name
        if row.met is False:
            missed.append(row.name if row.name == parent else f"{parent}: {row.name.strip()}")
    print(json.dumps({**figures, "sizes": sizes.__dict__, "missed": missed}))
    fatal = [row.name.strip() for row in rows if row.fatal and row.met is False]
    if fatal:  # a leak or a lost session: fail loudly, not just a ✗ in the table
        print(f"FAILED: {'; '.join(fatal)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
