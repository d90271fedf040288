"""``kill -USR1``: the running bot logs one line of counts (``bot.telegram.diagnostics``)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import signal
import sys

import pytest

from bot.telegram import diagnostics

LINE = re.compile(
    r"^diagnostics: (\d+) asyncio tasks, (\d+) open files, (\d+) threads, (\d+) Python blocks$"
)


async def test_sigusr1_logs_the_tasks_files_and_threads_and_nothing_else(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.telegram.diagnostics")
    idle = int(LINE.fullmatch(diagnostics.figures_line()).group(1))  # type: ignore[union-attr]
    sleepers = [asyncio.create_task(asyncio.sleep(60)) for _ in range(3)]
    diagnostics.install()
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        for _ in range(100):  # the handler runs on the loop, soon after the signal
            if caplog.records:
                break
            await asyncio.sleep(0.01)
    finally:
        diagnostics.uninstall()
        for task in sleepers:
            task.cancel()
    [record] = caplog.records
    match = LINE.fullmatch(record.getMessage())
    assert match is not None, record.getMessage()
    tasks, files, threads, _ = (int(n) for n in match.groups())
    assert tasks == idle + 3  # the three sleepers are counted
    assert abs(files - len(os.listdir("/proc/self/fd"))) <= 2  # listdir's own descriptor
    assert threads >= 1
    assert record.levelno == logging.INFO
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL  # given back


def test_outside_a_running_loop_install_does_nothing() -> None:
    diagnostics.install()  # no running loop: no handler, no error
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


async def test_the_line_counts_the_python_blocks_held() -> None:
    def blocks() -> int:
        return int(LINE.fullmatch(diagnostics.figures_line()).group(4))  # type: ignore[union-attr]

    before = blocks()
    held = [object() for _ in range(50_000)]  # 50,000 more blocks held
    during = blocks()
    del held
    assert during - before >= 50_000
    assert abs(blocks() - sys.getallocatedblocks()) < 1_000  # the allocator's own figure


async def test_garbage_not_yet_collected_is_not_counted() -> None:
    def blocks() -> int:
        return int(LINE.fullmatch(diagnostics.figures_line()).group(4))  # type: ignore[union-attr]

    before = blocks()
    gc.disable()  # the cycles below stay until something collects them
    try:
        for _ in range(20_000):
            cycle: list[object] = []
            cycle.append(cycle)
        del cycle
        assert blocks() - before < 5_000
    finally:
        gc.enable()
