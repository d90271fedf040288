"""Files in the background: /export and /stats charts hold no update slot, one job per person,
and the rate limiter's lanes as the real bot uses them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.offline.local_api import LocalBotApi
from bot.telegram import texts
from bot.telegram.bulk import BulkJobs
from bot.telegram.ordering import RUNNING
from bot.telegram.ratelimit import FocusRateLimiter, Lane
from tests.support.fakes import FakeClock
from tests.support.harness import USER, BotHarness


class GatedApi(LocalBotApi):
    """The in-process Bot API, holding every sendDocument until the test opens the gate."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.documents = asyncio.Event()

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        if method.lower() == "senddocument":
            await self.documents.wait()
        return await super().call(method, params)


async def test_exports_waiting_for_their_files_hold_no_update_slot(tmp_path: Path) -> None:
    """More people than update slots export at once and their documents are held up: a
    /help from someone else is still answered, a second /export is told to wait, and every
    file arrives, each to its owner, once the documents go through."""
    clock = FakeClock()
    api = GatedApi(clock=clock.now)
    async with BotHarness(tmp_path / "focus.db", clock, api) as bot:
        await bot.app.start()
        try:
            exporters = list(range(7001, 7001 + 2 * RUNNING))
            for user in exporters:
                await bot.service.start(user, user, 25, f"task of {user}", owner_name="Ada")
            for user in exporters:
                payload = api.user_message(user_id=user, text="/export")
                await bot.app.update_queue.put(Update.de_json(payload, bot.app.bot))
            await asyncio.wait_for(bot.app.update_queue.join(), 5)  # the handlers are done
            for text in ("/help", "/export"):
                for user in (USER, exporters[0]):
                    payload = api.user_message(user_id=user, text=text)
                    await bot.app.update_queue.put(Update.de_json(payload, bot.app.bot))
            await asyncio.wait_for(bot.app.update_queue.join(), 5)
            assert bot.texts(USER)[0].startswith("Commands\n/focus")
            assert bot.texts(exporters[0])[-1] == texts.FILES_BUSY  # the second /export
            assert not [m for m in api.sent if m.kind == "document"]
        finally:
            api.documents.set()
        await asyncio.wait_for(bot.app.bot_data.bulk.idle(), 5)
        await bot.app.stop()
    for user in exporters:
        documents = [m for m in api.messages_to(user) if m.kind == "document"]
        assert [d.file_name and d.file_name.rsplit(".", 1)[1] for d in documents] == ["csv", "json"]
        assert f"task of {user}" in (documents[0].file_bytes or b"").decode()
        exported = json.loads(documents[1].file_bytes or b"")
        assert exported["user"]["id"] == user
        assert [s["label"] for s in exported["sessions"]] == [f"task of {user}"]
    assert [m for m in api.messages_to(USER) if m.kind == "document"] == []


async def test_the_real_bot_sends_in_the_right_lanes(tmp_path: Path) -> None:
    """A check-in is proactive, /export's files are bulk, the summary after /stop answers it."""
    async with BotHarness(tmp_path / "focus.db", rate_limiter=True) as bot:
        limiter = bot.app.bot.rate_limiter
        assert isinstance(limiter, FocusRateLimiter)
        granted = limiter.overall.granted
        await bot.send("/focus 25 report")  # the card
        assert granted == {Lane.ANSWER: 1, Lane.PROACTIVE: 0, Lane.BULK: 0}
        report = await bot.tick(minutes=12)  # the check-in at minute 12
        assert report.sent == 1
        assert granted == {Lane.ANSWER: 1, Lane.PROACTIVE: 1, Lane.BULK: 0}
        await bot.send("/export", user_id=USER + 1)  # nothing stored for them: a text answer
        await bot.service.start(USER + 2, USER + 2, 25, None, owner_name="Bo")
        await bot.send("/export", user_id=USER + 2)
        assert granted == {Lane.ANSWER: 2, Lane.PROACTIVE: 1, Lane.BULK: 2}
        await bot.send("/stop")  # summary and the card's last edit: the answer to /stop
        assert granted == {Lane.ANSWER: 4, Lane.PROACTIVE: 1, Lane.BULK: 2}


# --- BulkJobs on its own ---------------------------------------------------------------------


async def _never_fails(error: Exception) -> None:
    raise AssertionError(f"unexpected {error!r}")


async def test_one_job_per_person_and_at_most_running_at_once() -> None:
    jobs, gate, started = BulkJobs(running=2), asyncio.Event(), []

    def job(name: str) -> Any:
        async def run() -> None:
            started.append(name)
            await gate.wait()

        return run

    assert jobs.submit(1, job("a"), _never_fails)
    assert not jobs.submit(1, job("a again"), _never_fails)  # still on its way
    assert jobs.submit(2, job("b"), _never_fails)
    assert jobs.submit(3, job("c"), _never_fails)
    await asyncio.sleep(0.01)
    assert started == ["a", "b"] and jobs.busy(3)
    gate.set()
    await asyncio.wait_for(jobs.idle(), 5)
    assert started == ["a", "b", "c"]
    assert not jobs.busy(1)
    assert jobs.submit(1, job("a later"), _never_fails)  # done: the person may ask again
    await asyncio.wait_for(jobs.idle(), 5)


async def test_a_failing_job_goes_to_the_error_handler() -> None:
    jobs, errors = BulkJobs(), []

    async def broken() -> None:
        raise RuntimeError("disk full")

    async def on_error(error: Exception) -> None:
        errors.append(error)

    jobs.submit(1, broken, on_error)
    await asyncio.wait_for(jobs.idle(), 5)
    assert [str(e) for e in errors] == ["disk full"]


async def test_stop_drops_waiting_jobs_and_cancels_running_ones_after_the_grace() -> None:
    jobs, started, finished = BulkJobs(running=1, grace=0.05), [], []

    async def forever() -> None:
        started.append("stuck")
        await asyncio.Event().wait()

    async def quick() -> None:
        started.append("quick")
        finished.append("quick")

    jobs.submit(1, forever, _never_fails)
    jobs.submit(2, quick, _never_fails)  # waits behind the stuck one
    await asyncio.sleep(0.01)
    await asyncio.wait_for(jobs.stop(), 1)
    assert started == ["stuck"] and finished == []
    assert jobs.dropped == 1
    assert jobs.submit(3, quick, _never_fails)  # accepted, and dropped: the bot is stopping
    await asyncio.sleep(0.01)
    assert started == ["stuck"] and jobs.dropped == 2
    assert not jobs.busy(1) and not jobs.busy(2)


def test_running_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BulkJobs(running=0)
