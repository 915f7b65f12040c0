"""Telegram-HTML helpers: visible length, and splitting long messages on paragraph boundaries."""

from __future__ import annotations

import html
import re

TELEGRAM_TEXT_LIMIT = 4096
_TAG = re.compile(r"<[^>]+>")


def visible_text(markup: str) -> str:
    """What the reader sees: tags removed, entities decoded."""
    return html.unescape(_TAG.sub("", markup))


def visible_length(markup: str) -> int:
    return len(visible_text(markup))


def _balanced(markup: str) -> bool:
    depth = 0
    for match in re.finditer(r"</?[a-zA-Z][^>]*>", markup):
        depth += -1 if match.group(0).startswith("</") else 1
        if depth < 0:
            return False
    return depth == 0


def _hard_split(piece: str, limit: int) -> list[str]:
    """Last resort for one huge paragraph: cut its plain text, re-escaped, at the limit."""
    text = visible_text(piece)
    return [html.escape(text[i : i + limit], quote=False) for i in range(0, len(text), limit)]


def _split_units(markup: str, separator: str, limit: int) -> list[str]:
    parts = markup.split(separator)
    chunks: list[str] = []
    current = ""
    for part in parts:
        candidate = part if not current else current + separator + part
        if visible_length(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        if visible_length(part) <= limit:
            current = part
        elif separator == "\n\n":
            sub = _split_units(part, "\n", limit)
            chunks.extend(sub[:-1])
            current = sub[-1]
        else:
            pieces = _hard_split(part, limit)
            chunks.extend(pieces[:-1])
            current = pieces[-1]
    if current:
        chunks.append(current)
    return chunks


def split_html(markup: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split Telegram HTML into messages of at most ``limit`` visible characters.

    Splits between paragraphs (blank lines) first, then between lines; a single line
    longer than the limit is cut as plain text. A chunk never ends inside a tag:
    if a tag spans a paragraph break the text is split as plain text instead.
    """
    markup = markup.strip("\n")
    if visible_length(markup) <= limit:
        return [markup]
    chunks = [c.strip("\n") for c in _split_units(markup, "\n\n", limit)]
    chunks = [c for c in chunks if c.strip()]
    if all(_balanced(c) for c in chunks):
        return chunks
    return _hard_split(markup, limit)
