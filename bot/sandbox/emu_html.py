"""Telegram's HTML parse mode and entity detection, as the Bot API server applies them.

Offsets and lengths are in UTF-16 code units, as Telegram counts them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

# Tag -> entity type; 'a', 'code', 'pre', 'span', 'tg-emoji' and 'blockquote' need attributes.
_SIMPLE_TAGS: dict[str, str] = {
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
}
_ALLOWED_TAGS = frozenset({*_SIMPLE_TAGS, "a", "code", "pre", "span", "tg-emoji", "blockquote"})
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_SPACE = " \t\r\n\v\f"
# Entities inside which Telegram does not auto-detect commands, mentions, links.
_OPAQUE_TYPES = frozenset({"code", "pre", "text_link", "text_mention", "custom_emoji"})
_TG_USER_LINK = re.compile(r"^tg://user\?id=(\d+)$")

UserResolver = Callable[[int], "JSON | None"]


class HtmlParseError(ValueError):
    """The text is not valid Telegram HTML; the message is Telegram's wording."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _byte_offset(src: str, index: int) -> int:
    # Telegram reports positions as UTF-8 byte offsets into the source.
    return len(src[:index].encode("utf-8"))


@dataclass
class _Open:
    tag: str
    attrs: dict[str, str]
    start: int  # UTF-16 offset in the output
    index: int  # index of '<' in the source
    language: str | None = None
    children: list[str] = field(default_factory=list)


def _decode_entity(src: str, i: int) -> tuple[str, int] | None:
    """Decode the HTML entity at ``src[i] == '&'``; None if it is not one Telegram knows."""
    n = len(src)
    j = i + 1
    if j < n and src[j] == "#":
        j += 1
        hexa = j < n and src[j] in "xX"
        if hexa:
            j += 1
        start = j
        digits = "0123456789abcdefABCDEF" if hexa else "0123456789"
        while j < n and src[j] in digits:
            j += 1
        if j == start:
            return None
        code = int(src[start:j], 16 if hexa else 10)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        char = chr(code)
    else:
        start = j
        while j < n and src[j].isascii() and src[j].isalpha():
            j += 1
        char_or_none = _NAMED_ENTITIES.get(src[start:j])
        if char_or_none is None:
            return None
        char = char_or_none
    if j < n and src[j] == ";":
        j += 1
    return char, j


def _decode_attr_value(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&":
            dec = _decode_entity(value, i)
            if dec is not None:
                out.append(dec[0])
                i = dec[1]
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


def _parse_start_tag(src: str, i: int) -> tuple[str, dict[str, str], int]:
    """Parse ``<name attr=...>`` at ``src[i] == '<'``; returns (name, attrs, index after '>')."""
    n = len(src)
    j = i + 1
    while j < n and src[j] in _TAG_NAME_CHARS:
        j += 1
    name = src[i + 1 : j].lower()
    if not name or name not in _ALLOWED_TAGS:
        raise HtmlParseError(
            f'Unsupported start tag "{name}" at byte offset {_byte_offset(src, i)}'
        )
    attrs: dict[str, str] = {}
    while True:
        while j < n and src[j] in _SPACE:
            j += 1
        if j >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(src, i)}")
        if src[j] == ">":
            return name, attrs, j + 1
        if src[j] == "/" and j + 1 < n and src[j + 1] == ">":
            raise HtmlParseError(
                f'Unsupported self-closing tag "{name}" at byte offset {_byte_offset(src, i)}'
            )
        start = j
        while j < n and src[j] not in _SPACE and src[j] not in "=>/\"'":
            j += 1
        attr = src[start:j].lower()
        if not attr:
            raise HtmlParseError(f"Empty attribute name at byte offset {_byte_offset(src, j)}")
        while j < n and src[j] in _SPACE:
            j += 1
        if j < n and src[j] == "=":
            j += 1
            while j < n and src[j] in _SPACE:
                j += 1
            if j >= n:
                raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(src, i)}")
            if src[j] in "\"'":
                quote = src[j]
                end = src.find(quote, j + 1)
                if end < 0:
                    raise HtmlParseError(
                        f"Unclosed start tag at byte offset {_byte_offset(src, i)}"
                    )
                raw = src[j + 1 : end]
                j = end + 1
            else:
                start = j
                while j < n and src[j] not in _SPACE and src[j] != ">":
                    j += 1
                raw = src[start:j]
            attrs[attr] = _decode_attr_value(raw)
        else:
            attrs[attr] = ""


def _entity_for(open_tag: _Open, end: int, resolve_user: UserResolver | None) -> list[JSON]:
    length = end - open_tag.start
    if length <= 0:
        return []
    base: JSON = {"offset": open_tag.start, "length": length}
    tag, attrs = open_tag.tag, open_tag.attrs
    if tag in _SIMPLE_TAGS:
        return [{"type": _SIMPLE_TAGS[tag], **base}]
    if tag == "span":
        return [{"type": "spoiler", **base}]
    if tag == "blockquote":
        kind = "expandable_blockquote" if "expandable" in attrs else "blockquote"
        return [{"type": kind, **base}]
    if tag == "tg-emoji":
        return [{"type": "custom_emoji", **base, "custom_emoji_id": attrs["emoji-id"]}]
    if tag == "pre":
        entity: JSON = {"type": "pre", **base}
        if open_tag.language:
            entity["language"] = open_tag.language
        return [entity]
    if tag == "code":
        return [{"type": "code", **base}]
    # tag == "a"
    href = attrs.get("href", "").strip()
    if not href:
        return []
    match = _TG_USER_LINK.match(href)
    if match and resolve_user is not None:
        user = resolve_user(int(match.group(1)))
        if user is not None:
            return [{"type": "text_mention", **base, "user": user}]
    return [{"type": "text_link", **base, "url": href}]


