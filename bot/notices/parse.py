"""Read a cleaned notice's structure: header, sections, points, deadlines, attachments."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from bot.content.grammar import alternation, char_class, grammar
from bot.notices.clean import CleanResult, clean
from bot.notices.dates import DateMatch, cn_number, find_cn_dates, whole_line_date
from bot.notices.model import (
    Deadline,
    Highlight,
    HighlightKind,
    NoticeDocument,
    ParsedNotice,
    Point,
    Section,
    Subsection,
)
from bot.notices.patterns import NoticePatterns, default_patterns
from bot.notices.summary import summarise_document
from bot.notices.text import CJK, decode_bytes, html_to_text, looks_like_html

_G = grammar()
_W = _G.notices
# 一 .. 十
_NUM = char_class(_G.numerals.counting)
SECTION_RE = re.compile(rf"^([{_NUM}]{{1,3}})、\s*(.*)$")
SUBSECTION_RE = re.compile(rf"^[((]([{_NUM}]{{1,3}})[))]\s*(.*)$")
ITEM_RE = re.compile(r"^(?:(\d{1,2})\s*[.、](?!\d)|[((](\d{1,2})[))]|([①-⑳]))\s*(.*)$")
# 一是, 二是
ORDINAL_RE = re.compile(rf"(?:^|(?<=[。;,:!?\s]))([{_NUM}]{{1,2}}){re.escape(_G.ordinal_suffix)}")
# 合律协〔2018〕12号, 深律通[2023]第5号
DOC_NUMBER_RE = re.compile(
    rf"([{CJK}]{{1,12}}?)\s*[〔\[［(（【〖﹝]\s*((?:19|20)\d{{2}})\s*[〕\]］)）】〗﹞]"
    rf"\s*({re.escape(_W.doc_number_prefix)}?\s*\d{{1,4}}\s*{re.escape(_W.doc_number_suffix)})"
)
# A new line before a marker or a closing formula glued to the previous sentence.
_INLINE_BREAK = re.compile(
    rf"(?<=[。;:!?])\s*(?=[{_NUM}]{{1,3}}、|[(][{_NUM}]{{1,3}}[)]|\d{{1,2}}[.、](?!\d)"
    rf"|[(]\d{{1,2}}[)]|[①-⑳]|{alternation(_W.closing_lines)})"
)
_INLINE_ADDRESSEE = re.compile(r"^([^。::]{2,60}?)[::](.+)$")
_SENTENCE_RE = re.compile(r"[^。!?!?]+(?:[。!?!?]+[”’」』)]*|$)")
_TERMINATORS = "。!?;!?"
_NAME_TRIM = " ;;,,。"
_PARENS = " ()()"
_COLONS = ":: "
_LABEL_CHARS = "()()、"
# 8月1日至8月31日, 8月1日—8月31日
_RANGE_CHARS = "".join(_W.range_words) + "—-~~ "
_TRIM = " 。,;:、!?,;:.!?"
_SHORT_HEADING = 50
_TITLE_SCAN = 20
_TITLE_MAX = 100
_SHORT_COLON_HEADING = 15
_LEAD_IN_MAX = 80
_PURPOSE_SHORT = 30
_PURPOSE_CONTEXT_MAX = 200
_PAST_TOLERANCE = timedelta(days=90)
# A list "asks" when most items carry a request (要 as a modal, not in 要求/要点).
_REQUEST_WORDS = re.compile(
    "|".join(
        [
            *(
                (rf"(?<![{char_class(g.not_after)}])" if g.not_after else "")
                + re.escape(g.word)
                + (rf"(?![{char_class(g.not_before)}])" if g.not_before else "")
                for g in _W.guarded_request_words
            ),
            alternation(_W.request_words),
        ]
    )
)
_T = _G.time_of_day
# A date followed by (a time and) a "before": 8月31日(星期四)下午5点前, 8月31日17时之前.
_DEADLINE_AFTER = re.compile(
    r"^\s*(?:[((][^()()]{0,8}[))])?\s*"
    rf"(?:(?:{alternation(_W.deadline_day_parts)})?\s*\d{{1,2}}\s*"
    rf"(?:[:{char_class(_T.hour)}]\s*(?:\d{{1,2}}\s*{re.escape(_T.minute)}?)?)?)?\s*"
    rf"(?:{re.escape(_W.deadline_before_word)}(?!{re.escape(_W.deadline_not_before)})"
    rf"|{alternation(_W.deadline_after)})"
)
# A date preceded by a "by": 请于8月31日, 截止日期为8月31日.
_DEADLINE_BEFORE = re.compile(rf"(?:{alternation(_W.deadline_before)})\s*$")
_RANGE_BEFORE = re.compile(rf"(?:{alternation(_W.range_words)}|—|-|~|~)\s*$")
_RANGE_ACTIONS = re.compile(alternation(_W.range_actions))


def parse_notice(data: bytes | str, *, patterns: NoticePatterns | None = None) -> ParsedNotice:
    """Parse a notice given as bytes (UTF-8/GB18030, text or HTML) or as text."""
    document = analyse(data, patterns=patterns)
    return ParsedNotice(
        title=document.title,
        doc_number=document.doc_number,
        published=document.published,
        issuer=document.issuer,
        addressees=document.addressees,
        sections=document.sections,
        points=document.points,
        deadlines=document.deadlines,
        attachments=document.attachments,
        removed=document.removed,
        summary=summarise_document(document),
    )


def analyse(data: bytes | str, *, patterns: NoticePatterns | None = None) -> NoticeDocument:
    """Decode, clean and read the structure of a notice."""
    p = patterns or default_patterns()
    text = decode_bytes(data) if isinstance(data, bytes) else data
    if looks_like_html(text):
        text = html_to_text(text)
    return analyse_clean(clean(text, patterns=p), patterns=p)


def split_sentences(text: str) -> list[str]:
    """Whole sentences, each with its closing punctuation (and closing quote)."""
    return [s.strip() for s in _SENTENCE_RE.findall(text) if s.strip()]


def normalise_doc_number(text: str) -> str | None:
    """The document number in its standard form, or None when the text holds none."""
    # 合律协[2018]12号 / (2018) / 〔2018〕 → 合律协〔2018〕12号
    match = DOC_NUMBER_RE.search(text)
    if match is None:
        return None
    number = re.sub(r"\s+", "", match.group(3))
    return f"{match.group(1)}〔{match.group(2)}〕{number}"


# --- header -------------------------------------------------------------------------


def _is_doc_number_line(line: str) -> bool:
    match = DOC_NUMBER_RE.search(line)
    if match is None:
        return False
    rest = (line[: match.start()] + line[match.end() :]).strip(" 　")
    return len(rest) <= 12 and "。" not in rest


def _is_title_like(line: str, p: NoticePatterns) -> bool:
    if not 4 <= len(line) <= _TITLE_MAX or "。" in line or line.endswith((":", ":")):
        return False
    if len(line.split()) > 2 or _is_doc_number_line(line) or whole_line_date(line):
        return False
    return any(word in line for word in _W.title_words) or p.title_ending.search(line) is not None


def _is_red_head(line: str) -> bool:
    return len(line) <= 30 and line.endswith(_W.red_head_suffix) and "。" not in line


def _find_title(lines: Sequence[str], p: NoticePatterns) -> int:
    """The title is the first title-like line before the body's first sentence."""
    for index, line in enumerate(lines[:_TITLE_SCAN]):
        if "。" in line or len(line) > _TITLE_MAX:
            break
        if _is_title_like(line, p):
            return index
    for index, line in enumerate(lines[:_TITLE_SCAN]):
        if not (_is_doc_number_line(line) or _is_red_head(line) or whole_line_date(line)):
            return index
    return 0


