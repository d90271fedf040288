"""End to end: the real bot process, over HTTP on 127.0.0.1, against the Bot API stand-in.

``FOCUS_TIME_SCALE=120`` makes a minute last half a second: a 45-minute session (plus its
5-minute break) takes 25 seconds. Times below are in *virtual* minutes since the start.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.offline.local_api import LocalApiError, OutgoingMessage
from tests.support.faults import FaultyBotApi
from tests.support.standin import BotApiStandin

ENERGY = ["🔋 fresh", "🙂 ok", "🪫 tired"]  # the start card's optional start energy

pytestmark = pytest.mark.e2e

SCALE = 120
TOKEN = "4839574812:AAFakeTokenForTheEndToEndTests_xyz"  # noqa: S105 - a test token
USER = 5150
LABEL = "write the secret report"
ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    """``python -m bot`` in a subprocess, pointed at the stand-in."""

    def __init__(self, base_url: str, db: Path, log: Path) -> None:
        self.env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": base_url,
            "FOCUS_DATABASE": str(db),
            "FOCUS_TIME_SCALE": str(SCALE),
            "LOG_LEVEL": "DEBUG",
        }
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=ROOT,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no chance to clean up
        await self.proc.wait()

    async def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 20)


@pytest.fixture
async def standin() -> AsyncIterator[tuple[FaultyBotApi, BotApiStandin]]:
    api = FaultyBotApi()
    async with BotApiStandin(api) as server:
        yield api, server


def minute(api_start: datetime, message: OutgoingMessage) -> float:
    """Virtual minutes between the session's start and a message."""
    return (message.sent_at - api_start).total_seconds() * SCALE / 60


def proactive(api: FaultyBotApi) -> list[OutgoingMessage]:
    return [m for m in api.messages_to(USER) if (m.shown_text or "").startswith(("👀", "☕", "🔔"))]


def summaries(api: FaultyBotApi) -> list[OutgoingMessage]:
    return [m for m in api.messages_to(USER) if "How focused were you?" in (m.shown_text or "")]


