"""What the in-process Bot API keeps of the bot's side: messages sent, uploads, callback
answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.offline.html import parse_html

__all__ = ["CallbackAnswer", "OutgoingMessage", "UploadedFile"]


@dataclass(frozen=True)
class UploadedFile:
    """A file the bot uploaded with multipart/form-data (as PTB's InputFile sends it)."""

    file_name: str
    data: bytes
    mime_type: str


@dataclass
class OutgoingMessage:
    """One message the bot sent, in its current state (edits update it in place)."""

    chat_id: int
    message_id: int
    text: str | None
    reply_markup: dict[str, Any] | None
    kind: str
    sent_at: datetime
    parse_mode: str | None = None
    edits: int = 0
    file_name: str | None = None
    file_bytes: bytes | None = None
    mime_type: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    reply_to: int | None = None
    """The message of the chat it was sent as a reply to (``reply_parameters``)."""

    def buttons(self) -> list[tuple[str, str]]:
        """Return the inline keyboard as [(text, callback_data)] in row order ("" if no data)."""
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard") or []
        return [
            (str(button.get("text", "")), str(button.get("callback_data", "")))
            for row in rows
            for button in row
        ]

    @property
    def shown_text(self) -> str | None:
        """The text or caption as the user sees it (HTML rendered; other parse modes raw)."""
        if self.text is None:
            return None
        if (self.parse_mode or "").upper() == "HTML":
            return parse_html(self.text)[0]
        return self.text


@dataclass(frozen=True)
class CallbackAnswer:
    """One answerCallbackQuery call."""

    callback_query_id: str
    text: str | None
    show_alert: bool