def _addressee(line: str, p: NoticePatterns) -> tuple[str, str, str | None] | None:
    """(addressees, the line as written, body text that follows on the same line)."""
    if (
        SECTION_RE.match(line)
        or SUBSECTION_RE.match(line)
        or ITEM_RE.match(line)
        or ORDINAL_RE.match(line)
    ):
        return None
    if "。" not in line and len(line) <= 80 and line.endswith((":", ":")):
        return line[:-1].strip(), line, None
    if p.addressee_opener.match(line):
        if "。" not in line and len(line) <= 60 and not line.endswith(tuple(_TERMINATORS)):
            return line.strip(), line, None
        inline = _INLINE_ADDRESSEE.match(line)
        if inline is not None:
            head = inline.group(1).strip()
            return head, head + ":", inline.group(2).strip()
    return None


# --- tail: attachments, signature, closing ---------------------------------------------


_ATTACHMENT = re.escape(_W.attachment)
# 附件1: / 附件二 / 附件:
_ATTACHMENT_LABEL = re.compile(rf"^{_ATTACHMENT}\s*(?:\d{{1,2}}|[{_NUM}]{{1,3}})?\s*[::]?")
_ATTACHMENT_NUMBER = re.compile(rf"^{_ATTACHMENT}\s*(\d{{1,2}}|[{_NUM}]{{1,3}})")


