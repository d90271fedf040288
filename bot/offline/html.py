"""Telegram's HTML ``parse_mode``: what a text shows and its entities, refused as Telegram
refuses it ("can't parse entities")."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from bot.offline.errors import JSONDict, LocalApiError

__all__ = ["parse_html", "render", "utf16_len"]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _find(text: str, sub: str, start: int) -> int:
    """``text.find``, with "not found" as the end of the text."""
    found = text.find(sub, start)
    return len(text) if found == -1 else found


def render(text: str, parse_mode: str | None, explicit_entities: Any) -> tuple[str, list[JSONDict]]:
    """Return (text as shown, entities) for a text sent with ``parse_mode``."""
    if parse_mode is not None and parse_mode.upper() == "HTML":
        return parse_html(text)
    if parse_mode is None and isinstance(explicit_entities, list):
        return text, [dict(e) for e in explicit_entities]
    return text, []  # Markdown modes are passed through unparsed


_HTML_ENTITY_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "b": "bold",
        "strong": "bold",
        "i": "italic",
        "em": "italic",
        "u": "underline",
        "ins": "underline",
        "s": "strikethrough",
        "strike": "strikethrough",
        "del": "strikethrough",
        "tg-spoiler": "spoiler",
        "span": "spoiler",
        "a": "text_link",
        "code": "code",
        "pre": "pre",
        "blockquote": "blockquote",
        "tg-emoji": "custom_emoji",
    }
)
_NAMED_CHARS: Mapping[str, str] = MappingProxyType({"lt": "<", "gt": ">", "amp": "&", "quot": '"'})
_CHAR_REF_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_TAG_NAME_RE = re.compile(r"[^\s>/]*")
_ATTR_RE = re.compile(r"""\s*([a-zA-Z_-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")


def _unescape(value: str) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return _NAMED_CHARS[match.group(1)]
        code = int(match.group(2)) if match.group(2) else int(match.group(3), 16)
        return chr(code) if 0 < code <= 0x10FFFF else match.group(0)

    return _CHAR_REF_RE.sub(one, value)


def parse_html(source: str) -> tuple[str, list[JSONDict]]:
    """Parse Telegram's HTML subset; raise LocalApiError "can't parse entities" like Telegram.

    Remembered per text (a message is rendered when sent, when edited, and each time it is
    shown or sent along with an update); the entities are copied out, so nobody shares them.
    """
    shown, entities = _parse_html_once(source)
    return shown, [dict(entity) for entity in entities]


@functools.lru_cache(maxsize=2048)
def _parse_html_once(source: str) -> tuple[str, tuple[JSONDict, ...]]:
    shown, entities = _parse_html_uncached(source)
    return shown, tuple(entities)


def _parse_html_uncached(source: str) -> tuple[str, list[JSONDict]]:

    def fail(reason: str) -> LocalApiError:
        return LocalApiError.bad_request(f"can't parse entities: {reason}")

    def byte_offset(index: int) -> int:
        return len(source[:index].encode())

    out: list[str] = []
    offset = 0  # UTF-16 offset into the rendered text
    stack: list[tuple[str, int, JSONDict]] = []
    entities: list[JSONDict] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char == "&":
            match = _CHAR_REF_RE.match(source, i)
            if match:
                decoded = _unescape(match.group(0))
                out.append(decoded)
                offset += utf16_len(decoded)
                i = match.end()
                continue
        if char != "<":
            # Plain text runs to the next tag or character reference: taken in one piece.
            end = min(_find(source, "<", i + 1), _find(source, "&", i + 1))
            chunk = source[i:end]
            out.append(chunk)
            offset += utf16_len(chunk)
            i = end
            continue
        close = source.find(">", i)
        if source.startswith("</", i):
            if close == -1:
                raise fail(f"Unclosed end tag at byte offset {byte_offset(i)}")
            name = source[i + 2 : close].strip().lower()
            if not stack:
                raise fail(f'Unexpected end tag "{name}" at byte offset {byte_offset(i)}')
            open_name, start, closed = stack.pop()
            if name != open_name:
                raise fail(
                    f"Unmatched end tag at byte offset {byte_offset(i)}, "
                    f'expected "</{open_name}>", found "</{name}>"'
                )
            if offset > start and closed.get("type"):
                entities.append({"offset": start, "length": offset - start, **closed})
            i = close + 1
            continue
        name_match = _TAG_NAME_RE.match(source, i + 1)
        name = name_match.group(0).lower() if name_match else ""
        if name not in _HTML_ENTITY_TYPES:
            raise fail(f'Unsupported start tag "{name}" at byte offset {byte_offset(i)}')
        if close == -1:
            raise fail(f'Unclosed start tag "{name}" at byte offset {byte_offset(i)}')
        attrs = {
            m.group(1).lower(): _unescape(m.group(2) or m.group(3) or m.group(4) or "")
            for m in _ATTR_RE.finditer(source[i + 1 + len(name) : close].rstrip("/"))
            if m.group(1)
        }
        extra: JSONDict = {"type": _HTML_ENTITY_TYPES[name]}
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise fail(f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(i)}')
        if name == "a":
            if attrs.get("href"):
                extra["url"] = attrs["href"]
            else:
                extra = {}
        elif name == "blockquote" and "expandable" in attrs:
            extra["type"] = "expandable_blockquote"
        elif name == "tg-emoji":
            extra["custom_emoji_id"] = attrs.get("emoji-id", "")
        elif name == "code" and stack and stack[-1][0] == "pre" and stack[-1][1] == offset:
            language = attrs.get("class", "")
            if language.startswith("language-"):
                stack[-1][2]["language"] = language.removeprefix("language-")
                extra = {}
        stack.append((name, offset, extra))
        i = close + 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities
