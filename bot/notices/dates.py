"""Chinese dates as notices write them, including the broken forms scraping produces."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from bot.content.grammar import char_class, grammar

_N = grammar().numerals
_M = grammar().date_marks
# Zero as OCR and typists write it in years (二○二三, 二O二三).
_ZERO_LOOKALIKES = "○OＯ0"
# 〇零一二三四五六七八九 -> 0..9 (no spoken 两 in a written notice).
_CN_DIGIT: dict[str, int] = {
    **dict.fromkeys((*_N.zero_variants, _N.digits[0], *_ZERO_LOOKALIKES), 0),
    **{ch: value for value, ch in enumerate(_N.digits) if value},
}
_TEN = _N.ten
# 廿 = 二十, 卅 = 三十
_TENS_WORDS = {_N.twenty: _N.digits[2] + _TEN, _N.thirty: _N.digits[3] + _TEN}
# 一二三四五六七八九十廿卅
_CN_NUM = char_class((*_N.digits[1:], _TEN, *_TENS_WORDS))
_YEAR_DIGITS = char_class(_CN_DIGIT)
_WIDE_DIGITS = {cp: chr(cp - 0xFEE0) for cp in range(0xFF10, 0xFF1A)}

# What may surround a signature date: 2023年7月24日(星期一).
_WEEKDAY_CHARS = " ()()" + grammar().notices.weekday_word + "".join(grammar().weekdays)

MIN_YEAR = 1949
MAX_YEAR = 2100

_YR = re.escape(_M.year)
_MO = re.escape(_M.month)
_DAY = f"[{char_class(_M.day)}]"
# The usual day mark alone (2023-07-24日): 日.
_DAY1 = re.escape(_M.day[0])
_END = f"[{char_class(_M.end)}]"
_Y = r"(?P<y>(?:19|20)\d{2})"
_DATE_RE = re.compile(
    "|".join(
        [
            # 2023年7月24日, 2023年7月24 (no 日), 2023 年 07 月 24 号
            rf"(?P<ymd>{_Y}\s*{_YR}\s*(?P<m>\d{{1,2}})\s*{_MO}\s*(?P<d>\d{{1,2}})(?!\d)\s*{_DAY}?)",
            # 2023630日 (年 and 月 lost), 20231024日
            rf"(?P<compact>(?<!\d)(?P<cy>(?:19|20)\d{{2}})(?P<cmd>\d{{3,4}})\s*{_DAY})",
            # 2023-07-24, 2023/7/24, 2023.7.24
            r"(?P<sep>(?<![\d.])(?P<sy>(?:19|20)\d{2})\s*(?P<s>[-/.])\s*(?P<sm>\d{1,2})\s*(?P=s)"
            rf"\s*(?P<sd>\d{{1,2}})(?![\d.]\d)\s*{_DAY1}?)",
            # 二〇二三年七月二十四日
            rf"(?P<cn>(?P<ny>[{_YEAR_DIGITS}]{{4}})\s*{_YR}\s*(?P<nm>[{_CN_NUM}]{{1,3}})"
            rf"\s*{_MO}\s*(?P<nd>[{_CN_NUM}]{{1,4}})\s*{_DAY}?)",
            # 2023年8月底, 8月底, 8月末
            rf"(?P<mend>(?:(?P<ey>(?:19|20)\d{{2}})\s*{_YR}\s*)?(?<!\d)(?P<em>\d{{1,2}})\s*{_MO}\s*{_END})",
            # 年底 / 2023年底
            rf"(?P<yend>(?:(?P<yy>(?:19|20)\d{{2}})\s*)?{_YR}\s*{_END}(?!\s*{_MO}))",
            # 7月24日 (year from the caller)
            rf"(?P<md>(?<![\d{_YR}])(?P<mm>\d{{1,2}})\s*{_MO}\s*(?P<md_d>\d{{1,2}})\s*{_DAY})",
            # 七月二十四日
            rf"(?P<cnmd>(?<![{_CN_NUM}{char_class((*_N.zero_variants, _N.digits[0]))}{_YR}])"
            rf"(?P<cm>[{_CN_NUM}]{{1,3}})\s*{_MO}\s*(?P<cd>[{_CN_NUM}]{{1,4}})\s*{_DAY})",
        ]
    )
)


@dataclass(frozen=True)
class DateMatch:
    """A date found in a text: its span, the date, and whether the text gave the year."""

    start: int
    end: int
    value: date
    has_year: bool
    month_end: bool = False


def cn_number(text: str) -> int | None:
    """A Chinese numeral up to 99, or a digit string written in Chinese digits, as an int."""
    # 一 .. 九十九 (also 廿四, 卅一), or 二〇二三 -> 2023; None for anything else.
    if not text:
        return None
    if all(ch in _CN_DIGIT for ch in text) and len(text) > 1:
        value = 0
        for ch in text:
            value = value * 10 + _CN_DIGIT[ch]
        return value
    for short, long in _TENS_WORDS.items():
        text = text.replace(short, long)
    if text.isdigit():
        return int(text)
    if _TEN not in text:
        return _CN_DIGIT.get(text) if len(text) == 1 else None
    tens, _, units = text.partition(_TEN)
    tens_value = 1 if tens == "" else _CN_DIGIT.get(tens)
    units_value = 0 if units == "" else _CN_DIGIT.get(units)
    if tens_value is None or units_value is None or len(tens) > 1 or len(units) > 1:
        return None
    return tens_value * 10 + units_value


def _make(year: int | None, month: int | None, day: int | None) -> date | None:
    if year is None or month is None or day is None:
        return None
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _compact(year: int, digits: str) -> date | None:
    splits = [(digits[:2], digits[2:])] if len(digits) == 4 else [(digits[:1], digits[1:])]
    if len(digits) == 3:
        splits.append((digits[:2], digits[2:]))
    for month, day in splits:
        found = _make(year, int(month), int(day))
        if found is not None:
            return found
    return None


def _month_end(year: int | None, month: int) -> date | None:
    if year is None or not 1 <= month <= 12:
        return None
    return _make(year, month, calendar.monthrange(year, month)[1])


def _from_match(m: re.Match[str], default_year: int | None) -> DateMatch | None:
    value: date | None = None
    has_year = True
    month_end = False
    if m.group("ymd"):
        value = _make(int(m.group("y")), int(m.group("m")), int(m.group("d")))
    elif m.group("compact"):
        value = _compact(int(m.group("cy")), m.group("cmd"))
    elif m.group("sep"):
        value = _make(int(m.group("sy")), int(m.group("sm")), int(m.group("sd")))
    elif m.group("cn"):
        value = _make(cn_number(m.group("ny")), cn_number(m.group("nm")), cn_number(m.group("nd")))
    elif m.group("mend"):
        year_text = m.group("ey")
        has_year = year_text is not None
        value = _month_end(int(year_text) if year_text else default_year, int(m.group("em")))
        month_end = True
    elif m.group("yend"):
        year_text = m.group("yy")
        has_year = year_text is not None
        value = _month_end(int(year_text) if year_text else default_year, 12)
        month_end = True
    elif m.group("md"):
        has_year = False
        value = _make(default_year, int(m.group("mm")), int(m.group("md_d")))
    elif m.group("cnmd"):
        has_year = False
        value = _make(default_year, cn_number(m.group("cm")), cn_number(m.group("cd")))
    if value is None:
        return None
    return DateMatch(m.start(), m.end(), value, has_year, month_end)


def find_cn_dates(text: str, *, default_year: int | None = None) -> list[DateMatch]:
    """Every date in the text, in order. Dates without a year need ``default_year``."""
    text = text.translate(_WIDE_DIGITS)
    found: list[DateMatch] = []
    for m in _DATE_RE.finditer(text):
        match = _from_match(m, default_year)
        if match is not None:
            found.append(match)
    return found


def parse_cn_date(text: str, *, default_year: int | None) -> date | None:
    """The first date in ``text``; one without a year only with ``default_year``."""
    # Handles 2023年7月24日, 2023年7月24, 2023630日, 2023-07-24, 2023/7/24, 2023.7.24,
    # 二〇二三年七月二十四日 and, with ``default_year``, 7月24日 and 七月二十四日.
    found = find_cn_dates(text, default_year=default_year)
    return found[0].value if found else None


def whole_line_date(line: str) -> DateMatch | None:
    """The date when the line is nothing but a full date (a signature date line)."""
    stripped = line.strip()
    found = find_cn_dates(stripped)
    if len(found) == 1 and found[0].has_year and not found[0].month_end:
        match = found[0]
        rest = stripped[: match.start] + stripped[match.end :]
        if not rest.strip(_WEEKDAY_CHARS):
            return match
    return None