def _attachment_name(text: str) -> str:
    text = _ATTACHMENT_LABEL.sub("", text.strip())
    # In a list of names "1.2023年度报名表" is item 1, not the number 1.2.
    text = re.sub(r"^(?:\d{1,2}\s*[.、]|[((]\d{1,2}[))]|[①-⑳])\s*", "", text)
    return text.strip(_NAME_TRIM)


def _unique_names(names: list[str], p: NoticePatterns) -> list[str]:
    """Names in order, without the download list repeating the attachment list."""
    # 附件:报名表 and, in the download list, 报名表.docx: one name.
    result: list[str] = []
    stems: set[str] = set()
    for name in names:
        stem = p.attachment_file.split(name)[0].strip() if name else name
        if name and stem not in stems:
            stems.add(stem)
            result.append(name)
    return result


def _extract_attachments(lines: list[str], p: NoticePatterns) -> tuple[list[str], list[str]]:
    """(lines without the attachment blocks, attachment names)."""
    kept: list[str] = []
    names: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        heading = p.attachment_heading.match(line)
        if heading is None:
            kept.append(line)
            index += 1
            continue
        rest = line[heading.end() :].strip()
        number = _ATTACHMENT_NUMBER.match(line)
        if rest:
            names.append(_attachment_name(rest))
        index += 1
        expect_name = not rest and number is None
        while index < len(lines):
            nxt = lines[index]
            item_like = ITEM_RE.match(nxt) is not None or p.attachment_file.search(nxt) is not None
            bare_name = (expect_name or not rest) and len(nxt) <= 60 and "。" not in nxt
            if p.attachment_heading.match(nxt) or whole_line_date(nxt):
                break
            if not (item_like and "。" not in nxt) and not bare_name:
                break
            if bare_name and not item_like and not expect_name:
                break
            names.append(_attachment_name(nxt))
            expect_name = False
            rest = nxt
            index += 1
    return kept, _unique_names(names, p)


_SIGNATURE_SCAN = 4
_SIGNATURE_LINE_MAX = 40


def _is_org_line(line: str, p: NoticePatterns) -> bool:
    if len(line) > _SIGNATURE_LINE_MAX or any(ch in line for ch in "。,;:,;:!?"):
        return False
    if SECTION_RE.match(line) or SUBSECTION_RE.match(line) or ITEM_RE.match(line):
        return False
    if p.closing.match(line) or line.startswith(("(", "(")):
        return False
    return p.org_ending.search(line) is not None


@dataclass
class _Tail:
    issuer: str | None = None
    signed: date | None = None
    trailer: list[str] = field(default_factory=list)


