"""Storage: the only place with SQL. Protocols per aggregate (``storage.ports``), frozen
models (``storage.models``), and the SQLite backend (``storage.sqlite``) behind one facade."""

from storage.errors import StorageBusy, StorageError, StorageFull, StorageUnavailable
from storage.models import (
    SUMMARY_SLOT,
    ActiveSessionExists,
    CompanionTotals,
    Correction,
    DayTotals,
    DeliveryRecord,
    Event,
    HistoryQuery,
    HourTotals,
    LabelledTotals,
    Outcome,
    Reschedule,
    Session,
    SessionFact,
    StatsTotals,
    User,
)
from storage.ports import (
    CompanionStore,
    DeliveryStore,
    RecordStore,
    ReportStore,
    SessionStore,
    Storage,
    UserStore,
)
from storage.sqlite import SqliteStorage, open_storage

__all__ = [
    "SUMMARY_SLOT",
    "ActiveSessionExists",
    "CompanionStore",
    "CompanionTotals",
    "Correction",
    "DayTotals",
    "DeliveryRecord",
    "DeliveryStore",
    "Event",
    "HistoryQuery",
    "HourTotals",
    "LabelledTotals",
    "Outcome",
    "RecordStore",
    "ReportStore",
    "Reschedule",
    "Session",
    "SessionFact",
    "SessionStore",
    "SqliteStorage",
    "StatsTotals",
    "Storage",
    "StorageBusy",
    "StorageError",
    "StorageFull",
    "StorageUnavailable",
    "User",
    "UserStore",
    "open_storage",
]
