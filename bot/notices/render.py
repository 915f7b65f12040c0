"""Telegram HTML for a parsed notice; ``split_message`` (bot.htmltext) cuts it into messages."""

from __future__ import annotations

import html
from collections.abc import Mapping

from bot.htmltext import TELEGRAM_TEXT_LIMIT, split_html
from bot.notices.model import ParsedNotice
from bot.notices.parse import SECTION_RE, SUBSECTION_RE
from bot.notices.patterns import LABEL_KEYS

TELEGRAM_LIMIT = TELEGRAM_TEXT_LIMIT
# One splitter for the whole bot: the sender uses the same function.
split_message = split_html


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