def _extract_signature(lines: list[str], p: NoticePatterns) -> tuple[list[str], _Tail]:
    tail = _Tail()
    start = max(0, len(lines) - _SIGNATURE_SCAN)
    for index in range(len(lines) - 1, start - 1, -1):
        line = lines[index]
        match = whole_line_date(line)
        issuer_inline: str | None = None
        if match is None:
            dates = find_cn_dates(line)
            if dates and dates[-1].has_year and not line[dates[-1].end :].strip(_PARENS):
                head = line[: dates[-1].start].strip()
                if head and _is_org_line(head, p) and whole_line_date(line[dates[-1].start :]):
                    match, issuer_inline = dates[-1], head
        if match is None:
            continue
        tail.signed = match.value
        tail.trailer = lines[index + 1 :]
        issuers: list[str] = [issuer_inline] if issuer_inline else []
        cut = index
        if not issuers:
            for back in range(index - 1, max(-1, index - 3), -1):
                if not _is_org_line(lines[back], p):
                    break
                issuers.insert(0, lines[back])
                cut = back
        tail.issuer = "、".join(issuers) or None
        return lines[:cut], tail
    return lines, tail


# --- body ------------------------------------------------------------------------------


def _is_heading_like(line: str) -> bool:
    if not 4 <= len(line) <= _SHORT_HEADING:
        return False
    if any(ch in line for ch in "。;!?;!?") or line.endswith((",", "、", ":", ",", ":")):
        return False
    if SECTION_RE.match(line) or SUBSECTION_RE.match(line) or ITEM_RE.match(line):
        return False
    if whole_line_date(line) or ORDINAL_RE.match(line):
        return False
    return re.search(f"[{CJK}]", line) is not None


def _infer_missing_sections(body: list[str]) -> list[str]:
    """Give a lost section number back to the unnumbered heading line where it belongs."""
    # Sections 一、 and 三、 with an unnumbered heading between them: that one is 二、.
    result = list(body)
    expected = 1
    previous = -1
    for index, line in enumerate(body):
        match = SECTION_RE.match(line)
        if match is None:
            continue
        number = cn_number(match.group(1))
        if number is None:
            continue
        if number == expected + 1:
            for candidate in range(previous + 1, index):
                if _is_heading_like(result[candidate]):
                    result[candidate] = f"{_to_cn(expected)}、{result[candidate]}"
                    break
        if number >= expected:
            expected = number + 1
        previous = index
    return result


def _to_cn(number: int) -> str:
    # 2 -> 二, 10 -> 十, 12 -> 十二, 21 -> 二十一
    digits, ten = _G.numerals.digits, _G.numerals.ten
    if number <= 10:
        return ten if number == 10 else digits[number]
    tens, units = divmod(number, 10)
    return ("" if tens == 1 else digits[tens]) + ten + (digits[units] if units else "")


def _sentence_end(text: str, start: int = 0) -> int:
    """The index after the first sentence of ``text[start:]`` (with closing quotes)."""
    stops = [i for i in (text.find(ch, start) for ch in _TERMINATORS) if i != -1]
    if not stops:
        return len(text)
    end = min(stops) + 1
    while end < len(text) and text[end] in "。!?”’」』)":
        end += 1
    return end


def _split_heading(text: str) -> tuple[str, str, str, bool]:
    """(heading, heading sentence as written, rest of the line, rest starts mid-sentence).

    A short heading before a colon is split off the rest of the line; its sentence is
    the whole of it, so the summary never quotes half a sentence.
    """
    # "报名方式:请于…报送。" gives the heading 报名方式 and the rest 请于…报送。
    text = text.strip()
    colon = re.search(r"[::]", text)
    first_stop = min((text.find(ch) for ch in _TERMINATORS if ch in text), default=-1)
    if (
        colon is not None
        and 0 < colon.start() <= _SHORT_COLON_HEADING
        and (first_stop == -1 or colon.start() < first_stop)
        and text[colon.end() :].strip()
    ):
        sentence = text[: _sentence_end(text, colon.end())]
        return text[: colon.start()].strip(), sentence, text[colon.end() :].strip(), True
    if first_stop == -1:
        return text.rstrip(_COLONS), text, "", False
    end = _sentence_end(text)
    return text[:first_stop].strip(), text[:end].strip(), text[end:].strip(), False


