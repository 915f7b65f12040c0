"""Telegram HTML for a parsed notice, and splitting long HTML into messages."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.notices.model import ParsedNotice
from bot.notices.parse import SECTION_RE, SUBSECTION_RE
from bot.notices.patterns import LABEL_KEYS

TELEGRAM_LIMIT = 4096


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _purpose_lines(parsed: ParsedNotice) -> list[str]:
    """The introduction block of the summary (see bot.notices.summary for the layout)."""
    blocks = parsed.summary.split("\n\n")
    if len(blocks) < 2:
        return []
    candidate = blocks[1].split("\n")
    if len(blocks) >= 3:
        return candidate
    texts = [p.text for p in parsed.points] + [d.text for d in parsed.deadlines]
    for line in candidate:
        if SECTION_RE.match(line) or SUBSECTION_RE.match(line):
            return []
        if any(text and text in line for text in texts):
            return []
    return candidate


def render_summary_html(parsed: ParsedNotice, labels: Mapping[str, str]) -> str:
    """The notice as a Telegram HTML message: bold title, facts, numbered points, actions.

    ``labels`` gives the UI words for the keys in :data:`LABEL_KEYS` (the caller's
    locale; ``default_labels()`` has the zh_CN ones). Every piece of notice text is
    HTML-escaped; paragraphs are separated by blank lines for :func:`split_message`.
    """
    missing = [key for key in LABEL_KEYS if key not in labels]
    if missing:
        raise KeyError(f"labels lacks {', '.join(missing)}")

    def fact(key: str, value: str | None) -> str | None:
        return f"{_esc(labels[key])}{_esc(labels['separator'])}{_esc(value)}" if value else None

    paragraphs: list[str] = []
    head = [f"<b>{_esc(parsed.title)}</b>"]
    facts = [
        fact("issuer", parsed.issuer),
        fact("published", parsed.published.isoformat() if parsed.published else None),
        fact("doc_number", parsed.doc_number),
        fact("addressees", parsed.addressees),
    ]
    head.extend(line for line in facts if line)
    paragraphs.append("\n".join(head))

    purpose = _purpose_lines(parsed)
    if purpose:
        paragraphs.append(_esc("".join(purpose)))
    if parsed.points:
        lines = [f"<b>{_esc(labels['points'])}</b>"]
        lines.extend(f"{point.ordinal}. {_esc(point.text)}" for point in parsed.points)
        paragraphs.append("\n".join(lines))
    if parsed.sections:
        lines = [f"<b>{_esc(labels['actions'])}</b>"]
        for section in parsed.sections:
            lines.append(f"{_esc(section.number)}、{_esc(section.heading)}")
            lines.extend(f"({_esc(sub.number)}){_esc(sub.heading)}" for sub in section.subsections)
        paragraphs.append("\n".join(lines))
    if parsed.deadlines:
        lines = [f"<b>{_esc(labels['deadlines'])}</b>"]
        lines.extend(f"{d.date.isoformat()} {_esc(d.text)}" for d in parsed.deadlines)
        paragraphs.append("\n".join(lines))
    if parsed.attachments:
        lines = [f"<b>{_esc(labels['attachments'])}</b>"]
        lines.extend(f"{i}. {_esc(name)}" for i, name in enumerate(parsed.attachments, 1))
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


# --- splitting ------------------------------------------------------------------------

_TOKEN = re.compile(r"<[^<>]*>|&#?[A-Za-z0-9]{1,10};|.", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9-]*)")
_SENTENCE_END = frozenset("。!?;!?;.")

# Boundary kinds, best first.
_PARAGRAPH, _LINE, _SENTENCE, _CHAR = range(4)


@dataclass(frozen=True)
class _Boundary:
    position: int
    kind: int
    open_tags: tuple[tuple[str, str], ...]  # (name, opening tag as written)


def _boundaries(text: str, limit: int) -> list[_Boundary]:
    """Positions where the text may be cut (never inside a tag or an entity)."""
    found: list[_Boundary] = []
    stack: list[tuple[str, str]] = []
    position = 0
    for token in _TOKEN.finditer(text):
        piece = token.group(0)
        position = token.end()
        if piece.startswith("<") and len(piece) > 1:
            name_match = _TAG_NAME.match(piece)
            name = name_match.group(1).lower() if name_match else ""
            if piece.startswith("</"):
                for depth in range(len(stack) - 1, -1, -1):
                    if stack[depth][0] == name:
                        del stack[depth:]
                        break
            elif not piece.endswith("/>") and name:
                stack.append((name, piece))
        if position > limit:
            break
        if text.endswith("\n\n", 0, position):
            kind = _PARAGRAPH
        elif piece == "\n":
            kind = _LINE
        elif piece in _SENTENCE_END:
            kind = _SENTENCE
        else:
            kind = _CHAR
        found.append(_Boundary(position, kind, tuple(stack)))
    return found


def _closing(tags: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(tags))


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split HTML into messages of at most ``limit`` characters.

    Cuts at the last paragraph break (blank line) that fits, else the last line
    break, else the last sentence end, else anywhere; never inside a tag or an
    entity and never inside an open tag, so joining the parts gives the text back.
    Only when one tag's content alone exceeds the limit is that tag closed at the
    end of a part and opened again at the start of the next.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        boundaries = _boundaries(rest, limit)
        free = [b for b in boundaries if not b.open_tags and 0 < b.position <= limit]
        if free:
            best_kind = min(b.kind for b in free)
            cut = max(b.position for b in free if b.kind == best_kind)
            parts.append(rest[:cut])
            rest = rest[cut:]
            continue
        fitting = [
            b
            for b in boundaries
            if b.position > sum(len(tag) for _, tag in b.open_tags)
            and b.position + len(_closing(b.open_tags)) <= limit
        ]
        if not fitting:
            raise ValueError(f"cannot split HTML into parts of {limit} characters")
        best_kind = min(b.kind for b in fitting)
        chosen = max((b for b in fitting if b.kind == best_kind), key=lambda b: b.position)
        parts.append(rest[: chosen.position] + _closing(chosen.open_tags))
        rest = "".join(tag for _, tag in chosen.open_tags) + rest[chosen.position :]
    if rest or not parts:
        parts.append(rest)
    return parts
