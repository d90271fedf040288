"""Storage: the only place with SQL. Protocols per aggregate (``storage.ports``), frozen
models (``storage.models``), and the SQLite backend (``storage.sqlite``) behind one facade."""

from storage.models import (
    SUMMARY_SLOT,
    ActiveSessionExists,
    DayTotals,
    DeliveryRecord,
    Event,
    HourTotals,
    LabelledTotals,
    Outcome,
    ReminderKind,
    ReminderRecord,
    Reschedule,
    Routine,
    Session,
    SessionFact,
    StatsTotals,
    User,
)
from storage.ports import (
    DeliveryStore,
    ReminderStore,
    ReportStore,
    SessionStore,
    Storage,
    UserStore,
)
from storage.sqlite import SqliteStorage, open_storage

__all__ = [
    "SUMMARY_SLOT",
    "ActiveSessionExists",
    "DayTotals",
    "DeliveryRecord",
    "DeliveryStore",
    "Event",
    "HourTotals",
    "LabelledTotals",
    "Outcome",
    "ReminderKind",
    "ReminderRecord",
    "ReminderStore",
    "ReportStore",
    "Reschedule",
    "Routine",
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