@dataclass
class _Unit:
    """One piece of the body in reading order."""

    kind: str  # intro | heading | subheading | para
    label: str
    text: str
    block: int
    # The first sentence was quoted by the heading before it (a "heading:" line).
    skip_first: bool = False

    def sentences(self) -> list[tuple[int, str]]:
        found = list(enumerate(split_sentences(self.text)))
        return found[1:] if self.skip_first else found


@dataclass
class _Block:
    level: int  # 0 intro, 1 section, 2 subsection
    number: str
    heading: str
    paragraphs: list[str] = field(default_factory=list)


def _build_blocks(body: list[str]) -> tuple[list[_Block], list[_Unit]]:
    blocks = [_Block(0, "", "")]
    units: list[_Unit] = []
    has_sections = any(SECTION_RE.match(line) for line in body)
    for line in body:
        covered = False
        section = SECTION_RE.match(line)
        sub = SUBSECTION_RE.match(line)
        if section is not None or (sub is not None and not has_sections):
            match = section or sub
            assert match is not None
            heading, sentence, rest, covered = _split_heading(match.group(2))
            number = match.group(1)
            label = f"{number}、" if section is not None else f"({number})"
            blocks.append(_Block(1, number, heading))
            units.append(_Unit("heading", label, sentence, len(blocks) - 1))
        elif sub is not None and len(blocks) > 1:
            heading, sentence, rest, covered = _split_heading(sub.group(2))
            blocks.append(_Block(2, sub.group(1), heading))
            units.append(_Unit("subheading", f"({sub.group(1)})", sentence, len(blocks) - 1))
        else:
            rest = line
        if rest:
            blocks[-1].paragraphs.append(rest)
            kind = "intro" if blocks[-1].level == 0 else "para"
            units.append(_Unit(kind, "", rest, len(blocks) - 1, covered))
    return blocks, units


def _sections(blocks: list[_Block]) -> tuple[Section, ...]:
    sections: list[Section] = []
    pending: _Block | None = None
    subs: list[Subsection] = []
    for block in blocks:
        if block.level == 1:
            if pending is not None:
                sections.append(_section(pending, subs))
            pending, subs = block, []
        elif block.level == 2:
            subs.append(Subsection(block.number, block.heading, "\n".join(block.paragraphs)))
    if pending is not None:
        sections.append(_section(pending, subs))
    return tuple(sections)


def _section(block: _Block, subs: list[Subsection]) -> Section:
    return Section(block.number, block.heading, "\n".join(block.paragraphs), tuple(subs))


# --- points ------------------------------------------------------------------------------

_Key = tuple[int, int]  # (unit index, sentence index); sentence -1 is the whole heading


@dataclass
class _Candidate:
    number: int
    text: str
    key: _Key
    block: int


def _trim(text: str) -> str:
    return text.strip().strip(_TRIM).strip()


def _ordinal_points(units: list[_Unit]) -> list[_Candidate]:
    found: list[_Candidate] = []
    for u_index, unit in enumerate(units):
        if unit.kind == "heading":
            continue
        for s_index, sentence in unit.sentences():
            markers = list(ORDINAL_RE.finditer(sentence))
            for m_index, marker in enumerate(markers):
                number = cn_number(marker.group(1))
                if number is None:
                    continue
                end = markers[m_index + 1].start() if m_index + 1 < len(markers) else len(sentence)
                text = _trim(sentence[marker.end() : end])
                found.append(_Candidate(number, text, (u_index, s_index), unit.block))
    return _longest(_runs(found, same_block=False))


