"""Dates as people type them in a Chinese chat, parsed strictly (pure, no I/O).

``parse_date(text, today)`` understands the forms in ``EXAMPLES`` and nothing else, so a
typo is an error listing the forms rather than a silently wrong deadline. Relative forms
count from ``today``, which the caller computes in the chat's time zone. The words come
from ``content/grammar/zh.yaml``, whose ``dates`` section lists every form and its meaning.

Semantics worth knowing:
- A month and day without a year: the next occurrence on or after today.
- Weeks run Monday to Sunday. "Next Friday" is the Friday of next calendar week, "this
  Friday" this week's, even if it has passed; a bare weekday is the next one on or after
  today.
- Month end and year end are the last days of the month and of December.
- "N days/weeks/months after" count from today; a month on is the same day, clamped to
  the month's end.
- A time of day may follow any date.
- Impossible dates (30 February, month 13) are errors of their own kind.

``dateparser`` was tried first: it misses several of these forms and reads ``8.31`` as a
time of day, so this small strict parser is the one we use.
"""

# dateparser misses 8月31日, 下周五 and 月底 (the forms are listed in content/grammar/zh.yaml).

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Literal

from bot.content.grammar import alternation, char_class, grammar

_G = grammar()
MIN_YEAR = 2000
MAX_YEAR = 2100
END_OF_DAY = time(23, 59, 59)

# One input of every accepted form, for error messages (these are inputs, not prose).
EXAMPLES: tuple[str, ...] = _G.dates.examples

ErrorKind = Literal["empty", "unrecognised", "invalid", "out_of_range"]


class DateError(ValueError):
    """The text is not a date we accept; ``kind`` says why, ``EXAMPLES`` what would be."""

    def __init__(self, kind: ErrorKind, text: str) -> None:
        super().__init__(f"{kind}: {text!r}")
        self.kind: ErrorKind = kind
        self.text = text
        self.examples = EXAMPLES


@dataclass(frozen=True, slots=True)
class ParsedDate:
    """A calendar day and, if one was given, a time of day (wall clock in the chat's zone)."""

    day: date
    time_of_day: time | None = None

    def at(self, tz: tzinfo, default: time = END_OF_DAY) -> datetime:
        """The moment in ``tz``: the given time, else ``default`` (the end of the day)."""
        return datetime.combine(self.day, self.time_of_day or default, tzinfo=tz)

    def iso(self) -> str:
        """``2023-08-31`` or ``2023-08-31 18:00``."""
        if self.time_of_day is None:
            return self.day.isoformat()
        return f"{self.day.isoformat()} {self.time_of_day:%H:%M}"


_N = _G.numerals
# 零〇一二两三四五六七八九 -> 0..9; 十 is handled by cn_number.
_CN_DIGITS: dict[str, int] = {
    **{ch: value for value, ch in enumerate(_N.digits)},
    **dict.fromkeys(_N.zero_variants, 0),
    _N.spoken_two: 2,
}
_TEN = _N.ten
_NUM = rf"(?:\d{{1,3}}|[{char_class([*_CN_DIGITS, _TEN])}]{{1,3}})"
# 周一 .. 周日/周天, and 周七 for Sunday.
_WEEKDAY = {**_G.weekdays, _N.digits[7]: 7}
_EN_WEEKDAY = {
    "mon": 1,
    "tue": 2,
    "wed": 3,
    "thu": 4,
    "fri": 5,
    "sat": 6,
    "sun": 7,
}


