"""How send failures are read: delivered for sure, refused for sure, or unknown."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.offline.local_api import LocalApiError
from bot.telegram.dispatcher import chat_gone, surely_not_sent
from tests.support.harness import USER, BotHarness


def caused_by(error: TelegramError, cause: BaseException) -> TelegramError:
    """As PTB raises it: ``raise NetworkError(...) from httpx_error``."""
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "not_sent", "gone"),
    [
        (BadRequest("Message text is empty"), True, False),
        (BadRequest("Chat not found"), True, True),
        (Forbidden("Forbidden: bot was blocked by the user"), True, True),
        (ChatMigrated(-1001), True, False),
        (caused_by(NetworkError("httpx.ConnectError"), httpx.ConnectError("refused")), True, False),
        (caused_by(TimedOut(), httpx.ConnectTimeout("connect")), True, False),
        (caused_by(TimedOut("Pool timeout"), httpx.PoolTimeout("pool")), True, False),
        # It may have reached Telegram before failing: never resend.
        (caused_by(TimedOut(), httpx.ReadTimeout("read")), False, False),
        (caused_by(NetworkError("httpx.ReadError"), httpx.ReadError("reset")), False, False),
        (
            caused_by(NetworkError("httpx.RemoteProtocolError"), httpx.RemoteProtocolError("x")),
            False,
            False,
        ),
        (NetworkError("Bad Gateway"), False, False),
    ],
)
def test_failures_are_classified(error: TelegramError, not_sent: bool, gone: bool) -> None:
    assert surely_not_sent(error) is not_sent
    assert chat_gone(error) is gone


def test_flood_control_is_not_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    assert surely_not_sent(RetryAfter(3))


async def test_retry_after_is_waited_out_never_retried_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the rate limiter on (as in production), a 429 retry_after=1 is honoured. A
    proactive message is not retried inside the limiter (its claim would wait out the flood
    there): it is withdrawn and tried again by the dispatcher, after the wait (issue 14)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    async with BotHarness(tmp_path / "f.db", rate_limiter=True) as bot:
        await bot.send("/focus 5")
        for _ in range(4):
            await bot.tick(minutes=1)
        bot.api.fail_next("sendMessage", LocalApiError.too_many_requests(1))
        started = time.monotonic()
        await bot.tick(minutes=1)  # the summary: 429, back to pending
        assert not [m for m in bot.api.messages_to(USER) if "How focused" in (m.shown_text or "")]
        await bot.tick(seconds=31)  # its retry: admitted only once the chat's wait is over
        waited = time.monotonic() - started
        summaries = [m for m in bot.api.messages_to(USER) if "How focused" in (m.shown_text or "")]
        assert len(summaries) == 1
        assert waited >= 1.0  # not a moment before Telegram allowed
        assert bot.api.calls["sendMessage"] == 3  # card, the refused try, the retry
