"""The Bot API's error answers, as the in-process Bot API raises them."""

from __future__ import annotations

from typing import Any

__all__ = ["JSONDict", "LocalApiError"]

JSONDict = dict[str, Any]


class LocalApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(
        self,
        error_code: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ):
        """Build the error; ``retry_after`` and ``migrate_to_chat_id`` go into the answer's
        ``parameters``."""
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    @classmethod
    def bad_request(cls, what: str) -> LocalApiError:
        """400 ``Bad Request: {what}``."""
        return cls(400, f"Bad Request: {what}")

    @classmethod
    def too_many_requests(cls, retry_after: int) -> LocalApiError:
        """429 flood-control error, as Telegram words it."""
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    @classmethod
    def blocked_by_user(cls) -> LocalApiError:
        """403 for a user who blocked the bot."""
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def chat_migrated(cls, new_chat_id: int) -> LocalApiError:
        """400 for a group that was upgraded to a supergroup, as Telegram words it."""
        return cls(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            migrate_to_chat_id=new_chat_id,
        )

    def to_json(self) -> JSONDict:
        """The Bot API's JSON answer for this error."""
        answer: JSONDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        parameters: JSONDict = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if parameters:
            answer["parameters"] = parameters
        return answer
