"""An in-memory Telegram Bot API for running the bot without Telegram's servers.

:class:`LocalBotApi` implements the subset of the Bot API that Focus Companion uses, with
Telegram's observable behaviour where it matters to a bot: per-chat message ids, ``getUpdates``
long polling with ``offset`` confirmation, the exact error descriptions of common failures
("message is not modified", "message text is empty", ...), and HTML ``parse_mode`` checking
and rendering. A test (or a person in console mode) plays the user side with
:meth:`LocalBotApi.user_message` and :meth:`LocalBotApi.user_press`, and reads what the bot did
from :attr:`LocalBotApi.sent`, :attr:`LocalBotApi.callback_answers` and friends.

:class:`LocalRequest` plugs a :class:`LocalBotApi` into python-telegram-bot in-process, so a
``telegram.Bot`` built with it can never reach the network. ``tests/support/standin.py`` serves
the same object over HTTP on 127.0.0.1 for end-to-end tests.

Everything here is single-threaded asyncio: call the user-side methods from the event loop's
thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.offline.errors import JSONDict, LocalApiError
from bot.offline.html import parse_html, render, utf16_len
from bot.offline.records import CallbackAnswer, OutgoingMessage, UploadedFile
from bot.offline.transport import LocalRequest, local_params

# The records, the error and the transport are imported from here by console mode, the tests
# and the benchmark: one import for the whole in-process Bot API.
__all__ = [
    "CallbackAnswer",
    "LocalApiError",
    "LocalBotApi",
    "LocalRequest",
    "OutgoingMessage",
    "UploadedFile",
    "local_params",
    "parse_html",
]


MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Update types delivered when allowed_updates is empty or never set (Telegram's default).
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


class LocalBotApi:
    """The Telegram Bot API, in memory, for one bot and any number of simulated users."""

    def __init__(
        self,
        *,
        bot_id: int = 100000,
        username: str = "FocusCompanionBot",
        first_name: str = "Focus Companion",
        clock: Callable[[], datetime],
        on_outgoing: Callable[[str, OutgoingMessage], None] | None = None,
    ) -> None:
        """Create an empty API; ``clock`` must return aware datetimes (the caller's clock: this
        module never reads the time itself)."""
        self.bot_id = bot_id
        self.username = username
        self.first_name = first_name
        self._clock = clock
        self._on_outgoing = on_outgoing

        self.sent: list[OutgoingMessage] = []
        self.messages: dict[tuple[int, int], OutgoingMessage] = {}
        self.callback_answers: list[CallbackAnswer] = []
        self.commands: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        self.chat_actions: list[tuple[int, str]] = []
        self.webhook: dict[str, Any] | None = None

        self._commands_by_scope: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._updates: list[JSONDict] = []
        self._next_update_id = 1
        self._allowed_updates: frozenset[str] | None = None
        self._last_message_id: dict[int, int] = {}
        self._chats: dict[int, JSONDict] = {}
        self._users: dict[int, JSONDict] = {}
        self._inbound: dict[tuple[int, int], JSONDict] = {}
        self._open_callback_ids: set[str] = set()
        self._next_callback_id = 1
        self._next_file_id = 1
        self._poll_generation = 0
        self._interrupts = 0
        self._changed: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._handlers: Mapping[str, tuple[str, Callable[[JSONDict], Any]]] = {
            name.lower(): (name, handler)
            for name, handler in (
                ("getMe", self._get_me),
                ("deleteWebhook", self._delete_webhook),
                ("setWebhook", self._set_webhook),
                ("getWebhookInfo", self._get_webhook_info),
                ("setMyCommands", self._set_my_commands),
                ("getMyCommands", self._get_my_commands),
                ("deleteMyCommands", self._delete_my_commands),
                ("sendMessage", self._send_message),
                ("editMessageText", self._edit_message_text),
                ("editMessageCaption", self._edit_message_caption),
                ("editMessageReplyMarkup", self._edit_message_reply_markup),
                ("deleteMessage", self._delete_message),
                ("answerCallbackQuery", self._answer_callback_query),
                ("sendPhoto", self._send_photo),
                ("sendDocument", self._send_document),
                ("sendChatAction", self._send_chat_action),
            )
        }

    # ------------------------------------------------------------------ bot side

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """Run one Bot API method and return its ``result``; raise LocalApiError on failure."""
        if method.lower() == "getupdates":
            self.calls["getUpdates"] += 1
            await self._before("getUpdates")
            return await self._get_updates(params)
        entry = self._handlers.get(method.lower())
        if entry is None:
            self.calls[method] += 1
            # Telegram answers an unknown method with 404 "Not Found" (PTB: InvalidToken, or
            # EndPointNotFound from do_api_request); the extra words say whose gap it is.
            raise LocalApiError(404, f"Not Found: LocalBotApi does not implement {method}")
        name, handler = entry
        self.calls[name] += 1
        await self._before(name)
        result = handler(params)
        await self._after(name)
        return result

    def _canonical(self, method: str) -> str:
        """The method's name as Telegram spells it (calls are case-insensitive)."""
        if method.lower() == "getupdates":
            return "getUpdates"
        entry = self._handlers.get(method.lower())
        return method if entry is None else entry[0]

    async def _before(self, name: str) -> None:
        """Runs before a method takes effect; raising here fails the call. Nothing here: the
        tests' fault injection (tests/support/faults.py) overrides it."""

    async def _after(self, name: str) -> None:
        """Runs after a method took effect, before it answers (where a stall goes)."""

    # ------------------------------------------------------------------ user side

    def user_message(
        self,
        *,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Ada",
        username: str | None = None,
        reply_to_message_id: int | None = None,
        is_bot: bool = False,
        sender_chat: Mapping[str, Any] | None = None,
        automatic_forward: bool = False,
        edited: bool = False,
    ) -> dict[str, Any]:
        """A user sends ``text``; enqueue the Update for getUpdates and return it.

        The rest is for the shared identities of groups: ``is_bot`` for Telegram's stand-in
        accounts (GroupAnonymousBot, Channel_Bot); ``sender_chat`` for a message sent on
        behalf of a chat (an anonymous admin: the group itself; a channel);
        ``automatic_forward`` for a linked channel's post mirrored into its discussion group;
        ``edited`` delivers it as an ``edited_message``.
        """
        user = self._remember_user(user_id, first_name, username, is_bot=is_bot)
        chat_id = user_id if chat_id is None else chat_id
        if chat_type == "private":
            if chat_id != user_id:
                raise ValueError("a private chat's id is the user's id")
            chat = {"id": chat_id, "type": "private", "first_name": first_name}
            if username:
                chat["username"] = username
        elif chat_type in ("group", "supergroup"):
            chat = {"id": chat_id, "type": chat_type, "title": f"Group {chat_id}"}
        else:
            raise ValueError(f"unsupported chat_type {chat_type!r}")
        self._chats[chat_id] = chat

        message: JSONDict = {
            "message_id": self._new_message_id(chat_id),
            "date": self._unix_now(),
            "chat": dict(chat),
            "from": dict(user),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0] if text.strip() else text
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            ]
        if reply_to_message_id is not None:
            message["reply_to_message"] = self._message_for_reply(chat_id, reply_to_message_id)
        if sender_chat is not None:
            message["sender_chat"] = dict(sender_chat)
        if automatic_forward:
            message["is_automatic_forward"] = True
        self._inbound[(chat_id, message["message_id"])] = message
        if edited:
            return self._enqueue({"edited_message": {**message, "edit_date": self._unix_now()}})
        return self._enqueue({"message": message})

    def user_press(
        self,
        *,
        user_id: int,
        message_id: int,
        chat_id: int | None = None,
        data: str | None = None,
        button: int | None = None,
    ) -> dict[str, Any]:
        """A user presses an inline button (by ``data`` or by index into ``buttons()``)."""
        chat_id = user_id if chat_id is None else chat_id
        msg = self.messages.get((chat_id, message_id))
        if msg is None:
            raise ValueError(f"no message {message_id} from the bot in chat {chat_id}")
        if (data is None) == (button is None):
            raise ValueError("pass exactly one of data= or button=")
        if button is not None:
            buttons = msg.buttons()
            if not 0 <= button < len(buttons):
                raise ValueError(f"message {message_id} has {len(buttons)} buttons, not {button}")
            label, data = buttons[button]
            if not data:
                raise ValueError(f"button {button} ({label!r}) has no callback_data")
        user = self._users.get(user_id) or self._remember_user(user_id, "Ada", None)
        query_id = str(4_000_000_000_000 + self._next_callback_id)
        self._next_callback_id += 1
        self._open_callback_ids.add(query_id)
        callback_query = {
            "id": query_id,
            "from": dict(user),
            "message": self._message_json(msg),
            "chat_instance": str(-abs(chat_id) - 7_000_000_000),
            "data": data,
        }
        return self._enqueue({"callback_query": callback_query})

    # ------------------------------------------------------------------ records

    def messages_to(self, chat_id: int) -> list[OutgoingMessage]:
        """The bot's messages in ``chat_id`` that are still there (not deleted), in order."""
        return [m for m in self.sent if m.chat_id == chat_id and not m.deleted]

    @property
    def pending_update_count(self) -> int:
        """How many updates getUpdates has not had confirmed yet."""
        return len(self._updates)

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, re-checking after each change; else TimeoutError."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {within} s")
            await self._wait_change(remaining)

    def interrupt_polls(self) -> None:
        """Make every waiting getUpdates return now with what it has (e.g. before a shutdown)."""
        self._interrupts += 1
        self._notify()

    # ------------------------------------------------------------------ change notification

    def _notify(self) -> None:
        if self._changed is not None:
            _, event = self._changed
            self._changed = None
            event.set()

    async def _wait_change(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        if self._changed is None or self._changed[0] is not loop:
            self._changed = (loop, asyncio.Event())
        event = self._changed[1]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    # ------------------------------------------------------------------ helpers

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("LocalBotApi clock must return timezone-aware datetimes")
        return now.astimezone(UTC)

    def _unix_now(self) -> int:
        return int(self._now().timestamp())

    def _new_message_id(self, chat_id: int) -> int:
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def _remember_user(
        self, user_id: int, first_name: str, username: str | None, *, is_bot: bool = False
    ) -> JSONDict:
        user: JSONDict = {
            "id": user_id,
            "is_bot": is_bot,
            "first_name": first_name,
            "language_code": "en",
        }
        if username:
            user["username"] = username
        self._users[user_id] = user
        return user

    def _enqueue(self, payload: JSONDict) -> JSONDict:
        update = {"update_id": self._next_update_id, **payload}
        self._next_update_id += 1
        self._updates.append(update)
        self._notify()
        return update

    def _bot_user(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def _chat_json(self, chat_id: int) -> JSONDict:
        known = self._chats.get(chat_id)
        if known is not None:
            return dict(known)
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "User"}
        return {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}

    def _message_json(self, msg: OutgoingMessage) -> JSONDict:
        shown = msg.shown_text
        result: JSONDict = {
            "message_id": msg.message_id,
            "date": int(msg.sent_at.timestamp()),
            "chat": self._chat_json(msg.chat_id),
            "from": self._bot_user(),
        }
        if msg.edits:
            result["edit_date"] = self._unix_now()
        file_id = f"{msg.kind}-{msg.chat_id}-{msg.message_id}"
        size = len(msg.file_bytes) if msg.file_bytes is not None else 0
        if msg.kind == "message":
            result["text"] = shown
            if msg.entities:
                result["entities"] = msg.entities
        else:
            if msg.kind == "photo":
                width, height = _image_size(msg.file_bytes)
                result["photo"] = [
                    {
                        "file_id": file_id,
                        "file_unique_id": f"u{file_id}",
                        "width": width,
                        "height": height,
                        "file_size": size,
                    }
                ]
            else:
                result["document"] = {
                    "file_id": file_id,
                    "file_unique_id": f"u{file_id}",
                    "file_name": msg.file_name or "document",
                    "file_size": size,
                }
                if msg.mime_type:
                    result["document"]["mime_type"] = msg.mime_type
            if shown is not None:
                result["caption"] = shown
                if msg.entities:
                    result["caption_entities"] = msg.entities
        markup = msg.reply_markup
        if markup and markup.get("inline_keyboard"):
            result["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        return result

    def _message_for_reply(self, chat_id: int, message_id: int) -> JSONDict:
        inbound = self._inbound.get((chat_id, message_id))
        if inbound is not None:
            return dict(inbound)
        outgoing = self.messages.get((chat_id, message_id))
        if outgoing is None:
            raise ValueError(f"no message {message_id} in chat {chat_id} to reply to")
        return self._message_json(outgoing)

    def _target(self, params: JSONDict, what: str) -> OutgoingMessage:
        if "inline_message_id" in params:
            raise LocalApiError.bad_request("inline messages are not supported by LocalBotApi")
        chat_id = _chat_id(params)
        message_id = _int_param(params, "message_id")
        msg = self.messages.get((chat_id, message_id))
        if msg is None:
            raise LocalApiError.bad_request(f"message to {what} not found")
        return msg

    def _record(self, msg: OutgoingMessage) -> JSONDict:
        self.sent.append(msg)
        self.messages[(msg.chat_id, msg.message_id)] = msg
        if self._on_outgoing is not None:
            self._on_outgoing("send", msg)
        self._notify()
        return self._message_json(msg)

    def _edited(self, msg: OutgoingMessage) -> JSONDict:
        msg.edits += 1
        if self._on_outgoing is not None:
            self._on_outgoing("edit", msg)
        self._notify()
        return self._message_json(msg)

    # ------------------------------------------------------------------ methods

    def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook is not None:
            raise LocalApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int_param(params, "offset", 0)
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        timeout = max(_float_param(params, "timeout", 0.0), 0.0)
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            self._allowed_updates = frozenset(allowed) if allowed else None
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

        self._poll_generation += 1
        generation, interrupts = self._poll_generation, self._interrupts
        self._notify()  # an older long poll still waiting gets its 409, like on Telegram
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise LocalApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            self._drop_unwanted_updates()
            remaining = deadline - loop.time()
            if self._updates or remaining <= 0 or interrupts != self._interrupts:
                return [dict(u) for u in self._updates[:limit]]
            await self._wait_change(remaining)

    def _drop_unwanted_updates(self) -> None:
        def wanted(update: JSONDict) -> bool:
            kinds = set(update) - {"update_id"}
            if self._allowed_updates is None:
                return not kinds & _OPT_IN_UPDATES
            return bool(kinds & self._allowed_updates)

        self._updates = [u for u in self._updates if wanted(u)]

    def _delete_webhook(self, params: JSONDict) -> bool:
        self.webhook = None
        if _bool_param(params, "drop_pending_updates"):
            self._updates = []
        return True

    def _set_webhook(self, params: JSONDict) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return self._delete_webhook(params)
        if not url.startswith("https://"):
            raise LocalApiError.bad_request("bad webhook: HTTPS url must be provided for webhook")
        self.webhook = {k: v for k, v in params.items() if k != "certificate"}
        if _bool_param(params, "drop_pending_updates"):
            self._updates = []
        return True

    def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook:
            for key in ("max_connections", "allowed_updates", "ip_address"):
                if key in self.webhook:
                    info[key] = self.webhook[key]
        return info

    @staticmethod
    def _scope_key(params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise LocalApiError.bad_request("commands must be a list of at most 100 BotCommand")
        cleaned: list[dict[str, Any]] = []
        for command in commands:
            name = str(command.get("command", "")) if isinstance(command, dict) else ""
            description = str(command.get("description", "")) if isinstance(command, dict) else ""
            if not _COMMAND_RE.fullmatch(name):
                raise LocalApiError.bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise LocalApiError.bad_request("command description is invalid")
            cleaned.append({"command": name, "description": description})
        key = self._scope_key(params)
        self._commands_by_scope[key] = cleaned
        if key == self._scope_key({}):
            self.commands = [dict(c) for c in cleaned]
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return [dict(c) for c in self._commands_by_scope.get(self._scope_key(params), [])]

    def _delete_my_commands(self, params: JSONDict) -> bool:
        key = self._scope_key(params)
        self._commands_by_scope.pop(key, None)
        if key == self._scope_key({}):
            self.commands = []
        return True

    def _send_message(self, params: JSONDict) -> JSONDict:
        chat_id = _chat_id(params)
        text = params.get("text")
        text = "" if text is None else str(text)
        parse_mode = _parse_mode(params)
        shown, entities = render(text, parse_mode, params.get("entities"))
        if not shown.strip():
            raise LocalApiError.bad_request("message text is empty")
        if len(shown) > MAX_MESSAGE_LENGTH:
            raise LocalApiError.bad_request("message is too long")
        msg = OutgoingMessage(
            chat_id=chat_id,
            message_id=self._new_message_id(chat_id),
            text=text,
            reply_markup=_markup(params),
            kind="message",
            sent_at=self._now(),
            parse_mode=parse_mode,
            entities=entities,
            reply_to=_reply_to(params),
        )
        return self._record(msg)

    def _edit_message_text(self, params: JSONDict) -> JSONDict:
        msg = self._target(params, "edit")
        if msg.kind != "message":
            raise LocalApiError.bad_request("there is no text in the message to edit")
        text = params.get("text")
        text = "" if text is None else str(text)
        parse_mode = _parse_mode(params)
        shown, entities = render(text, parse_mode, params.get("entities"))
        if not shown.strip():
            raise LocalApiError.bad_request("message text is empty")
        if len(shown) > MAX_MESSAGE_LENGTH:
            raise LocalApiError.bad_request("MESSAGE_TOO_LONG")
        # Like Telegram: an edit without reply_markup removes the inline keyboard.
        markup = _markup(params)
        if (shown, entities, markup) == (msg.shown_text, msg.entities, msg.reply_markup):
            raise LocalApiError.bad_request(_NOT_MODIFIED)
        msg.text, msg.parse_mode, msg.entities, msg.reply_markup = (
            text,
            parse_mode,
            entities,
            markup,
        )
        return self._edited(msg)

    def _edit_message_caption(self, params: JSONDict) -> JSONDict:
        msg = self._target(params, "edit")
        if msg.kind == "message":
            raise LocalApiError.bad_request("there is no caption in the message to edit")
        caption = params.get("caption")
        parse_mode = _parse_mode(params)
        entities: list[JSONDict] = []
        shown: str | None = None
        if caption is not None:
            shown, entities = render(str(caption), parse_mode, params.get("caption_entities"))
            if len(shown) > MAX_CAPTION_LENGTH:
                raise LocalApiError.bad_request("message caption is too long")
        markup = _markup(params)
        if (shown, entities, markup) == (msg.shown_text, msg.entities, msg.reply_markup):
            raise LocalApiError.bad_request(_NOT_MODIFIED)
        msg.text = None if caption is None else str(caption)
        msg.parse_mode, msg.entities, msg.reply_markup = parse_mode, entities, markup
        return self._edited(msg)

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        msg = self._target(params, "edit")
        markup = _markup(params)
        if markup == msg.reply_markup:
            raise LocalApiError.bad_request(_NOT_MODIFIED)
        msg.reply_markup = markup
        return self._edited(msg)

    def _delete_message(self, params: JSONDict) -> bool:
        msg = self._target(params, "delete")
        if self._now() - msg.sent_at > timedelta(hours=48):
            raise LocalApiError.bad_request("message can't be deleted for everyone")
        msg.deleted = True
        del self.messages[(msg.chat_id, msg.message_id)]
        self._notify()
        return True

    def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_callback_ids:
            raise LocalApiError.bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self._open_callback_ids.discard(query_id)
        text = params.get("text")
        self.callback_answers.append(
            CallbackAnswer(
                callback_query_id=query_id,
                text=None if text is None else str(text),
                show_alert=_bool_param(params, "show_alert"),
            )
        )
        self._notify()
        return True

    def _send_file(self, params: JSONDict, kind: str) -> JSONDict:
        chat_id = _chat_id(params)
        upload = params.get(kind)
        if upload is None:
            raise LocalApiError.bad_request(f"there is no {kind} in the request")
        file_name: str | None = None
        file_bytes: bytes | None = None
        mime_type: str | None = None
        if isinstance(upload, UploadedFile):
            file_name, file_bytes, mime_type = upload.file_name, upload.data, upload.mime_type
            if not file_bytes:
                raise LocalApiError.bad_request("file must be non-empty")
            if kind == "photo" and not _looks_like_image(file_bytes):
                raise LocalApiError.bad_request("IMAGE_PROCESS_FAILED")
        caption = params.get("caption")
        parse_mode = _parse_mode(params)
        entities: list[JSONDict] = []
        if caption is not None:
            shown, entities = render(str(caption), parse_mode, params.get("caption_entities"))
            if len(shown) > MAX_CAPTION_LENGTH:
                raise LocalApiError.bad_request("message caption is too long")
        msg = OutgoingMessage(
            chat_id=chat_id,
            message_id=self._new_message_id(chat_id),
            text=None if caption is None else str(caption),
            reply_markup=_markup(params),
            kind=kind,
            sent_at=self._now(),
            parse_mode=parse_mode,
            file_name=file_name,
            file_bytes=file_bytes,
            mime_type=mime_type,
            entities=entities,
        )
        return self._record(msg)

    def _send_photo(self, params: JSONDict) -> JSONDict:
        return self._send_file(params, "photo")

    def _send_document(self, params: JSONDict) -> JSONDict:
        return self._send_file(params, "document")

    def _send_chat_action(self, params: JSONDict) -> bool:
        chat_id = _chat_id(params)
        action = str(params.get("action") or "")
        if action not in _CHAT_ACTIONS:
            raise LocalApiError.bad_request("wrong parameter action in request")
        self.chat_actions.append((chat_id, action))
        return True


# ---------------------------------------------------------------------- parameter helpers


def _int_param(params: JSONDict, name: str, default: int | None = None) -> int:
    value = params.get(name)
    if value is None:
        if default is None:
            raise LocalApiError.bad_request(f"{name} is empty")
        return default
    if isinstance(value, bool):
        raise LocalApiError.bad_request(f"invalid {name} specified")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise LocalApiError.bad_request(f"invalid {name} specified") from None


def _float_param(params: JSONDict, name: str, default: float) -> float:
    value = params.get(name)
    if value is None:
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise LocalApiError.bad_request(f"invalid {name} specified") from None


def _bool_param(params: JSONDict, name: str) -> bool:
    value = params.get(name)
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _chat_id(params: JSONDict) -> int:
    value = params.get("chat_id")
    if value is None or value == "":
        raise LocalApiError.bad_request("chat_id is empty")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise LocalApiError.bad_request("chat not found") from None


def _parse_mode(params: JSONDict) -> str | None:
    value = params.get("parse_mode")
    if not value:
        return None
    mode = str(value)
    if mode.upper() not in ("HTML", "MARKDOWN", "MARKDOWNV2"):
        raise LocalApiError.bad_request(f"unsupported parse_mode {mode}")
    return mode


def _json_param(params: JSONDict, name: str, what: str) -> Any:
    """``params[name]``, decoded if it came as a JSON string (form-encoded requests)."""
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise LocalApiError.bad_request(f"can't parse {what} JSON") from None
    return value


def _reply_to(params: JSONDict) -> int | None:
    reply = _json_param(params, "reply_parameters", "reply parameters")
    if reply is None:
        return None
    if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
        raise LocalApiError.bad_request("invalid reply parameters")
    return int(reply["message_id"])


def _markup(params: JSONDict) -> dict[str, Any] | None:
    markup = _json_param(params, "reply_markup", "reply keyboard markup")
    if not markup:
        return None
    if not isinstance(markup, dict):
        raise LocalApiError.bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        if not markup["inline_keyboard"]:
            return None  # an empty inline keyboard means "no keyboard"
        for row in markup["inline_keyboard"]:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise LocalApiError.bad_request("BUTTON_DATA_INVALID")
    return dict(markup)


def _looks_like_image(data: bytes) -> bool:
    return data.startswith(_IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _image_size(data: bytes | None) -> tuple[int, int]:
    if data and data.startswith(_IMAGE_MAGIC[0]) and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return 1, 1
