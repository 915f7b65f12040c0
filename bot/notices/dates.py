"""Chinese dates as notices write them, including the broken forms scraping produces."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

_CN_DIGIT = {
    "〇": 0,
    "零": 0,
    "○": 0,
    "O": 0,
    "Ｏ": 0,
    "0": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_NUM = "一二三四五六七八九十廿卅"
_WIDE_DIGITS = {cp: chr(cp - 0xFEE0) for cp in range(0xFF10, 0xFF1A)}

_WEEKDAY_CHARS = " ()()星期一二三四五六日天"

MIN_YEAR = 1949
MAX_YEAR = 2100

_Y = r"(?P<y>(?:19|20)\d{2})"
_DATE_RE = re.compile(
    "|".join(
        [
            # 2023年7月24日, 2023年7月24 (no 日), 2023 年 07 月 24 号
            rf"(?P<ymd>{_Y}\s*年\s*(?P<m>\d{{1,2}})\s*月\s*(?P<d>\d{{1,2}})(?!\d)\s*[日号]?)",
            # 2023630日 (年 and 月 lost), 20231024日
            r"(?P<compact>(?<!\d)(?P<cy>(?:19|20)\d{2})(?P<cmd>\d{3,4})\s*[日号])",
            # 2023-07-24, 2023/7/24, 2023.7.24
            r"(?P<sep>(?<![\d.])(?P<sy>(?:19|20)\d{2})\s*(?P<s>[-/.])\s*(?P<sm>\d{1,2})\s*(?P=s)"
            r"\s*(?P<sd>\d{1,2})(?![\d.]\d)\s*日?)",
            # 二〇二三年七月二十四日
            rf"(?P<cn>(?P<ny>[〇零○OＯ0一二三四五六七八九]{{4}})\s*年\s*(?P<nm>[{_CN_NUM}]{{1,3}})"
            rf"\s*月\s*(?P<nd>[{_CN_NUM}]{{1,4}})\s*[日号]?)",
            # 2023年8月底, 8月底, 8月末
            r"(?P<mend>(?:(?P<ey>(?:19|20)\d{2})\s*年\s*)?(?<!\d)(?P<em>\d{1,2})\s*月\s*[底末])",
            # 年底 / 2023年底
            r"(?P<yend>(?:(?P<yy>(?:19|20)\d{2})\s*)?年\s*[底末](?!\s*月))",
            # 7月24日 (year from the caller)
            r"(?P<md>(?<![\d年])(?P<mm>\d{1,2})\s*月\s*(?P<md_d>\d{1,2})\s*[日号])",
            # 七月二十四日
            rf"(?P<cnmd>(?<![{_CN_NUM}〇零年])(?P<cm>[{_CN_NUM}]{{1,3}})\s*月\s*"
            rf"(?P<cd>[{_CN_NUM}]{{1,4}})\s*[日号])",
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
    """一..九十九 (also 廿, 卅) or a digit string written with 〇..九 (二〇二三) as an int."""
    if not text:
        return None
    if all(ch in _CN_DIGIT for ch in text) and len(text) > 1:
        value = 0
        for ch in text:
            value = value * 10 + _CN_DIGIT[ch]
        return value
    text = text.replace("廿", "二十").replace("卅", "三十")
    if text.isdigit():
        return int(text)
    if "十" not in text:
        return _CN_DIGIT.get(text) if len(text) == 1 else None
    tens, _, units = text.partition("十")
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
    """The first date in ``text``.

    Handles 2023年7月24日, 2023年7月24, 2023630日, 2023-07-24, 2023/7/24, 2023.7.24,
    二〇二三年七月二十四日 and, with ``default_year``, 7月24日 and 七月二十四日.
    """
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