def parse_html(
    src: str, *, strict_ampersand: bool = True, resolve_user: UserResolver | None = None
) -> tuple[str, list[JSON]]:
    """Turn Telegram-HTML into (plain text, entities) or raise HtmlParseError.

    ``strict_ampersand``: reject an ``&`` that does not start a known entity. Telegram
    itself keeps such an ``&`` literally; being strict catches text the bot forgot to escape.
    """
    out: list[str] = []
    pos = 0  # UTF-16 offset of the output so far
    stack: list[_Open] = []
    entities: list[JSON] = []
    n = len(src)
    i = 0
    while i < n:
        ch = src[i]
        if ch == "&":
            dec = _decode_entity(src, i)
            if dec is None:
                if strict_ampersand:
                    raise HtmlParseError(
                        f'Unsupported HTML entity or unescaped "&" at byte offset '
                        f"{_byte_offset(src, i)}"
                    )
                out.append("&")
                pos += 1
                i += 1
                continue
            out.append(dec[0])
            pos += utf16_len(dec[0])
            i = dec[1]
            continue
        if ch != "<":
            out.append(ch)
            pos += 2 if ord(ch) > 0xFFFF else 1
            i += 1
            continue
        if i + 1 < n and src[i + 1] == "/":
            j = i + 2
            while j < n and src[j] in _TAG_NAME_CHARS:
                j += 1
            name = src[i + 2 : j].lower()
            while j < n and src[j] in _SPACE:
                j += 1
            if j >= n or src[j] != ">":
                raise HtmlParseError(f"Unclosed end tag at byte offset {_byte_offset(src, i)}")
            if not stack:
                raise HtmlParseError(
                    f'Unexpected end tag "</{name}>" at byte offset {_byte_offset(src, i)}'
                )
            top = stack[-1]
            if top.tag != name:
                raise HtmlParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(src, i)}, "
                    f'expected "</{top.tag}>", found "</{name}>"'
                )
            stack.pop()
            parent = stack[-1] if stack else None
            if top.tag == "code" and parent is not None and parent.tag == "pre":
                # <pre><code class="language-x"> is one pre entity with a language.
                cls = top.attrs.get("class", "")
                if cls.startswith("language-") and len(cls) > len("language-"):
                    parent.language = cls[len("language-") :]
            else:
                entities.extend(_entity_for(top, pos, resolve_user))
            i = j + 1
            continue
        name, attrs, after = _parse_start_tag(src, i)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(src, i)}'
            )
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise HtmlParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset '
                f"{_byte_offset(src, i)}"
            )
        if name == "blockquote" and any(o.tag == "blockquote" for o in stack):
            raise HtmlParseError(
                f"Blockquote entities can't be nested at byte offset {_byte_offset(src, i)}"
            )
        stack.append(_Open(name, attrs, pos, i))
        i = after
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    return "".join(out), sort_entities(entities)


def strip_text(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Trim leading/trailing whitespace as Telegram does, keeping entities aligned."""
    stripped = text.strip(_SPACE)
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip(_SPACE))])
    total = utf16_len(stripped)
    result: list[JSON] = []
    for ent in entities:
        start = max(ent["offset"] - lead, 0)
        end = min(ent["offset"] + ent["length"] - lead, total)
        if end > start:
            result.append({**ent, "offset": start, "length": end - start})
    return stripped, result


_DETECTORS: list[tuple[str, re.Pattern[str]]] = [
    (
        "bot_command",
        re.compile(r"(?<![A-Za-z0-9_/<>@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?"),
    ),
    ("url", re.compile(r"(?<![A-Za-z0-9_@])https?://[^\s<>\"'，。；！？、）]+")),
    ("mention", re.compile(r"(?<![A-Za-z0-9_@/])@[A-Za-z][A-Za-z0-9_]{2,31}\b")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
]


def detect_entities(text: str, existing: list[JSON] | None = None) -> list[JSON]:
    """Entities Telegram finds by itself: /commands, @mentions, links, #hashtags."""
    taken: list[tuple[int, int]] = [
        (e["offset"], e["offset"] + e["length"])
        for e in existing or []
        if e["type"] in _OPAQUE_TYPES
    ]
    found: list[JSON] = []
    for kind, pattern in _DETECTORS:
        for match in pattern.finditer(text):
            value = match.group(0)
            if kind == "url":
                value = value.rstrip(".,;:!?)")
            start = utf16_len(text[: match.start()])
            end = start + utf16_len(value)
            if any(s < end and start < e for s, e in taken):
                continue
            taken.append((start, end))
            found.append({"type": kind, "offset": start, "length": end - start})
    return found


def sort_entities(entities: list[JSON]) -> list[JSON]:
    """Telegram's order: by offset, longer (outer) entities first."""
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def entity_text(text: str, entity: JSON) -> str:
    """The part of ``text`` an entity covers (UTF-16 slicing)."""
    encoded = text.encode("utf-16-le")
    start = entity["offset"] * 2
    return encoded[start : start + entity["length"] * 2].decode("utf-16-le")
