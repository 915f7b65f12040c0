"""Strip a scraped notice of page chrome and injected spam, reading its metadata on the way."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.content.grammar import alternation, grammar
from bot.notices.dates import find_cn_dates
from bot.notices.patterns import NoticePatterns, default_patterns
from bot.notices.text import normalise_line

# A line this long, or with a full stop, is a sentence of the notice.
_SENTENCE_LENGTH = 60
_MAX_METADATA_LENGTH = 160
_MAX_SPAM_LINE_LENGTH = 30
_MAX_SHORT_SPAM_LINE = 12
# How far before a spam-looking fragment a word like 打击 makes it content.
_CONTEXT_WINDOW = 8
_BRACKETED = re.compile(r"【[^】]{0,20}】")
_WORDS = grammar().notices
# 来源:本站 分享到 微信: a value ends where page chrome or a bracket starts.
_TRAILING_CHROME = re.compile(rf"\s*({alternation(_WORDS.trailing_chrome)}|【).*$")
_VALUE_STRIP = f" |{_WORDS.vertical_bar}【】[]/,,;;"
_REPEATED_PUNCT = re.compile(r"([,。;:、!?])[,。;:、!?]+")
_LEADING_PUNCT = ",。;:、!?"
# 1. / (1) / 附件1
_ITEM_START = re.compile(
    rf"^(?:\d{{1,2}}\s*[.、]|[((]\d{{1,2}}[))]|{re.escape(_WORDS.attachment)}\s*\d)"
)


@dataclass(frozen=True)
class CleanResult:
    """The notice's lines without chrome or spam, what was removed, and the metadata read.

    ``metadata`` maps a meaning (``date``, ``author``, ``source``, ``issuer``,
    ``doc_number``, ``editor``, ``views``) to the first value found for it.
    """

    lines: tuple[str, ...]
    removed: tuple[str, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)


def clean(text: str, *, patterns: NoticePatterns | None = None) -> CleanResult:
    """Normalise every line, then drop breadcrumbs, metadata, footer chrome and spam."""
    p = patterns or default_patterns()
    lines = [line for line in (normalise_line(raw) for raw in text.splitlines()) if line]
    sentence_rows = [i for i, line in enumerate(lines) if _is_sentence(line)]
    first_sentence = sentence_rows[0] if sentence_rows else len(lines)
    last_sentence = sentence_rows[-1] if sentence_rows else -1

    kept: list[str] = []
    removed: list[str] = []
    metadata: dict[str, str] = {}
    for index, line in enumerate(lines):
        if is_spam_line(line, p):
            removed.append(line)
            continue
        line, fragments = remove_spam_fragments(line, p)
        removed.extend(fragments)
        if not line:
            continue
        if p.breadcrumb.search(line):
            removed.append(line)
            continue
        at_edge = index < first_sentence or index > last_sentence
        values = read_metadata_line(line, p, at_edge=at_edge)
        if values is not None:
            removed.append(line)
            for meaning, value in values.items():
                if value:
                    metadata.setdefault(meaning, value)
            continue
        if is_chrome_line(line, p):
            removed.append(line)
            continue
        if _is_empty_attachment_heading(line, lines[index + 1 :], p):
            removed.append(line)
            continue
        kept.append(line)
    return CleanResult(tuple(kept), tuple(removed), metadata)


def _is_sentence(line: str) -> bool:
    return "。" in line or len(line) >= _SENTENCE_LENGTH


def _legit(line: str, patterns: NoticePatterns) -> bool:
    context = patterns.spam_legit_context
    return context is not None and context.search(line) is not None


def is_spam_line(line: str, patterns: NoticePatterns) -> bool:
    """A line that is spam as a whole (see ``spam`` in patterns.yaml)."""
    # 新澳门游戏网站入口, 真人百家乐
    if len(line) > _MAX_SPAM_LINE_LENGTH or "。" in line or _legit(line, patterns):
        return False
    rest, fragments = remove_spam_fragments(line, patterns)
    if fragments and not rest:
        return True
    return len(line) <= _MAX_SHORT_SPAM_LINE and patterns.spam_line.search(line) is not None


def remove_spam_fragments(line: str, patterns: NoticePatterns) -> tuple[str, list[str]]:
    """The line without spam inserted into it, and the fragments taken out."""
    fragments: list[str] = []
    pieces: list[str] = []
    position = 0
    for match in patterns.spam_fragment.finditer(line):
        before = line[max(0, match.start() - _CONTEXT_WINDOW) : match.start()]
        if not match.group(0) or _legit(before, patterns):
            continue
        fragments.append(match.group(0))
        pieces.append(line[position : match.start()])
        position = match.end()
    if not fragments:
        return line, []
    pieces.append(line[position:])
    cleaned = _REPEATED_PUNCT.sub(r"\1", "".join(pieces)).lstrip(_LEADING_PUNCT).strip()
    if cleaned and not re.search(r"\w", cleaned):
        cleaned = ""
    return cleaned, fragments


def read_metadata_line(
    line: str, patterns: NoticePatterns, *, at_edge: bool
) -> dict[str, str] | None:
    """The metadata of a line made of ``key:value`` pairs, or None for any other line.

    Weak keys count only ``at_edge`` of the notice, before its first sentence or after
    its last, and the weak date keys only with a date as value.
    """
    # Weak keys: 时间:, 日期: (a meeting notice says 时间: in its body).
    if "。" in line or len(line) > _MAX_METADATA_LENGTH:
        return None
    keys = list(patterns.metadata_key.finditer(line))
    if not keys:
        return None
    values: dict[str, str] = {}
    lead = line[: keys[0].start()].strip(_VALUE_STRIP)
    if lead:
        dates = find_cn_dates(lead)
        if len(dates) != 1 or lead[: dates[0].start].strip() or lead[dates[0].end :].strip():
            return None
        values["date"] = lead
    strong = False
    for position, key_match in enumerate(keys):
        key = key_match.group(1)
        end = keys[position + 1].start() if position + 1 < len(keys) else len(line)
        value = _TRAILING_CHROME.sub("", line[key_match.end() : end])
        value = _BRACKETED.sub("", value).strip(_VALUE_STRIP)
        meaning = patterns.key_meaning[key]
        if key in patterns.weak_keys:
            if meaning == "date" and not find_cn_dates(value):
                return None
        else:
            strong = True
        values.setdefault(meaning, value)
    if not strong and not at_edge:
        return None
    return values


def is_chrome_line(line: str, patterns: NoticePatterns) -> bool:
    """Navigation, pagination, share buttons, print/close links, footers, map widgets."""
    if patterns.chrome_words.fullmatch(line):
        return True
    return any(regex.search(line) for regex in patterns.chrome_regex)


def _is_empty_attachment_heading(
    line: str, following: Sequence[str], patterns: NoticePatterns
) -> bool:
    match = patterns.attachment_heading.match(line)
    if match is None or line[match.end() :].strip():
        return False
    for nxt in following:
        if is_spam_line(nxt, patterns) or is_chrome_line(nxt, patterns):
            continue
        return not (_ITEM_START.match(nxt) or patterns.attachment_file.search(nxt))
    return True