async def until(api: FaultyBotApi, predicate: Callable[[], bool], seconds: float) -> None:
    """Wait (polling every 20 ms) until ``predicate()`` holds; fail after ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {seconds} s")
        await asyncio.sleep(0.02)


async def start_session(api: FaultyBotApi, text: str) -> OutgoingMessage:
    await until(api, lambda: api.calls["getUpdates"] > 0, 30)  # the bot is polling
    api.user_message(user_id=USER, text=text)
    await until(api, lambda: any("Focus:" in (m.shown_text or "") for m in api.sent), 10)
    return next(m for m in api.sent if "Focus:" in (m.shown_text or ""))


def assert_guardrails(api: FaultyBotApi, start: datetime) -> None:
    """At most 8 proactive messages, 5 virtual minutes apart, none after the summary."""
    sent = proactive(api)
    assert len(sent) <= 8
    at = [minute(start, m) for m in sent]
    # Claims are 5 minutes apart by construction; allow 0.25 s of real send jitter.
    assert all(b - a >= 5 - 0.25 * SCALE / 60 for a, b in itertools.pairwise(at)), at
    [summary] = summaries(api)
    assert all(m.sent_at <= summary.sent_at for m in sent)


async def test_focus_45_checkins_break_summary_and_scores(
    standin: tuple[FaultyBotApi, BotApiStandin], tmp_path: Path
) -> None:
    api, server = standin
    bot = BotProcess(server.base_url, tmp_path / "focus.db", tmp_path / "bot.log")
    await bot.start()
    try:
        card = await start_session(api, f"/focus 45 {LABEL}")
        start = card.sent_at
        assert [b for b, _ in card.buttons()] == ["⏸ Pause", "⏹ End", *ENERGY]
        await until(api, lambda: len(summaries(api)) == 1, 45)
        kinds = [(round(minute(start, m)), (m.shown_text or "")[:1]) for m in proactive(api)]
        assert kinds == [(12, "👀"), (25, "☕"), (30, "🔔"), (40, "👀")]
        [summary] = summaries(api)
        assert 49 <= minute(start, summary) <= 52
        assert "Session complete" in (summary.shown_text or "")
        assert "Focused 45 min of 45 planned" in (summary.shown_text or "")

        # Score with the button, then change it with a plain reply.
        api.user_press(user_id=USER, message_id=summary.message_id, data=summary.buttons()[3][1])
        await until(api, lambda: len(api.callback_answers) == 1, 10)
        assert api.callback_answers[0].text == f"Saved: focus 4/5 for “{LABEL}”. Thanks!"
        api.user_message(user_id=USER, text="5")
        await until(api, lambda: "Updated your focus score" in (api.sent[-1].shown_text or ""), 10)

        assert await bot.terminate() == 0  # SIGTERM: a graceful stop
    finally:
        if bot.proc and bot.proc.returncode is None:
            await bot.kill()
    assert_guardrails(api, start)
    with sqlite3.connect(tmp_path / "focus.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT score, outcome FROM sessions").fetchall() == [(5, "completed")]
    log = (tmp_path / "bot.log").read_text()
    assert "Application started" in log
    assert TOKEN not in log and TOKEN.split(":")[1] not in log  # not even at DEBUG
    assert LABEL not in log


async def test_sigkill_mid_session_continues_without_burst_or_duplicate(
    standin: tuple[FaultyBotApi, BotApiStandin], tmp_path: Path
) -> None:
    api, server = standin
    db = tmp_path / "focus.db"
    bot = BotProcess(server.base_url, db, tmp_path / "bot.log")
    await bot.start()
    try:
        card = await start_session(api, "/focus 45 restart me")
        start = card.sent_at
        await until(api, lambda: len(proactive(api)) == 1, 20)  # the check-in at 12
        await bot.kill()
        # Down until virtual minute 28: the break (due at 25) passes its 2-minute window.
        restart_at = start + timedelta(seconds=28 * 60 / SCALE)
        await asyncio.sleep(max(0.0, (restart_at - datetime.now(UTC)).total_seconds()))
        await bot.start()
        await until(api, lambda: len(summaries(api)) == 1, 45)
        await asyncio.sleep(1.5)  # room for any (wrong) second summary or straggler
        assert await bot.terminate() == 0
    finally:
        if bot.proc and bot.proc.returncode is None:
            await bot.kill()
    at = [(round(minute(start, m)), (m.shown_text or "")[:1]) for m in proactive(api)]
    # Before the kill: the check-in at 12. The break due at 25 is dropped, not sent late, and
    # the plan closes it up: block 2 runs 25-45 with its check-in at 35.
    assert at == [(12, "👀"), (35, "👀")]
    assert_guardrails(api, start)
    [summary] = summaries(api)
    assert 44 <= minute(start, summary) <= 47
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = conn.execute("SELECT slot, status FROM deliveries ORDER BY due_at").fetchall()
        # The kill lands right after the check-in reached "Telegram", usually before the bot
        # recorded it as sent: the claim then stays 'sending', which counts as sent.
        assert rows[0] in {("checkin:1.1", "sent"), ("checkin:1.1", "sending")}
        assert rows[1:] == [
            ("break:1", "dropped"),
            ("checkin:2.1", "sent"),
            ("summary", "sent"),
        ]
        events = [r[0] for r in conn.execute("SELECT kind FROM events ORDER BY id")]
        assert events.count("started") == 1 and events.count("ended") == 1


async def test_a_rejected_token_is_explained_and_never_printed(
    standin: tuple[FaultyBotApi, BotApiStandin], tmp_path: Path
) -> None:
    api, server = standin
    api.fail_next("getMe", LocalApiError(401, "Unauthorized"), times=5)
    bot = BotProcess(server.base_url, tmp_path / "focus.db", tmp_path / "bot.log")
    await bot.start()
    assert bot.proc is not None
    assert await asyncio.wait_for(bot.proc.wait(), 30) == 1
    output = (tmp_path / "bot.log").read_text()
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in output
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert "Traceback" not in output


SECRET = "s3cret-Token_1"  # noqa: S105 - a test secret


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def listening(port: int, seconds: float) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``; fail after ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                raise TimeoutError(f"nothing listening on {port} within {seconds} s") from None
            await asyncio.sleep(0.02)
        else:
            writer.close()
            await writer.wait_closed()
            return


async def test_webhook_mode_handles_posted_updates_and_refuses_a_wrong_secret(
    standin: tuple[FaultyBotApi, BotApiStandin], tmp_path: Path
) -> None:
    api, server = standin
    port = free_port()
    bot = BotProcess(server.base_url, tmp_path / "focus.db", tmp_path / "bot.log")
    # As deployed behind a TLS-terminating proxy: Telegram is told the public https URL (the
    # stand-in, like Telegram, refuses anything else); the bot listens on plain http locally.
    # Nothing ever connects to the public name.
    bot.env.update(
        FOCUS_WEBHOOK_URL="https://focus.example.test/focus-hook",
        FOCUS_WEBHOOK_LISTEN="127.0.0.1",
        FOCUS_WEBHOOK_PORT=str(port),
        FOCUS_WEBHOOK_SECRET=SECRET,
    )
    await bot.start()
    try:
        await until(api, lambda: api.webhook is not None, 30)  # setWebhook was called
        assert api.webhook is not None
        assert api.webhook["url"] == "https://focus.example.test/focus-hook"
        assert api.webhook.get("secret_token") == SECRET
        # PTB calls setWebhook before its server listens (as Telegram would only post later).
        await listening(port, 30)
        update = api.user_message(user_id=USER, text="/focus 25 over a webhook")
        url = f"http://127.0.0.1:{port}/focus-hook"
        async with aiohttp.ClientSession() as http:
            wrong = {"X-Telegram-Bot-Api-Secret-Token": "guess"}
            async with http.post(url, json=update, headers=wrong) as response:
                assert response.status == 403
            await asyncio.sleep(0.5)
            assert not any("Focus:" in (m.shown_text or "") for m in api.sent)
            right = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with http.post(url, json=update, headers=right) as response:
                assert response.status == 200
        await until(api, lambda: any("Focus: 25 min" in (m.shown_text or "") for m in api.sent), 10)
        assert await bot.terminate() == 0
    finally:
        if bot.proc and bot.proc.returncode is None:
            await bot.kill()
    assert SECRET not in (tmp_path / "bot.log").read_text()


CHAOS_SCALE = 300  # a minute lasts 0.2 s: a 45-minute session (+ break) takes 10 s


async def test_chaos_sigkill_at_random_moments_keeps_every_guardrail(
    standin: tuple[FaultyBotApi, BotApiStandin], tmp_path: Path
) -> None:
    """12 people focusing; the bot is SIGKILLed 4 times at random moments (seeded) and
    restarted after a random pause. Afterwards: no chat got more than 8 proactive messages
    or two less than 5 minutes apart, none after its summary, no summary twice, every
    session ended with its summary recorded, no event lost, the file sound."""
    rng = random.Random(20261123)
    api, server = standin
    db = tmp_path / "focus.db"
    bot = BotProcess(server.base_url, db, tmp_path / "bot.log")
    bot.env["FOCUS_TIME_SCALE"] = str(CHAOS_SCALE)
    users = list(range(7001, 7013))
    await bot.start()
    kills = 0
    try:
        await until(api, lambda: api.calls["getUpdates"] > 0, 30)
        for n, user in enumerate(users):
            api.user_message(user_id=user, text=f"/focus {(25, 45, 60)[n % 3]} task {n}")
        await until(api, lambda: sum("Focus:" in (m.shown_text or "") for m in api.sent) >= 12, 20)
        for _ in range(4):
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            await bot.kill()
            kills += 1
            await asyncio.sleep(rng.uniform(0.1, 1.5))
            await bot.start()

        # Everything ends within 70 virtual minutes of the last start (60 + 10 of breaks).
        def all_ended() -> bool:
            with sqlite3.connect(db) as conn:
                return conn.execute(
                    "SELECT count(*) FROM sessions WHERE ended_at IS NULL"
                ).fetchone() == (0,)

        await until(api, all_ended, 40)
        await asyncio.sleep(1)  # room for a (wrong) straggler
        assert await bot.terminate() == 0
    finally:
        if bot.proc and bot.proc.returncode is None:
            await bot.kill()
    assert kills == 4
    gap = timedelta(minutes=5) / CHAOS_SCALE - timedelta(milliseconds=100)  # send jitter
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = conn.execute(
            "SELECT s.id, s.user_id, d.status FROM sessions s "
            "JOIN deliveries d ON d.session_id = s.id AND d.slot = 'summary'"
        ).fetchall()
        assert len(rows) == len(users)  # every session ended and has exactly one summary row
        for session_id, user, status in rows:
            chat = api.messages_to(user)
            nudges = [m for m in chat if (m.shown_text or "").startswith(("👀", "☕", "🔔"))]
            summaries = [m for m in chat if "How focused" in (m.shown_text or "")]
            assert len(nudges) <= 8
            assert all(b.sent_at - a.sent_at >= gap for a, b in itertools.pairwise(nudges))
            # At most once: 'sending' is a claim the kill interrupted (delivered or not).
            assert len(summaries) == (1 if status == "sent" else len(summaries)) <= 1
            assert status in ("sent", "sending")
            if summaries:
                assert all(m.sent_at <= summaries[0].sent_at for m in nudges)
            sent_slots = {
                slot
                for (slot,) in conn.execute(
                    "SELECT slot FROM deliveries WHERE session_id = ? AND status = 'sent'",
                    (session_id,),
                )
            }
            logged = {
                detail
                for (detail,) in conn.execute(
                    "SELECT detail FROM events WHERE session_id = ? "
                    "AND kind IN ('nudge', 'break', 'back', 'summary')",
                    (session_id,),
                )
            }
            assert sent_slots == logged  # every confirmed message has its event
            kinds = [
                k
                for (k,) in conn.execute(
                    "SELECT kind FROM events WHERE session_id = ? ORDER BY id", (session_id,)
                )
            ]
            assert kinds.count("started") == 1 and kinds.count("ended") == 1


FAULT_SCALE = 60  # 5 virtual minutes last 5 s: a 6 s stall outlasts the 5 s read timeout


async def test_faults_over_http_500_429_timeout_and_403(
    standin: tuple[FaultyBotApi, BotApiStandin], tmp_path: Path
) -> None:
    """The real process against a stand-in that misbehaves on demand, one fault per message:
    a 500 on the first check-in (it may have arrived: never resent), a 429 retry_after=1 on
    the break (waited out, then delivered once), a stalled answer on the back-to-work message
    (a read timeout: never resent), and a 403 on the second check-in (the user blocked the
    bot: the session ends quietly, no summary)."""
    api, server = standin
    bot = BotProcess(server.base_url, tmp_path / "focus.db", tmp_path / "bot.log")
    bot.env["FOCUS_TIME_SCALE"] = str(FAULT_SCALE)
    await bot.start()
    try:
        card = await start_session(api, "/focus 45 faults")
        start = card.sent_at
        at = {
            name: start + timedelta(seconds=m * 60 / FAULT_SCALE)
            for name, m in (("checkin", 12), ("break", 25), ("back", 30), ("checkin2", 40))
        }

        async def arm_fault_before(moment: datetime, arm: Callable[[], None]) -> None:
            await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds() - 1.0))
            arm()

        await arm_fault_before(
            at["checkin"], lambda: api.fail_next("sendMessage", LocalApiError(500, "Internal"))
        )
        await arm_fault_before(
            at["break"], lambda: api.fail_next("sendMessage", LocalApiError.too_many_requests(1))
        )
        await arm_fault_before(at["back"], lambda: api.stall_next("sendMessage", 6.0))
        await arm_fault_before(
            at["checkin2"], lambda: api.fail_next("sendMessage", LocalApiError.blocked_by_user())
        )
        await asyncio.sleep(max(0.0, (at["checkin2"] - datetime.now(UTC)).total_seconds() + 3))
        assert await bot.terminate() == 0
    finally:
        if bot.proc and bot.proc.returncode is None:
            await bot.kill()
    texts = [m.shown_text or "" for m in api.messages_to(USER)]
    assert sum(t.startswith("☕") for t in texts) == 1  # the 429: waited out, sent once
    assert sum(t.startswith("🔔") for t in texts) == 1  # stalled but delivered; not resent
    assert not any(t.startswith("👀") for t in texts)  # 500 (maybe arrived) and 403
    assert not any("How focused" in t for t in texts)  # blocked: no summary
    with sqlite3.connect(tmp_path / "focus.db") as conn:
        rows = dict(conn.execute("SELECT slot, status FROM deliveries").fetchall())
        outcome = conn.execute("SELECT outcome FROM sessions").fetchone()
    assert rows == {
        "checkin:1.1": "sending",  # 500: outcome unknown, counted, never resent
        "break:1": "sent",
        "back:1": "sending",  # read timeout: unknown, counted, never resent
        "checkin:2.1": "dropped",  # 403
        "summary": "dropped",  # the chat is gone
    }
    assert outcome == ("ended_early",)


async def test_a_reminder_arrives_and_its_button_starts_a_session(
    standin: tuple[FaultyBotApi, BotApiStandin], tmp_path: Path
) -> None:
    """/remind at the next whole minute (UTC: no zone set) — a reminder is a time of day, so
    this one waits in real time, up to 75 s; the session its button starts runs scaled."""
    api, server = standin
    db = tmp_path / "focus.db"
    bot = BotProcess(server.base_url, db, tmp_path / "bot.log")
    await bot.start()
    try:
        await until(api, lambda: api.calls["getUpdates"] > 0, 30)
        at = (datetime.now(UTC) + timedelta(seconds=15)).replace(second=0, microsecond=0)
        at += timedelta(minutes=1)
        api.user_message(user_id=USER, text=f"/remind {at:%H:%M}")
        await until(api, lambda: any("remind you at" in (m.shown_text or "") for m in api.sent), 10)

        def reminder() -> OutgoingMessage | None:
            return next((m for m in api.sent if (m.shown_text or "").startswith("⏰ Time")), None)

        await until(api, lambda: reminder() is not None, 80)
        sent = reminder()
        assert sent is not None and sent.sent_at >= at
        assert [b for b, _ in sent.buttons()] == ["▶ Start 25 min", "Not today"]
        api.user_press(user_id=USER, message_id=sent.message_id, data=sent.buttons()[0][1])
        await until(api, lambda: any("Focus: 25 min" in (m.shown_text or "") for m in api.sent), 10)
        await until(api, lambda: len(summaries(api)) == 1, 30)  # 25 virtual minutes: 12.5 s
        assert await bot.terminate() == 0
    finally:
        if bot.proc and bot.proc.returncode is None:
            await bot.kill()
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT kind, status, answered_at IS NOT NULL FROM reminders"
        ).fetchall()
        assert rows == [("remind", "sent", 1)]
        assert conn.execute("SELECT planned_minutes, outcome FROM sessions").fetchall() == [
            (25, "completed")
        ]
