"""Many people export at once while someone else asks for /help: ``--only exports``.

``users`` people each have ``sessions_each`` finished sessions and one running session whose
check-in is due as the bot starts; all of them send /export at once. Meanwhile others send
/help, one every ``PROBE_EVERY`` seconds, a few people in turn. The bot is the real Application
with the production rate limiter, polling (so updates go through ``bot.telegram.ordering`` as in
production), over PTB's HTTPXRequest to the Bot API stand-in on 127.0.0.1, in this process.

Measured: the /help latency (from the moment it is handed to getUpdates until its answer
reaches the stand-in), and when each lane is done — the last document (bulk) and the last
check-in (proactive) — counted from when the exports were sent. Every document is checked:
its chat's own sessions only (the JSON's user id, the CSV's rows).

Nothing of the new code is needed: copied into a checkout of an older commit (with
``bench/__main__.py``), it measures that commit the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.clock import SystemClock
from bot.offline.local_api import LocalBotApi, OutgoingMessage
from bot.telegram.app import build_application, close_application, open_application
from bot.telegram.callbacks import CheckinButton, decode
from tests.support.standin import BotApiStandin

from .common import (
    BENCH_TOKEN,
    bench_settings,
    create_database,
    percentile,
    seed_running_sessions,
    to_ms,
    writer,
)

__all__ = ["PROBE_EVERY", "ExportsResult", "run_exports"]

FIRST_USER = 8_000_000
PROBERS = tuple(range(7_999_990, 7_999_994))
"""The others asking for /help, taking turns: each once a second, inside a chat's 1 a second."""
PROBE_EVERY = 0.25
"""Seconds between two /help (each waits for the answer to the one before)."""


@dataclass
class ExportsResult:
    """What one run measured."""

    users: int
    sessions_each: int
    help_ms: list[float] = field(repr=False)
    documents: int
    wrong_documents: int
    checkins: int
    bulk_done_s: float | None
    proactive_done_s: float | None
    first_document_s: float | None

    def help_p(self, q: float) -> float:
        """The /help latency percentile, ms."""
        return percentile(self.help_ms, q)


class _Received:
    """Checks and times what reaches the stand-in."""

    def __init__(self, users: set[int], sessions_each: int) -> None:
        self.users = users
        self.rows = sessions_each + 1  # the finished ones and the running one
        self.started = 0.0
        self.documents = 0
        self.wrong = 0
        self.checkins = 0
        self.last_document = 0.0
        self.first_document = 0.0
        self.last_checkin = 0.0
        self.help_answers = 0
        self.changed = asyncio.Event()
        self.complete = asyncio.Event()
        """Set once every document and every check-in has arrived."""

    def on_outgoing(self, change: str, msg: OutgoingMessage) -> None:
        if change != "send":
            return
        now = asyncio.get_running_loop().time()
        if msg.chat_id in PROBERS:
            self.help_answers += 1
            self.changed.set()
        elif msg.kind == "document":
            self.documents += 1
            self.first_document = self.first_document or now
            self.last_document = now
            if not self._own(msg):
                self.wrong += 1
        elif msg.buttons() and isinstance(decode(msg.buttons()[0][1]), CheckinButton):
            self.checkins += 1
            self.last_checkin = now
        if self.documents >= 2 * len(self.users) and self.checkins >= len(self.users):
            self.complete.set()

    def _own(self, msg: OutgoingMessage) -> bool:
        """Whether a document holds its chat's sessions and nobody else's."""
        data = (msg.file_bytes or b"").decode()
        if (msg.file_name or "").endswith(".json"):
            exported = json.loads(data)
            labels = [s["label"] or "" for s in exported["sessions"]]
            return exported["user"]["id"] == msg.chat_id and self._theirs(labels, msg.chat_id)
        rows = list(csv.DictReader(io.StringIO(data)))
        return self._theirs([r["label"] for r in rows], msg.chat_id)

    def _theirs(self, labels: list[str], chat_id: int) -> bool:
        return len(labels) == self.rows and all(x.endswith(f" of {chat_id}") for x in labels)


def _seed(database: Path, users: int, sessions_each: int) -> list[int]:
    """Each user: a running session due now (its check-in) and ``sessions_each`` finished."""
    now = datetime.now(UTC)
    ids = seed_running_sessions(database, [now] * users, first_user=FIRST_USER)
    finished = []
    for user in ids:
        for n in range(sessions_each):
            start = now - timedelta(days=n + 1)
            finished.append(
                (user, user, f"task {n} of {user}", to_ms(start), to_ms(start) + 1_500_000)
            )
    with writer(database) as db:
        db.execute("UPDATE sessions SET label = 'running of ' || user_id")
        db.executemany(
            "INSERT INTO sessions (user_id, chat_id, label, planned_minutes, block_minutes, "
            "break_minutes, started_at, ended_at, focused_ms, outcome) "
            "VALUES (?, ?, ?, 25, 25, 5, ?, ?, 1500000, 'completed')",
            finished,
        )
    return ids


async def _probe(
    api: LocalBotApi, received: _Received, ms: list[float], done: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()
    turn = 0
    while not done.is_set():
        answered = received.help_answers
        received.changed.clear()
        started = loop.time()
        api.user_message(user_id=PROBERS[turn % len(PROBERS)], text="/help")
        turn += 1
        while received.help_answers == answered:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(received.changed.wait(), 0.5)
            received.changed.clear()
        ms.append((loop.time() - started) * 1000)
        await asyncio.sleep(max(0.0, started + PROBE_EVERY - loop.time()))


async def run_exports(
    database: Path, users: int, sessions_each: int, within: float = 300
) -> ExportsResult:
    """Seed, start the bot, send every /export at once, probe /help until the files are out."""
    await create_database(database)
    ids = _seed(database, users, sessions_each)
    received = _Received(set(ids), sessions_each)
    clock = SystemClock()
    api = LocalBotApi(clock=clock.now, on_outgoing=received.on_outgoing)
    help_ms: list[float] = []
    async with BotApiStandin(api) as standin:
        app = build_application(
            bench_settings(database, telegram_base_url=standin.base_url),
            clock=clock,
            token=BENCH_TOKEN,
            rate_limiter=True,
        )
        await open_application(app)
        try:
            assert app.updater is not None  # noqa: S101 - built with the default Updater
            await app.updater.start_polling(poll_interval=0, timeout=10)
            loop = asyncio.get_running_loop()
            received.started = loop.time()
            for user in ids:
                api.user_message(user_id=user, text="/export")
            await app.start()  # the dispatcher's first run: every check-in is due
            done = asyncio.Event()
            probe = asyncio.create_task(_probe(api, received, help_ms, done))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(received.complete.wait(), within)
            done.set()
            await asyncio.wait_for(probe, 30)
        finally:
            api.interrupt_polls()
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await close_application(app)
    start = received.started
    return ExportsResult(
        users=users,
        sessions_each=sessions_each,
        help_ms=help_ms,
        documents=received.documents,
        wrong_documents=received.wrong,
        checkins=received.checkins,
        bulk_done_s=received.last_document - start if received.documents >= 2 * users else None,
        proactive_done_s=received.last_checkin - start if received.checkins >= users else None,
        first_document_s=received.first_document - start if received.documents else None,
    )
