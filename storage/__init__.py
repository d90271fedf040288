"""Storage: the only place with SQL. aiosqlite, numbered migrations, frozen models."""

from storage.db import connect
from storage.models import (
    ActiveSessionExists,
    DeliveryRecord,
    Event,
    Outcome,
    Session,
    SessionFact,
    User,
)
from storage.repository import SUMMARY_SLOT, Repository

__all__ = [
    "SUMMARY_SLOT",
    "ActiveSessionExists",
    "DeliveryRecord",
    "Event",
    "Outcome",
    "Repository",
    "Session",
    "SessionFact",
    "User",
    "connect",
]
