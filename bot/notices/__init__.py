"""Notices: decode -> clean -> parse structure -> summarise -> render (pure functions).

``parse_notice(bytes_or_text)`` gives a :class:`ParsedNotice`; its ``summary`` is
the plain-text summary and ``render_summary_html`` turns it into a Telegram message
that ``split_message`` cuts to size.
"""

from __future__ import annotations

from bot.notices.clean import CleanResult, clean
from bot.notices.dates import DateMatch, find_cn_dates, parse_cn_date
from bot.notices.model import (
    Deadline,
    Highlight,
    NoticeDocument,
    ParsedNotice,
    Point,
    Section,
    Subsection,
)
from bot.notices.parse import analyse, analyse_clean, normalise_doc_number, parse_notice
from bot.notices.patterns import (
    LABEL_KEYS,
    NoticePatterns,
    default_labels,
    default_patterns,
    load_patterns,
)
from bot.notices.render import TELEGRAM_LIMIT, render_summary_html, split_message
from bot.notices.summary import summarise
from bot.notices.text import decode_bytes, html_to_text, normalise_line, to_simplified

__all__ = [
    "LABEL_KEYS",
    "TELEGRAM_LIMIT",
    "CleanResult",
    "DateMatch",
    "Deadline",
    "Highlight",
    "NoticeDocument",
    "NoticePatterns",
    "ParsedNotice",
    "Point",
    "Section",
    "Subsection",
    "analyse",
    "analyse_clean",
    "clean",
    "decode_bytes",
    "default_labels",
    "default_patterns",
    "find_cn_dates",
    "html_to_text",
    "load_patterns",
    "normalise_doc_number",
    "normalise_line",
    "parse_cn_date",
    "parse_notice",
    "render_summary_html",
    "split_message",
    "summarise",
    "to_simplified",
]
