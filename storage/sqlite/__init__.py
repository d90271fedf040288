"""The SQLite backend: one file, WAL, short operations inline on the event loop."""

from storage.sqlite.store import SqliteStorage, open_storage

__all__ = ["SqliteStorage", "open_storage"]
