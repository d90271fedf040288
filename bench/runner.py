"""The bot as production starts it, for the recovery figure: ``python -m bench.runner``.

It does what ``run_polling`` does — initialise, ``post_init``, start polling and the
Application (JobQueue included), with the production rate limiter — over the in-process Bot
API, on the database it is given. The transport appends one JSON line per message it receives
to ``--log`` with a plain ``os.write`` (the kernel keeps it even when this process is killed a
moment later), so the parent can count what reached "Telegram" across a SIGKILL.

``--stall-after K``: once the transport has received K proactive messages, it blocks the event
loop inside that send — after the message reached the transport, before the bot confirmed it —
and says so in the log; the parent then kills the process with SIGKILL. That is the worst
moment to die: a message out, its claim not confirmed.

``--first-pass``: print timings as one JSON line once the dispatcher's first run is over and
its next job is armed, then stop gracefully — after ``--linger`` more seconds, during which
the dispatcher's later runs are counted (a dispatcher that stopped re-arming would show none).
"""

from __future__ import annotations

import time

STARTED = time.time()  # before the heavy imports: they are part of the start-up

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bot.core.clock import SystemClock  # noqa: E402
from bot.offline.local_api import LocalBotApi, OutgoingMessage  # noqa: E402
from bot.telegram.app import close_application, open_application  # noqa: E402
from bot.telegram.callbacks import CheckinButton, ScoreButton, decode  # noqa: E402
from bot.telegram.dispatcher import JOB_NAME, DispatchReport  # noqa: E402

from .common import local_application  # noqa: E402

IMPORTED = time.time()

__all__ = ["main", "message_kind"]


def message_kind(msg: OutgoingMessage) -> str:
    """What a message the bot sent is: checkin, break, back, summary, or other."""
    buttons = msg.buttons()
    data = decode(buttons[0][1]) if buttons else None
    text = msg.text or ""
    if isinstance(data, CheckinButton):
        return "checkin"
    if isinstance(data, ScoreButton):
        return "summary"
    if text.startswith("☕"):
        return "break"
    if text.startswith("🔔"):
        return "back"
    return "other"


class _TransportLog:
    """Appends every message the transport receives to a file, then maybe stalls."""

    def __init__(self, path: Path, stall_after: int) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.stall_after = stall_after
        self.proactive = 0

    def __call__(self, change: str, msg: OutgoingMessage) -> None:
        kind = message_kind(msg)
        line = {"t": time.time(), "change": change, "chat": msg.chat_id, "kind": kind}
        line["text"] = msg.text or ""
        os.write(self.fd, (json.dumps(line) + "\n").encode())
        if change == "send" and kind in ("checkin", "break", "back"):
            self.proactive += 1
            if self.proactive == self.stall_after:
                os.write(self.fd, b'{"stalled": true}\n')
                time.sleep(3600)  # on purpose: freeze the loop mid-send until killed


async def _run(
    database: Path, log: Path, stall_after: int, first_pass: bool, linger: float
) -> dict[str, Any]:
    clock = SystemClock()
    api = LocalBotApi(clock=clock.now, on_outgoing=_TransportLog(log, stall_after))
    app = local_application(database, api, clock, rate_limiter=True)  # production: limiter on
    await open_application(app)
    initialised = time.time()
    dispatcher = app.bot_data.dispatcher
    assert dispatcher is not None  # noqa: S101 - post_init built it
    assert app.job_queue is not None  # noqa: S101 - the job-queue extra is a dependency
    assert app.updater is not None  # noqa: S101
    # Every schedule is armed once the one dispatcher job is: post_init armed it at the
    # soonest due time in the file (it fires when the JobQueue starts, with app.start()).
    armed_at_init = bool(app.job_queue.get_jobs_by_name(JOB_NAME))

    done = asyncio.Event()
    reports: list[DispatchReport] = []
    armed: list[float | None] = []
    run_due = dispatcher.run_due
    job_queue = app.job_queue

    async def timed_run_due() -> DispatchReport:
        report = await run_due()
        if not reports:  # right after the run re-armed, before the new job can fire
            job = next(iter(job_queue.get_jobs_by_name(JOB_NAME)), None)
            armed.append(job.next_t.timestamp() if job and job.next_t else None)
        reports.append(report)
        done.set()
        return report

    dispatcher.run_due = timed_run_due  # type: ignore[method-assign]  # the job calls this
    await app.updater.start_polling(allowed_updates=["message", "callback_query"])
    await app.start()
    polling = time.time()
    if not first_pass:
        await asyncio.Event().wait()  # until killed
    await done.wait()
    passed = time.time()
    await asyncio.sleep(linger)
    first, later = reports[0], reports[1:]
    api.interrupt_polls()
    await app.updater.stop()
    await app.stop()
    await close_application(app)
    return {
        "started": STARTED,
        "imported": IMPORTED,
        "initialised": initialised,
        "polling": polling,
        "first_pass_done": passed,
        "next_job_at": armed[0],
        "armed_at_init": armed_at_init,
        "first_pass_sessions": first.sessions,
        "first_pass_sent": first.sent,
        "first_pass_dropped": first.dropped,
        "first_pass_finished": first.finished,
        "first_pass_summaries": first.summaries,
        "linger_s": linger,
        "later_passes": len(later),
        "later_sent": sum(r.sent for r in later),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the bot on ``--db``; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bench.runner", description=__doc__)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--stall-after", type=int, default=0)
    parser.add_argument("--first-pass", action="store_true")
    parser.add_argument("--linger", type=float, default=0.0)
    args = parser.parse_args(argv)
    result = asyncio.run(_run(args.db, args.log, args.stall_after, args.first_pass, args.linger))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