def _runs(found: list[_Candidate], *, same_block: bool) -> list[list[_Candidate]]:
    """Runs of candidates numbered 1, 2, 3… in reading order."""
    runs: list[list[_Candidate]] = []
    current: list[_Candidate] = []
    for cand in found:
        continues = (
            current
            and cand.number == current[-1].number + 1
            and (not same_block or cand.block == current[-1].block)
        )
        if continues:
            current.append(cand)
        elif cand.number == 1:
            if current:
                runs.append(current)
            current = [cand]
    if current:
        runs.append(current)
    return runs


def _longest(runs: list[list[_Candidate]]) -> list[_Candidate]:
    """The longest run of at least two; the first of equals."""
    best: list[_Candidate] = []
    for run in runs:
        if len(run) >= 2 and len(run) > len(best):
            best = run
    return best


def _asking(run: list[_Candidate]) -> int:
    return sum(1 for c in run if _REQUEST_WORDS.search(c.text))


def _asks(run: list[_Candidate]) -> bool:
    return _asking(run) * 2 >= len(run)


def _most_asking(runs: list[list[_Candidate]]) -> list[_Candidate]:
    """Of the lists that ask, the one with most requests (then the longest, then the first)."""
    best: list[_Candidate] = []
    for run in runs:
        if len(run) >= 2 and _asks(run) and (_asking(run), len(run)) > (_asking(best), len(best)):
            best = run
    return best


def _item_points(units: list[_Unit]) -> list[_Candidate]:
    found: list[_Candidate] = []
    for u_index, unit in enumerate(units):
        if unit.kind not in ("para", "intro"):
            continue
        match = ITEM_RE.match(unit.text)
        if match is None:
            continue
        number_text = match.group(1) or match.group(2)
        number = int(number_text) if number_text else ord(match.group(3)) - ord("①") + 1
        sentences = split_sentences(unit.text)
        first = ITEM_RE.match(sentences[0]) if sentences else None
        text = _trim(first.group(4)) if first is not None else ""
        if text:
            found.append(_Candidate(number, text, (u_index, 0), unit.block))
    return _most_asking(_runs(found, same_block=True))


def _heading_points(units: list[_Unit], kind: str) -> list[_Candidate]:
    found: list[_Candidate] = []
    for u_index, unit in enumerate(units):
        if unit.kind != kind:
            continue
        number = cn_number(unit.label.strip(_LABEL_CHARS))
        text = _trim(unit.text)
        if number is not None and text:
            found.append(_Candidate(number, text, (u_index, -1), unit.block))
    return _most_asking(_runs(found, same_block=False))


def _points(units: list[_Unit]) -> list[_Candidate]:
    for finder in (
        _ordinal_points,
        _item_points,
        lambda u: _heading_points(u, "subheading"),
        lambda u: _heading_points(u, "heading"),
    ):
        run = finder(units)
        if run:
            return run
    return []


# --- deadlines -----------------------------------------------------------------------------


def _strip_marker(text: str) -> str:
    for regex in (SECTION_RE, SUBSECTION_RE, ITEM_RE):
        match = regex.match(text)
        if match is not None:
            return match.group(match.lastindex or 0)
    return text


def _infer_year(match: DateMatch, published: date | None) -> date:
    value = match.value
    if not match.has_year and published is not None and published - value > _PAST_TOLERANCE:
        try:
            return value.replace(year=value.year + 1)
        except ValueError:
            return value + timedelta(days=365)
    return value


def _deadline_matches(sentence: str, published: date | None) -> list[DateMatch]:
    default_year = published.year if published else None
    chosen: list[DateMatch] = []
    dates = find_cn_dates(sentence, default_year=default_year)
    for index, match in enumerate(dates):
        before = sentence[max(0, match.start - 8) : match.start]
        after = sentence[match.end : match.end + 16]
        is_range_end = (
            index > 0
            and _RANGE_BEFORE.search(sentence[dates[index - 1].end : match.start]) is not None
            and not sentence[dates[index - 1].end : match.start].strip(_RANGE_CHARS)
            and _RANGE_ACTIONS.search(sentence) is not None
        )
        if _DEADLINE_AFTER.match(after) or _DEADLINE_BEFORE.search(before) or is_range_end:
            chosen.append(match)
    return chosen


