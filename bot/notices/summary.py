"""The plain-text summary: the notice's own sentences, chosen by its structure.

No sentence is cut, rewritten or moved: the summary is the title, the addressees,
then whole sentences and headings of the notice in the notice's order (the
purpose of the notice, the section headings, the points, the deadlines), each
with its structural label (its section or subsection number). When the budget is
short, the least important kinds go first, last ones first.

Layout (``render_summary_html`` relies on it): blocks separated by a blank line;
the first block is the title and the addressee line; then, when the introduction
gave any sentence, a block of those; then a block of the body's headings and
sentences, one per line.
"""

from __future__ import annotations

from bot.notices.model import Highlight, HighlightKind, NoticeDocument, ParsedNotice

DEFAULT_MAX_CHARS = 1000

# Dropped first when over budget, in this order.
_DROP_ORDER: tuple[HighlightKind, ...] = (
    "subheading",
    "lead",
    "heading",
    "purpose",
    "deadline",
    "point",
)


def summarise(notice: ParsedNotice | NoticeDocument, *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The summary of a notice.

    A ParsedNotice carries its summary (made from the full analysis when it was
    parsed); a NoticeDocument is summarised within ``max_chars``.
    """
    if isinstance(notice, ParsedNotice):
        return notice.summary
    return summarise_document(notice, max_chars=max_chars)


def summarise_document(document: NoticeDocument, *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Summarise an analysed notice within ``max_chars`` characters (title always kept)."""
    highlights = document.highlights
    lines = [_line(h) for h in highlights]
    # Highlights before the first body highlight belong to the introduction.
    first_body = _first_body_index(highlights)
    head = [document.title]
    if document.addressee_line:
        head.append(document.addressee_line)
    head_text = "\n".join(head)

    kept = [True] * len(highlights)
    sizes = {"intro": 0, "body": 0}
    counts = {"intro": 0, "body": 0}
    for index, line in enumerate(lines):
        part = "intro" if index < first_body else "body"
        sizes[part] += len(line)
        counts[part] += 1

    def length() -> int:
        total = len(head_text)
        for part in ("intro", "body"):
            if counts[part]:
                # a blank line before the block, a newline between its lines
                total += 2 + sizes[part] + counts[part] - 1
        return total

    for kind in _DROP_ORDER:
        if length() <= max_chars:
            break
        for index in range(len(highlights) - 1, -1, -1):
            if length() <= max_chars:
                break
            if kept[index] and highlights[index].kind == kind:
                kept[index] = False
                part = "intro" if index < first_body else "body"
                sizes[part] -= len(lines[index])
                counts[part] -= 1

    blocks = [head_text]
    intro = [lines[i] for i in range(first_body) if kept[i]]
    body = [lines[i] for i in range(first_body, len(lines)) if kept[i]]
    if intro:
        blocks.append("\n".join(intro))
    if body:
        blocks.append("\n".join(body))
    text = "\n\n".join(blocks)
    return text


def _first_body_index(highlights: tuple[Highlight, ...]) -> int:
    for index, highlight in enumerate(highlights):
        if highlight.kind != "purpose":
            return index
    return len(highlights)


def _line(highlight: Highlight) -> str:
    return f"{highlight.label}{highlight.text}"
