"""Chinese dates as notices write them."""

from __future__ import annotations

from datetime import date

import pytest

from bot.notices import find_cn_dates, parse_cn_date
from bot.notices.dates import cn_number, whole_line_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023年7月24日", date(2023, 7, 24)),
        ("2023年7月24", date(2023, 7, 24)),
        ("2023 年 07 月 24 号", date(2023, 7, 24)),
        ("2023630日上午", date(2023, 6, 30)),
        ("20231024日", date(2023, 10, 24)),
        ("2023-07-24", date(2023, 7, 24)),
        ("2023-07-24 10:31:22", date(2023, 7, 24)),
        ("2023/7/24", date(2023, 7, 24)),
        ("2023.7.24", date(2023, 7, 24)),
        ("２０２３年７月２４日", date(2023, 7, 24)),
        ("二〇二三年七月二十四日", date(2023, 7, 24)),
        ("二○二三年十二月三十一日", date(2023, 12, 31)),
        ("二零二四年一月十日", date(2024, 1, 10)),
        ("发布时间:2023年7月24日 作者:办公室", date(2023, 7, 24)),
    ],
)
def test_full_dates(text: str, expected: date) -> None:
    assert parse_cn_date(text, default_year=None) == expected
    assert parse_cn_date(text, default_year=1999) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7月24日", date(2023, 7, 24)),
        ("请于8月15日前报送", date(2023, 8, 15)),
        ("七月二十四日", date(2023, 7, 24)),
        ("8月底前", date(2023, 8, 31)),
        ("2月底前", date(2023, 2, 28)),
    ],
)
def test_dates_without_year_need_a_default(text: str, expected: date) -> None:
    assert parse_cn_date(text, default_year=None) is None
    assert parse_cn_date(text, default_year=2023) == expected


@pytest.mark.parametrize(
    "text",
    ["", "律师事务所3.9万多家", "2023年2月30日", "2023-13-01", "2023.07", "第35次", "1300万件"],
)
def test_not_dates(text: str) -> None:
    assert parse_cn_date(text, default_year=2023) is None


def test_find_all_dates_in_order() -> None:
    found = find_cn_dates("于8月10日前完成自查,于2023年8月20日前报送", default_year=2023)
    assert [m.value for m in found] == [date(2023, 8, 10), date(2023, 8, 20)]
    assert [m.has_year for m in found] == [False, True]


def test_whole_line_date() -> None:
    assert whole_line_date("2023年7月24") is not None
    assert whole_line_date("二〇二三年十月十日") is not None
    assert whole_line_date("2023年7月24日(星期一)") is not None
    assert whole_line_date("2023年7月24日上午召开会议") is None
    assert whole_line_date("7月24日") is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("一", 1),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("二十四", 24),
        ("廿四", 24),
        ("卅一", 31),
        ("二〇二三", 2023),
        ("百", None),
    ],
)
def test_cn_number(text: str, value: int | None) -> None:
    assert cn_number(text) == value
