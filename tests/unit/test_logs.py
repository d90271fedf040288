"""Logging: the token is redacted everywhere, libraries never log payloads."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.telegram.logs import configure_logging

TOKEN = "123456789:AAHsecretSecretSecret_abcdefghijk"  # noqa: S105 - a test token


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in ("bot", "storage", "nudges", "telegram.ext.Application", "aiosqlite"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_token_is_redacted_in_messages_and_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG", [TOKEN])
    log = logging.getLogger("bot.test")
    log.info("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    try:
        raise RuntimeError(f"failed at /bot{TOKEN}/sendMessage")
    except RuntimeError:
        log.exception("boom")
    log.warning("half: %s", TOKEN.split(":")[1])
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert TOKEN.split(":")[1] not in err
    assert err.count("[redacted]") == 3


def test_debug_is_ours_only(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG", [])
    logging.getLogger("bot.telegram.dispatcher").debug("our debug line")
    logging.getLogger("telegram.ext.Application").debug("Processing update: my private label")
    logging.getLogger("aiosqlite").debug("executing INSERT ... my private label")
    err = capsys.readouterr().err
    assert "our debug line" in err
    assert "my private label" not in err
