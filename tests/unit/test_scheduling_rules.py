"""Slot arithmetic: days rules, China's official calendar, DST in Europe/Berlin."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.calendar import WorkCalendar
from bot.scheduling import next_slot_after, slots_between

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
CAL = WorkCalendar()


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


def test_daily_slot_is_today_if_not_yet_passed_else_tomorrow() -> None:
    assert next_slot_after(local(SH, 2023, 7, 24, 8, 0), "daily", "09:00", SH, CAL) == local(
        SH, 2023, 7, 24, 9, 0
    )
    assert next_slot_after(local(SH, 2023, 7, 24, 9, 0), "daily", "09:00", SH, CAL) == local(
        SH, 2023, 7, 25, 9, 0
    )


def test_workdays_follow_the_official_calendar_with_adjusted_saturdays() -> None:
    # National Day 2023: Sept 29 - Oct 6 off; Saturday Oct 7 and Sunday Oct 8 are workdays.
    slots = slots_between(
        local(SH, 2023, 9, 27, 0, 0), local(SH, 2023, 10, 10, 23, 0), "workdays", "09:00", SH, CAL
    )
    days = [s.astimezone(SH).date() for s in slots]
    assert days == [
        date(2023, 9, 27),
        date(2023, 9, 28),
        date(2023, 10, 7),
        date(2023, 10, 8),
        date(2023, 10, 9),
        date(2023, 10, 10),
    ]


def test_chosen_weekdays() -> None:
    slots = slots_between(
        local(SH, 2023, 7, 24, 0, 0),
        local(SH, 2023, 7, 30, 23, 0),
        "weekdays:1,3,5",
        "18:30",
        SH,
        CAL,
    )
    assert [s.astimezone(SH).strftime("%a %H:%M") for s in slots] == [
        "Mon 18:30",
        "Wed 18:30",
        "Fri 18:30",
    ]


def test_years_without_official_data_fall_back_to_monday_to_friday_or_config() -> None:
    cal = WorkCalendar(extra_holidays=["2099-01-01"], extra_workdays=["2099-01-03"])
    assert cal.is_workday(date(2099, 1, 2))  # Friday
    assert not cal.is_workday(date(2099, 1, 1))  # a Thursday made a holiday
    assert cal.is_workday(date(2099, 1, 3))  # a Saturday made a workday
    assert not cal.is_workday(date(2099, 1, 4))  # Sunday


def test_berlin_spring_forward_runs_once_at_a_real_instant() -> None:
    # 2024-03-31: 02:00 -> 03:00. A 02:30 schedule runs once, at 03:30 CEST (01:30 UTC).
    slots = slots_between(
        local(BERLIN, 2024, 3, 30, 0, 0),
        local(BERLIN, 2024, 4, 1, 23, 0),
        "daily",
        "02:30",
        BERLIN,
        CAL,
    )
    assert [s.astimezone(UTC) for s in slots] == [
        datetime(2024, 3, 30, 1, 30, tzinfo=UTC),
        datetime(2024, 3, 31, 1, 30, tzinfo=UTC),
        datetime(2024, 4, 1, 0, 30, tzinfo=UTC),
    ]
    assert len({s for s in slots}) == 3


def test_berlin_fall_back_runs_once_not_twice() -> None:
    # 2024-10-27: 03:00 -> 02:00; 02:30 happens twice, the schedule runs once.
    slots = slots_between(
        local(BERLIN, 2024, 10, 26, 0, 0),
        local(BERLIN, 2024, 10, 28, 23, 0),
        "daily",
        "02:30",
        BERLIN,
        CAL,
    )
    assert [s.astimezone(BERLIN).strftime("%d %H:%M") for s in slots] == [
        "26 02:30",
        "27 02:30",
        "28 02:30",
    ]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    # The first 02:30 (summer time) on the 27th, so the next day is 25 hours on.
    assert gaps == [timedelta(hours=24), timedelta(hours=25)]


def test_nine_am_every_day_across_berlin_dst_keeps_local_time() -> None:
    slots = slots_between(
        local(BERLIN, 2024, 3, 29, 0, 0),
        local(BERLIN, 2024, 4, 2, 0, 0),
        "daily",
        "09:00",
        BERLIN,
        CAL,
    )
    assert all(s.astimezone(BERLIN).hour == 9 for s in slots)
    assert [s.astimezone(UTC).hour for s in slots] == [8, 8, 7, 7]
