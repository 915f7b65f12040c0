"""Session start times as admins type them: the accepted forms, and clear refusals."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.study.timeparse import SessionTimeError, parse_start

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2023, 7, 24, 8, 0, tzinfo=SH)  # a Monday


@pytest.mark.parametrize(
    ("text", "expected", "rest"),
    [
        ("2023-08-05 14:00 学习座谈会精神", datetime(2023, 8, 5, 14, 0), "学习座谈会精神"),
        ("2023-8-5 9:30", datetime(2023, 8, 5, 9, 30), ""),
        ("2023/8/5 14:00 主题", datetime(2023, 8, 5, 14, 0), "主题"),
        ("2023年8月5日 14:00 主题", datetime(2023, 8, 5, 14, 0), "主题"),
        ("2023年8月5日14:00", datetime(2023, 8, 5, 14, 0), ""),
        ("2023年8月5号 14:00", datetime(2023, 8, 5, 14, 0), ""),
        ("8月5日 14:30 对照五者  查摆问题", datetime(2023, 8, 5, 14, 30), "对照五者 查摆问题"),
        ("明天 15:00", datetime(2023, 7, 25, 15, 0), ""),
        ("今天 08:01 马上开始", datetime(2023, 7, 24, 8, 1), "马上开始"),
        ("后天 9:00", datetime(2023, 7, 26, 9, 0), ""),
        ("明天 １５：００ 全角", datetime(2023, 7, 25, 15, 0), "全角"),
        ("  2023-08-05   14:00  ", datetime(2023, 8, 5, 14, 0), ""),
    ],
)
def test_accepted_forms(text: str, expected: datetime, rest: str) -> None:
    parsed = parse_start(text, NOW, SH)
    assert parsed.starts_at == expected.replace(tzinfo=SH)
    assert parsed.rest == rest


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("下周五 14:00", "format"),
        ("2023-08-05", "format"),
        ("14:00 2023-08-05", "format"),
        ("2023-08-05 14点", "format"),
        ("2023-08-0514:00", "format"),
        ("", "format"),
        ("2023-02-30 14:00", "date"),
        ("2023年13月1日 14:00", "date"),
        ("2月30日 10:00", "date"),
        ("1999-08-05 14:00", "date"),
        ("2023-08-05 24:00", "time"),
        ("明天 25:00", "time"),
        ("2023-08-05 14:60", "time"),
        ("2023-07-20 14:00", "past"),
        ("今天 08:00", "past"),
        ("7月1日 10:00", "past"),
        ("2024-08-05 14:00", "too_far"),
    ],
)
def test_refusals_name_their_reason(text: str, kind: str) -> None:
    with pytest.raises(SessionTimeError) as caught:
        parse_start(text, NOW, SH)
    assert caught.value.kind == kind


def test_the_refusal_keeps_what_was_typed_and_when_it_would_have_been() -> None:
    with pytest.raises(SessionTimeError) as caught:
        parse_start("2023-07-20 14:00 旧的主题", NOW, SH)
    assert caught.value.text == "2023-07-20 14:00"
    assert caught.value.when == datetime(2023, 7, 20, 14, 0, tzinfo=SH)


def test_relative_days_count_in_the_chats_zone() -> None:
    # 21:30 UTC on the 23rd is already the 24th in Shanghai, still the 23rd in Berlin.
    late = datetime(2023, 7, 23, 21, 30, tzinfo=ZoneInfo("UTC"))
    assert parse_start("明天 09:00", late, SH).starts_at == datetime(2023, 7, 25, 9, tzinfo=SH)
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_start("明天 09:00", late, berlin).starts_at == datetime(
        2023, 7, 24, 9, tzinfo=berlin
    )