def _deadlines(units: list[_Unit], published: date | None) -> tuple[list[Deadline], set[_Key]]:
    deadlines: list[Deadline] = []
    keys: set[_Key] = set()
    seen: set[tuple[date, str]] = set()
    for u_index, unit in enumerate(units):
        is_heading = unit.kind in ("heading", "subheading")
        for s_index, sentence in [(-1, unit.text)] if is_heading else unit.sentences():
            matches = _deadline_matches(sentence, published)
            if not matches:
                continue
            key = (u_index, s_index)
            keys.add(key)
            clean_sentence = _strip_marker(sentence)
            offset = len(sentence) - len(clean_sentence)
            pieces = _clauses(clean_sentence, [m.start - offset for m in matches])
            for match, piece in zip(matches, pieces, strict=True):
                item = (_infer_year(match, published), _trim(piece))
                if item[1] and item not in seen:
                    seen.add(item)
                    deadlines.append(Deadline(*item))
    return deadlines, keys


def _clauses(sentence: str, starts: list[int]) -> list[str]:
    """One piece of the sentence per deadline: all of it when there is one."""
    if len(starts) == 1:
        return [sentence]
    cuts = [0]
    for start in starts[1:]:
        boundary = max(sentence.rfind(ch, 0, max(start, 0)) for ch in ",;,;")
        cuts.append(boundary + 1 if boundary >= cuts[-1] else max(start, cuts[-1]))
    cuts.append(len(sentence))
    return [sentence[a:b] for a, b in itertools.pairwise(cuts)]


# --- purpose -----------------------------------------------------------------------------


def _purpose(intro: list[str], p: NoticePatterns) -> list[str]:
    for paragraph in reversed(intro):
        sentences = split_sentences(paragraph)
        for index in range(len(sentences) - 1, -1, -1):
            if p.purpose.search(sentences[index]) is None:
                continue
            chosen = [sentences[index]]
            previous = sentences[index - 1] if index > 0 else None
            if (
                len(sentences[index]) < _PURPOSE_SHORT
                and previous is not None
                and len(previous) <= _PURPOSE_CONTEXT_MAX
            ):
                chosen.insert(0, previous)
            return chosen
    return []


# --- the whole notice ----------------------------------------------------------------------


def _split_inline(lines: list[str]) -> list[str]:
    result: list[str] = []
    for line in lines:
        result.extend(part.strip() for part in _INLINE_BREAK.split(line) if part.strip())
    return result


def _issuer(
    metadata: dict[str, str], tail: _Tail, red_head: str | None, p: NoticePatterns
) -> str | None:
    for meaning in ("issuer", "author", "source"):
        value = metadata.get(meaning, "").strip()
        if value and value not in p.issuer_placeholders:
            return value
    if tail.issuer:
        return tail.issuer
    return red_head


