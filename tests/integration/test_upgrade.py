"""A database written by the first schema opens, upgrades in place, and keeps its data.

``fixtures/schema_v1.db`` was made by migration 001 alone (see the test's docstring for its
contents) and is committed as a file, so later migrations are always tested against it.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import Outcome, open_storage
from storage.sqlite.db import migrations, schema_version

FIXTURE = Path(__file__).parent / "fixtures" / "schema_v1.db"
T0 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


async def test_version_1_file_upgrades_with_data_intact(tmp_path: Path) -> None:
    """User 42 (Europe/Berlin); session 1 completed, scored 4, with a sent check-in and
    summary; session 2 running, due at +78:40."""
    path = tmp_path / "old.db"
    shutil.copy(FIXTURE, path)
    store = await open_storage(path)
    try:
        assert await schema_version(store.connection) == len(migrations()) > 1
        user = await store.users.get_user(42)
        assert user is not None
        assert (user.timezone, user.default_minutes, user.quiet) == ("Europe/Berlin", None, False)
        old = await store.sessions.get_session(1)
        assert old is not None
        assert (old.label, old.planned_minutes, old.outcome, old.score) == (
            "old report",
            45,
            Outcome.COMPLETED,
            4,
        )
        assert old.focused == timedelta(minutes=45)
        running = await store.sessions.get_session(2)
        assert running is not None and running.running
        assert running.next_due_at == T0 + timedelta(milliseconds=4_720_000)
        assert [e.kind for e in await store.reports.events(1)] == [
            "started",
            "nudge",
            "ended",
            "summary",
            "score",
        ]
        statuses = {d.slot: d.status for d in await store.deliveries.deliveries(1)}
        assert statuses == {"checkin:1.1": "sent", "summary": "sent"}
        assert await store.integrity_check() == "ok"
        # And the upgraded file is fully usable: new settings columns take values.
        updated = await store.users.update_user(42, T0, quiet=True, block_minutes=30)
        assert (updated.quiet, updated.block_minutes) == (True, 30)
    finally:
        await store.close()
    assert FIXTURE.read_bytes() != path.read_bytes()  # the copy changed, the fixture did not
