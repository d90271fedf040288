"""One bot process for the memory figure: ``python -m bench.probe --db FILE``.

It initialises the real Application on ``FILE`` as production does (``initialize``,
``post_init``: storage opened, dispatcher built and armed), runs one dispatcher pass over
whatever is due, collects garbage, and prints its RSS as one JSON line. The clock is fixed
just after the seeded due time, so every due session is inside its window and gets its
message; the rate limiter is off so that the pass is not 30 messages a second (its per-chat
buckets are bounded at 4,096 by design and would add at most a couple of MB).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.telegram.app import close_application, open_application

from .common import FixedClock, ForgetfulBotApi, local_application, rss_kib

__all__ = ["main"]


async def _probe(database: Path, at: datetime) -> dict[str, Any]:
    clock = FixedClock(at)
    api = ForgetfulBotApi(clock=clock.now)
    app = local_application(database, api, clock, rate_limiter=False)
    await open_application(app)
    try:
        dispatcher = app.bot_data.dispatcher
        assert dispatcher is not None  # noqa: S101 - post_init built it
        report = await dispatcher.run_due()
        gc.collect()
        rss, hwm = rss_kib()
        return {"rss_kib": rss, "hwm_kib": hwm, "sessions": report.sessions, "sent": report.sent}
    finally:
        await close_application(app)


def main(argv: list[str] | None = None) -> int:
    """Measure one process; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bench.probe", description=__doc__)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--at", type=float, required=True, help="the fixed clock, Unix seconds")
    args = parser.parse_args(argv)
    result = asyncio.run(_probe(args.db, datetime.fromtimestamp(args.at, UTC)))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
