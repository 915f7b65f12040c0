"""bot.dates: every accepted form, the ambiguous ones, and what is refused."""

from __future__ import annotations

from datetime import date, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.dates import EXAMPLES, DateError, ParsedDate, add_months, cn_number, parse_date

MON = date(2023, 7, 24)  # a Monday
SEP1 = date(2023, 9, 1)  # a Friday


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("2023-08-31", MON, date(2023, 8, 31)),
        ("2023/8/31", MON, date(2023, 8, 31)),
        ("2023.8.31", MON, date(2023, 8, 31)),
        ("2023年8月31日", MON, date(2023, 8, 31)),
        ("2023年8月31号", MON, date(2023, 8, 31)),
        ("２０２３－０８－３１", MON, date(2023, 8, 31)),  # full-width digits
        ("8月31日", MON, date(2023, 8, 31)),
        ("8月31", MON, date(2023, 8, 31)),
        ("八月三十一日", MON, date(2023, 8, 31)),
        ("8.31", MON, date(2023, 8, 31)),
        ("8/31", MON, date(2023, 8, 31)),
        # Without a year: the next occurrence on or after today.
        ("8月31日", SEP1, date(2024, 8, 31)),
        ("9月1日", SEP1, date(2023, 9, 1)),
        ("8.31", SEP1, date(2024, 8, 31)),
        ("2月29日", date(2023, 3, 1), date(2024, 2, 29)),
        ("今天", MON, MON),
        ("明天", MON, date(2023, 7, 25)),
        ("后天", MON, date(2023, 7, 26)),
        ("大后天", MON, date(2023, 7, 27)),
        # 下周五: Friday of next calendar week (weeks run Monday to Sunday).
        ("下周五", MON, date(2023, 8, 4)),
        ("下周五", date(2023, 7, 30), date(2023, 8, 4)),  # said on a Sunday
        ("下星期五", date(2023, 7, 28), date(2023, 8, 4)),  # said on a Friday
        ("本周五", MON, date(2023, 7, 28)),
        ("这周一", date(2023, 7, 26), MON),  # this week's, even if passed
        ("周五", MON, date(2023, 7, 28)),  # the next Friday on or after today
        ("周五", date(2023, 7, 28), date(2023, 7, 28)),
        ("星期日", MON, date(2023, 7, 30)),
        ("下下周一", MON, date(2023, 8, 7)),
        ("月底", MON, date(2023, 7, 31)),
        ("月底", date(2023, 2, 10), date(2023, 2, 28)),
        ("下月底", MON, date(2023, 8, 31)),
        ("8月底", MON, date(2023, 8, 31)),
        ("6月底", MON, date(2024, 6, 30)),
        ("年底", MON, date(2023, 12, 31)),
        ("3天后", MON, date(2023, 7, 27)),
        ("三天后", MON, date(2023, 7, 27)),
        ("10天以后", MON, date(2023, 8, 3)),
        ("两周后", MON, date(2023, 8, 7)),
        ("1个月后", date(2023, 1, 31), date(2023, 2, 28)),
        ("tomorrow", MON, date(2023, 7, 25)),
        ("in 3 days", MON, date(2023, 7, 27)),
        ("next friday", MON, date(2023, 8, 4)),
        ("end of month", MON, date(2023, 7, 31)),
        ("  2023-08-31  ", MON, date(2023, 8, 31)),
    ],
)
def test_dates(text: str, today: date, expected: date) -> None:
    parsed = parse_date(text, today)
    assert parsed == ParsedDate(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-08-31 18:00", ParsedDate(date(2023, 8, 31), time(18, 0))),
        ("2023-08-31T18:30", ParsedDate(date(2023, 8, 31), time(18, 30))),
        ("8月31日18点", ParsedDate(date(2023, 8, 31), time(18, 0))),
        ("明天下午3点", ParsedDate(date(2023, 7, 25), time(15, 0))),
        ("明天 6点半", ParsedDate(date(2023, 7, 25), time(6, 30))),
        ("下周五晚上8点30分", ParsedDate(date(2023, 8, 4), time(20, 30))),
        ("月底 17:30", ParsedDate(date(2023, 7, 31), time(17, 30))),
    ],
)
def test_dates_with_a_time(text: str, expected: ParsedDate) -> None:
    assert parse_date(text, MON) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("下个月的某天", "unrecognised"),
        ("hello", "unrecognised"),
        ("18:00", "unrecognised"),  # a time alone is not a date
        ("2023-08", "unrecognised"),
        ("2月30日", "invalid"),
        ("2023-02-29", "invalid"),
        ("2023-13-01", "invalid"),
        ("13月1日", "invalid"),
        ("4月31日", "invalid"),
        ("明天25点", "invalid"),
        ("1999-01-01", "out_of_range"),
    ],
)
def test_refused(text: str, kind: str) -> None:
    with pytest.raises(DateError) as caught:
        parse_date(text, MON)
    assert caught.value.kind == kind
    assert caught.value.text == text
    assert caught.value.examples == EXAMPLES


def test_every_example_parses() -> None:
    for example in EXAMPLES:
        parse_date(example, MON)


def test_at_and_iso() -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    assert ParsedDate(date(2023, 8, 31)).iso() == "2023-08-31"
    assert ParsedDate(date(2023, 8, 31), time(9, 5)).iso() == "2023-08-31 09:05"
    assert ParsedDate(date(2023, 8, 31)).at(zone).hour == 23
    assert ParsedDate(date(2023, 8, 31), time(9, 5)).at(zone).minute == 5


def test_helpers() -> None:
    assert cn_number("十") == 10 and cn_number("二十一") == 21 and cn_number("两") == 2
    with pytest.raises(ValueError):
        cn_number("十十")
    assert add_months(date(2023, 12, 31), 2) == date(2024, 2, 29)


@given(st.text(max_size=30), st.dates(min_value=date(2001, 1, 1), max_value=date(2099, 1, 1)))
def test_never_crashes(text: str, today: date) -> None:
    try:
        result = parse_date(text, today)
    except DateError:
        return
    assert 2000 <= result.day.year <= 2100