def analyse_clean(
    cleaned: CleanResult, *, patterns: NoticePatterns | None = None
) -> NoticeDocument:
    """Read the structure of an already cleaned notice."""
    p = patterns or default_patterns()
    lines = list(cleaned.lines)
    removed = list(cleaned.removed)
    metadata = dict(cleaned.metadata)
    doc_number = normalise_doc_number(metadata["doc_number"]) if "doc_number" in metadata else None
    red_head: str | None = None

    title_index = _find_title(lines, p)
    for line in lines[:title_index]:
        if _is_doc_number_line(line):
            doc_number = doc_number or normalise_doc_number(line)
        elif _is_red_head(line):
            red_head = red_head or line[: -len(_W.red_head_suffix)].strip() or None
        else:
            removed.append(line)
    title = lines[title_index] if lines else ""
    rest = lines[title_index + 1 :]
    if (
        rest
        and not p.title_ending.search(title)
        and len(rest[0]) <= 30
        and "。" not in rest[0]
        and p.title_ending.search(rest[0])
        and not p.addressee_opener.match(rest[0])
    ):
        title, rest = title + rest[0], rest[1:]

    # Between the title and the body: a repeated title, the 文号, the addressees.
    addressees: str | None = None
    addressee_line: str | None = None
    while rest:
        line = rest[0]
        if line == title:
            removed.append(line)
        elif _is_doc_number_line(line):
            doc_number = doc_number or normalise_doc_number(line)
        else:
            found = _addressee(line, p)
            if found is not None:
                addressees, addressee_line, body_start = found
                rest = ([body_start] if body_start else []) + rest[1:]
            break
        rest = rest[1:]

    rest = _split_inline(rest)
    rest, attachments = _extract_attachments(rest, p)
    rest, tail = _extract_signature(rest, p)
    closing_at = next((i for i in range(len(rest) - 1, -1, -1) if p.closing.match(rest[i])), None)
    body = rest if closing_at is None else rest[:closing_at] + rest[closing_at + 1 :]
    body = body + tail.trailer
    body = _infer_missing_sections(body)
    blocks, units = _build_blocks(body)

    published = None
    if "date" in metadata:
        found_dates = find_cn_dates(metadata["date"])
        published = found_dates[0].value if found_dates else None
    published = published or tail.signed

    point_run = _points(units)
    deadlines, deadline_keys = _deadlines(units, published)
    intro = [unit.text for unit in units if unit.kind == "intro"]
    highlights = _highlights(units, point_run, deadline_keys, intro, p)

    return NoticeDocument(
        title=title,
        doc_number=doc_number,
        published=published,
        issuer=_issuer(metadata, tail, red_head, p),
        addressees=addressees,
        addressee_line=addressee_line,
        intro=tuple(intro),
        sections=_sections(blocks),
        points=tuple(Point(i + 1, c.text) for i, c in enumerate(point_run)),
        deadlines=tuple(deadlines),
        attachments=tuple(attachments),
        removed=tuple(removed),
        highlights=highlights,
        metadata=metadata,
    )


def _highlights(
    units: list[_Unit],
    point_run: list[_Candidate],
    deadline_keys: set[_Key],
    intro: list[str],
    p: NoticePatterns,
) -> tuple[Highlight, ...]:
    point_keys = {c.key for c in point_run}
    first_point = min(point_keys) if point_keys else None
    structured = bool(point_keys) or any(u.kind != "intro" for u in units)
    if structured:
        purpose = set(_purpose(intro, p))
    else:
        # A notice of plain paragraphs: its sentences are all it has to say.
        purpose = {sentence for paragraph in intro for sentence in split_sentences(paragraph)}
    result: list[Highlight] = []
    previous: tuple[_Key, str] | None = None
    for u_index, unit in enumerate(units):
        if unit.kind in ("heading", "subheading"):
            key = (u_index, -1)
            kind: HighlightKind = "heading" if unit.kind == "heading" else "subheading"
            if key in point_keys:
                kind = "point"
            elif key in deadline_keys and kind == "subheading":
                kind = "deadline"
            result.append(Highlight(kind, unit.text, unit.label))
            previous = None
            continue
        for s_index, sentence in unit.sentences():
            key = (u_index, s_index)
            if key in point_keys:
                if (
                    key == first_point
                    and previous is not None
                    and len(previous[1]) <= _LEAD_IN_MAX
                    and (not result or result[-1].text != previous[1])
                ):
                    result.append(Highlight("lead", previous[1]))
                result.append(Highlight("point", sentence))
            elif key in deadline_keys:
                result.append(Highlight("deadline", sentence))
            elif unit.kind == "intro" and sentence in purpose:
                result.append(Highlight("purpose", sentence))
            previous = (key, sentence)
    return tuple(result)
