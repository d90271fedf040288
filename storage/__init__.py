"""Storage: the only place with SQL. Protocols per aggregate (``storage.ports``), frozen
models (``storage.models``), and the SQLite backend (``storage.sqlite``) behind one facade."""

from storage.models import (
    SUMMARY_SLOT,
    ActiveSessionExists,
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
    "User",
    "UserStore",
    "open_storage",
]
