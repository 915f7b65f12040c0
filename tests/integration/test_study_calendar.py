"""Two calendar weeks of daily study by China's official calendar, with a restart inside.

2023-04-24 (Mon) to 2023-05-07 (Sun): 劳动节 keeps 29 April to 3 May off, and Saturday
6 May is an adjusted working day. Exactly one prompt per official workday, in curriculum
order, none repeated or skipped across a restart that misses a 09:00 slot.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FakeClock
from bot.content.loader import Content
from bot.sandbox.driver import BotHarness, make_group

SH = ZoneInfo("Asia/Shanghai")
WORKDAYS = [date(2023, 4, d) for d in (24, 25, 26, 27, 28)] + [date(2023, 5, d) for d in (4, 5, 6)]
DAY_LINE = re.compile(r"^(\d+)月(\d+)日（星期.）$", re.M)


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """Study alone: no quiz rounds or weekly reports in the chat; a time-controlled run
    sends faster than a real minute allows, so the per-group limit is raised."""
    return {
        "quiz": {"enabled": False},
        "reports": {"weekly": False},
        "sender": {"group_per_minute": 600, "private_per_second": 30},
    }


async def test_two_weeks_with_a_holiday_and_a_working_saturday_and_a_restart(
    harness: BotHarness, clock: FakeClock, content: Content
) -> None:
    clock.set(datetime(2023, 4, 23, 20, 0, tzinfo=SH))  # a (working) Sunday evening
    firm = await make_group(harness, "示范律师事务所", ["张三", "李四"])
    day = date(2023, 4, 24)
    while day <= date(2023, 5, 7):
        for hour, minute in ((8, 0), (9, 0), (9, 1), (13, 0), (21, 0)):
            if day == date(2023, 5, 4) and (hour, minute) == (9, 0):
                # Down from 08:30 to 10:15: the 09:00 prompt is caught up once on start.
                await harness.stop()
                clock.set(datetime(2023, 5, 4, 10, 15, tzinfo=SH))
                await harness.start()
                await harness.tick()
                continue
            clock.set(datetime(day.year, day.month, day.day, hour, minute, tzinfo=SH))
            await harness.tick()
        day += timedelta(days=1)
    sent = [m for m in firm.messages() if m.text.startswith("📖 每日学习")]
    days = []
    for message in sent:
        match = DAY_LINE.search(message.text)
        assert match is not None, message.text
        days.append(date(2023, int(match.group(1)), int(match.group(2))))
    assert days == WORKDAYS
    for number, (message, prompt) in enumerate(zip(sent, content.curriculum, strict=False), 1):
        assert f"第 {number} 天（共 {len(content.curriculum)} 天）" in message.text
        assert prompt.title in message.text
    claims = await harness.services.scheduler.claims(firm.id, "study")
    done = [c.slot_at.astimezone(SH).date() for c in claims if c.status == "done"]
    assert done == WORKDAYS
    late = [c for c in claims if c.slot_at.astimezone(SH).date() == date(2023, 5, 4)]
    assert [c.claimed_at.astimezone(SH).time().isoformat() for c in late] == ["10:15:00"]
