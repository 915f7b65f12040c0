"""Telegram-HTML helpers: visible length, and splitting long messages into parts."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

TELEGRAM_TEXT_LIMIT = 4096
_TAG = re.compile(r"<[^>]+>")


def visible_text(markup: str) -> str:
    """What the reader sees: tags removed, entities decoded."""
    return html.unescape(_TAG.sub("", markup))


def visible_length(markup: str) -> int:
    return len(visible_text(markup))


# --- splitting ------------------------------------------------------------------------

# A tag, an entity, or one character: the units a cut never enters.
_TOKEN = re.compile(r"<[^<>]*>|&#?[A-Za-z0-9]{1,10};|.", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9-]*)")
# Full-width and ASCII sentence ends (escaped: no CJK in code).
_SENTENCE_END = frozenset("\u3002\uff01\uff1f\uff1b!?;.")

# Boundary kinds, best first.
_PARAGRAPH, _LINE, _SENTENCE, _CHAR = range(4)


@dataclass(frozen=True, slots=True)
class _Boundary:
    position: int  # in the markup
    visible: int  # visible characters before it
    kind: int
    open_tags: tuple[tuple[str, str], ...]  # (name, opening tag as written)


def _weight(piece: str) -> int:
    """Visible characters of one token: a tag shows none, an entity one (or its expansion)."""
    if piece.startswith("<") and len(piece) > 1:
        return 0
    if piece.startswith("&") and len(piece) > 1:
        return len(html.unescape(piece))
    return 1


def _boundaries(text: str, limit: int) -> list[_Boundary]:
    """Places where the text may be cut, up to ``limit`` visible characters."""
    found: list[_Boundary] = []
    stack: list[tuple[str, str]] = []
    visible = 0
    for token in _TOKEN.finditer(text):
        piece = token.group(0)
        weight = _weight(piece)
        if weight == 0:
            name_match = _TAG_NAME.match(piece)
            name = name_match.group(1).lower() if name_match else ""
            if piece.startswith("</"):
                for depth in range(len(stack) - 1, -1, -1):
                    if stack[depth][0] == name:
                        del stack[depth:]
                        break
            elif not piece.endswith("/>") and name:
                stack.append((name, piece))
        visible += weight
        if visible > limit:
            break
        position = token.end()
        if text.endswith("\n\n", 0, position):
            kind = _PARAGRAPH
        elif piece == "\n":
            kind = _LINE
        elif piece in _SENTENCE_END:
            kind = _SENTENCE
        else:
            kind = _CHAR
        found.append(_Boundary(position, visible, kind, tuple(stack)))
    return found


def _count(markup: str) -> int:
    return sum(_weight(token.group(0)) for token in _TOKEN.finditer(markup))


def _closing(tags: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(tags))


def _best(boundaries: list[_Boundary], limit: int) -> _Boundary:
    """The last boundary of the best kind, unless that leaves a part under a quarter of
    the limit (a heading alone, say) while a lesser kind fills it better."""
    for kind in (_PARAGRAPH, _LINE, _SENTENCE, _CHAR):
        last = max(
            (b for b in boundaries if b.kind == kind), key=lambda b: b.position, default=None
        )
        if last is not None and last.visible >= limit // 4:
            return last
    best_kind = min(b.kind for b in boundaries)
    return max((b for b in boundaries if b.kind == best_kind), key=lambda b: b.position)


def split_html(markup: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split Telegram HTML into messages of at most ``limit`` visible characters.

    Visible, as Telegram counts after parsing entities: tags count nothing, an entity
    such as ``&amp;`` one character. Cuts at the last paragraph break (blank line)
    that fits, else the last line break, else the last sentence end, else anywhere
    (a better kind of cut is passed over when it would leave a part of less than a
    quarter of the limit);
    never inside a tag or an entity and, whenever some cut allows it, never inside
    an element, so joining the parts gives the markup back. Only when one element's
    content alone exceeds the limit is it closed at the end of a part and opened
    again at the start of the next. Telegram trims each part's surrounding blank lines.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    if len(markup) <= limit:
        # Never more visible characters than source characters (a tag shows none, an
        # entity fewer than it is long): most messages need no counting at all.
        return [markup]
    parts: list[str] = []
    rest = markup
    while _count(rest) > limit:
        boundaries = [b for b in _boundaries(rest, limit) if b.visible > 0]
        if not boundaries:
            raise ValueError(f"cannot split HTML into parts of {limit} visible characters")
        free = [b for b in boundaries if not b.open_tags]
        if free:
            cut = _best(free, limit).position
            parts.append(rest[:cut])
            rest = rest[cut:]
            continue
        # Closing and reopening tags adds no visible characters, so every boundary fits.
        chosen = _best(boundaries, limit)
        parts.append(rest[: chosen.position] + _closing(chosen.open_tags))
        rest = "".join(tag for _, tag in chosen.open_tags) + rest[chosen.position :]
    if rest or not parts:
        parts.append(rest)
    return parts