def cn_number(text: str) -> int:
    """``12`` or 12 in Chinese numerals -> 12 (up to 99); ValueError otherwise."""
    # 十二 -> 12, 二十 -> 20, 两 -> 2, 一百 -> ValueError.
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _CN_DIGITS and ch != _TEN for ch in text):
        raise ValueError(text)
    if _TEN not in text:
        if len(text) != 1:
            raise ValueError(text)
        return _CN_DIGITS[text]
    tens, _, ones = text.partition(_TEN)
    if _TEN in ones or len(tens) > 1 or len(ones) > 1:
        raise ValueError(text)
    value = (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
    return value


def _normalise(text: str) -> str:
    # NFKC turns full-width digits, colons and slashes into ASCII.
    text = unicodedata.normalize("NFKC", text).strip().lower()
    return re.sub(r"\s+", " ", text)


_T = _G.time_of_day
_EVENING = frozenset((*_T.evening, "pm"))
_NOON = frozenset(_T.noon)
# 18:00, 18点, 6点半, 下午3点, 晚上8点30分, 9 pm.
_TIME = re.compile(
    rf"(?<!\d)(?P<part>{alternation((*_T.morning, *_T.noon, *_T.evening, 'am', 'pm'))})?\s*"
    r"(?:(?P<h>\d{1,2}):(?P<m>\d{2})"
    rf"|(?P<ch>{_NUM})\s*[{char_class(_T.hour)}](?:\s*(?P<half>{re.escape(_T.half)})"
    rf"|\s*(?P<cm>{_NUM})\s*{re.escape(_T.minute)}?)?)\s*$"
)


def _split_time(text: str) -> tuple[str, time | None]:
    """Separate a trailing time of day from the date part (a time alone is not a date)."""
    match = _TIME.search(text)
    if match is None:
        return text, None
    rest = text[: match.start()].strip()
    rest = rest[:-1].strip() if rest.endswith("t") and rest[:-1][-1:].isdigit() else rest
    if not rest:
        return text, None
    if match.group("h") is not None:
        hour, minute = int(match.group("h")), int(match.group("m"))
    else:
        hour = cn_number(match.group("ch"))
        minute = 30 if match.group("half") else cn_number(match.group("cm") or "0")
    part = match.group("part")
    if (part in _EVENING and hour < 12) or (part in _NOON and hour < 6):
        hour += 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise DateError("invalid", text)
    return rest, time(hour, minute)


def _day(year: int, month: int, day_: int, text: str) -> date:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise DateError("out_of_range", text)
    try:
        return date(year, month, day_)
    except ValueError:
        raise DateError("invalid", text) from None


def _next_month_day(month: int, day_: int, today: date, text: str) -> date:
    """The next (month, day) on or after today; 29 February finds the next leap year."""
    if not (1 <= month <= 12 and 1 <= day_ <= 31) or day_ > _max_days(month):
        raise DateError("invalid", text)
    for year in range(today.year, today.year + 9):
        try:
            candidate = date(year, month, day_)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise DateError("invalid", text)  # pragma: no cover - every valid day recurs


def _max_days(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2023, month)[1]


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def add_months(day_: date, months: int) -> date:
    """The same day ``months`` later, clamped to the end of a shorter month."""
    index = day_.month - 1 + months
    year, month = day_.year + index // 12, index % 12 + 1
    return date(year, month, min(day_.day, calendar.monthrange(year, month)[1]))


def _monday(day_: date) -> date:
    return day_ - timedelta(days=day_.weekday())


_FULL = re.compile(r"^(\d{4})\s*(?:-|/|\.)\s*(\d{1,2})\s*(?:-|/|\.)\s*(\d{1,2})$")
_D = _G.dates
_YEAR = re.escape(_G.date_marks.year)
_MONTH = re.escape(_G.date_marks.month)
_DAY_MARK = f"[{char_class(_G.date_marks.day)}]"
_END_MARK = f"[{char_class(_G.date_marks.end)}]"
# 2023年8月31日, 2023年八月三十一号
_FULL_CN = re.compile(rf"^(\d{{4}})\s*{_YEAR}\s*({_NUM})\s*{_MONTH}\s*({_NUM})\s*{_DAY_MARK}?$")
# 8月31日, 八月三十一
_MONTH_DAY_CN = re.compile(rf"^({_NUM})\s*{_MONTH}\s*({_NUM})\s*{_DAY_MARK}?$")
_MONTH_DAY = re.compile(r"^(\d{1,2})\s*(?:\.|/|-)\s*(\d{1,2})$")
# 8月底, 2024年2月末
_MONTH_END = re.compile(rf"^(?:(\d{{4}})\s*{_YEAR}\s*)?({_NUM})\s*{_MONTH}\s*{_END_MARK}$")
_RELATIVE_DAYS = _D.relative_days
_EN_RELATIVE = {"today": 0, "tomorrow": 1}
_THIS_MONTH_END = frozenset((*_D.this_month_end, "end of month"))
_NEXT_MONTH_END = frozenset((*_D.next_month_end, "end of next month"))
_YEAR_END = frozenset((*_D.year_end, "end of year"))
_U = _D.after_units
_DAY_UNITS = frozenset(_U.days)
_WEEK_UNITS = frozenset(_U.weeks)
# 3天后, 2周后, 2个星期以后, 1个月之后
_AFTER = re.compile(
    rf"^({_NUM})\s*({alternation((*_U.days, *_U.weeks, *_U.months))})\s*"
    rf"(?:{alternation(_D.after)})$"
)
_EN_AFTER = re.compile(r"^in (\d{1,3}) (day|days|week|weeks|month|months)$")
_NEXT_WEEK = frozenset(_D.next_week)
_WEEK_AFTER_NEXT = frozenset(_D.week_after_next)
_THIS_WEEK = frozenset(_D.this_week)
# 下周五, 本周五, 这个星期一, 下下礼拜天, 周日
_WEEKDAY_RE = re.compile(
    rf"^({alternation((*_D.this_week, *_D.next_week, *_D.week_after_next))})?\s*"
    rf"(?:{alternation(_D.week_words)})([{char_class(_WEEKDAY)}])$"
)
_EN_WEEKDAY_RE = re.compile(r"^(next |this )?(mon|tue|wed|thu|fri|sat|sun)[a-z]*$")


def _parse_day(text: str, today: date) -> date:
    if text in _RELATIVE_DAYS:
        return today + timedelta(days=_RELATIVE_DAYS[text])
    if text in _EN_RELATIVE:
        return today + timedelta(days=_EN_RELATIVE[text])
    if match := _FULL.match(text):
        return _day(int(match[1]), int(match[2]), int(match[3]), text)
    if match := _FULL_CN.match(text):
        return _day(int(match[1]), cn_number(match[2]), cn_number(match[3]), text)
    if match := _MONTH_DAY_CN.match(text):
        return _next_month_day(cn_number(match[1]), cn_number(match[2]), today, text)
    if match := _MONTH_DAY.match(text):
        return _next_month_day(int(match[1]), int(match[2]), today, text)
    if text in _THIS_MONTH_END:
        return _month_end(today.year, today.month)
    if text in _NEXT_MONTH_END:
        following = add_months(today.replace(day=1), 1)
        return _month_end(following.year, following.month)
    if text in _YEAR_END:
        return date(today.year, 12, 31)
    if match := _MONTH_END.match(text):
        month = cn_number(match[2])
        if not 1 <= month <= 12:
            raise DateError("invalid", text)
        if match[1]:
            return _month_end(_day(int(match[1]), month, 1, text).year, month)
        end = _month_end(today.year, month)
        return end if end >= today else _month_end(today.year + 1, month)
    if match := _AFTER.match(text):
        count, unit = cn_number(match[1]), match[2]
        if unit in _DAY_UNITS:
            return today + timedelta(days=count)
        if unit in _WEEK_UNITS:
            return today + timedelta(weeks=count)
        return add_months(today, count)
    if match := _EN_AFTER.match(text):
        count, unit = int(match[1]), match[2]
        if unit.startswith("day"):
            return today + timedelta(days=count)
        if unit.startswith("week"):
            return today + timedelta(weeks=count)
        return add_months(today, count)
    if match := _WEEKDAY_RE.match(text):
        which, weekday = match[1] or "", _WEEKDAY[match[2]]
        if which in _NEXT_WEEK:
            return _monday(today) + timedelta(weeks=1, days=weekday - 1)
        if which in _WEEK_AFTER_NEXT:
            return _monday(today) + timedelta(weeks=2, days=weekday - 1)
        if which in _THIS_WEEK:
            return _monday(today) + timedelta(days=weekday - 1)
        return today + timedelta(days=(weekday - today.isoweekday()) % 7)
    if match := _EN_WEEKDAY_RE.match(text):
        weekday = _EN_WEEKDAY[match[2]]
        if match[1] == "next ":
            return _monday(today) + timedelta(weeks=1, days=weekday - 1)
        if match[1] == "this ":
            return _monday(today) + timedelta(days=weekday - 1)
        return today + timedelta(days=(weekday - today.isoweekday()) % 7)
    raise DateError("unrecognised", text)


def parse_date(text: str, today: date, tz: tzinfo | None = None) -> ParsedDate:
    """A deadline typed by a person -> ParsedDate; DateError (with examples) otherwise.

    ``today`` is the date in the chat's zone; ``tz`` is accepted for symmetry with
    ``ParsedDate.at`` and not needed for parsing.
    """
    del tz
    original = text
    text = _normalise(text)
    if not text:
        raise DateError("empty", original)
    try:
        date_part, at = _split_time(text)
        date_part = date_part.strip().rstrip(",，").strip()
        day_ = _parse_day(date_part, today)
    except DateError as exc:
        raise DateError(exc.kind, original) from None
    except ValueError:
        raise DateError("unrecognised", original) from None
    if not MIN_YEAR <= day_.year <= MAX_YEAR:
        raise DateError("out_of_range", original)
    return ParsedDate(day_, at)
