"""What storage says when the file, the disk or another program is in the way.

Each is backend-neutral (a PostgreSQL backend raises the same ones), and each message is one
line an operator can act on: the start-up ones are printed as they are, with no traceback.
"""

from __future__ import annotations

__all__ = ["StorageBusy", "StorageError", "StorageFull", "StorageUnavailable"]


class StorageError(Exception):
    """A write or an opening that storage could not do, for a reason outside the code."""


class StorageUnavailable(StorageError):
    """The database can't be used at all (at start): its message says what and what to do."""


class StorageFull(StorageError):
    """A write failed because the disk is full: nothing of it was kept (rolled back)."""


class StorageBusy(StorageError):
    """Another program held the database's write lock for longer than a write may wait:
    nothing of the write was kept."""
