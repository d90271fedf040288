"""The nudge policy: pure decisions about what a focus session should be sent, and when."""

from nudges.policy import (
    Decision,
    Delivery,
    DeliveryStatus,
    Drop,
    Finish,
    Idle,
    Limits,
    PauseExpired,
    Plan,
    Send,
    SessionState,
    Slot,
    SlotKind,
    Wait,
    decide,
    make_plan,
)

__all__ = [
    "Decision",
    "Delivery",
    "DeliveryStatus",
    "Drop",
    "Finish",
    "Idle",
    "Limits",
    "PauseExpired",
    "Plan",
    "Send",
    "SessionState",
    "Slot",
    "SlotKind",
    "Wait",
    "decide",
    "make_plan",
]
