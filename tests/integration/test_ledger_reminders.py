"""Ledger reminders in controlled time: the ladder, restarts and downtime, snooze, escalation.

An item added on Monday 2023-07-24 08:00 with the deadline Friday 2023-07-28 is reminded
at 09:00 Shanghai time on 7/25 (3 days left), 7/27 (1 day), 7/28 (due), then daily while
overdue; on 7/31 (3 days overdue) the admins are told. Mondays bring the weekly digest.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.clock import FakeClock
from bot.db.models import SlotClaim
from bot.db.models.ledger import LedgerItem
from bot.sandbox.driver import BotHarness, GroupChat
from bot.sandbox.emulator import EmuUser, SentMessage

SHANGHAI = ZoneInfo("Asia/Shanghai")
ADD = "/ledger_add 集中学习时间未固定 | 4 | 每周三下午集中学习 | @zhaoliu | 2023-07-28"


async def setup_item(firm: GroupChat) -> EmuUser:
    zhao = firm.emulator.create_user("赵六", username="zhaoliu")
    firm.emulator.set_member(firm.id, zhao, "member")
    firm.members["赵六"] = zhao
    await firm.say("赵六", "大家好")
    await firm.say("王律师", ADD)
    assert "2023-001" in firm.last().text
    return zhao


async def at(harness: BotHarness, clock: FakeClock, day: int, hour: int, minute: int = 0) -> None:
    """Move the clock to 2023-07-<day> (or 08-<day-31>) hh:mm Shanghai and run the scheduler."""
    month, dom = (7, day) if day <= 31 else (8, day - 31)
    clock.set(datetime(2023, month, dom, hour, minute, tzinfo=SHANGHAI))
    await harness.tick()


def reminders(firm: GroupChat) -> list[SentMessage]:
    return [m for m in firm.messages() if "整改事项 2023-001" in m.text and m.buttons]


def reminder_lines(firm: GroupChat) -> list[str]:
    return [m.text.splitlines()[0] for m in reminders(firm)]


async def test_the_ladder_survives_restarts_and_downtime_without_loss_or_repeats(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    zhao = await setup_item(firm)
    await at(harness, clock, 24, 9)  # Monday: the digest, no reminder yet
    assert reminder_lines(firm) == []
    assert "整改台账周报" in firm.last().text
    await at(harness, clock, 25, 9)
    await at(harness, clock, 25, 9, 1)  # a second tick finds nothing new
    assert reminder_lines(firm) == ["⏰ 整改事项 2023-001 还有 3 天到期（2023-07-28）。"]
    first = reminders(firm)[0]
    assert zhao.id in first.mentions
    assert first.buttons == [["✅ 已完成", "⏰ 推迟一天"]]
    await at(harness, clock, 26, 9)  # not a reminder day
    assert len(reminders(firm)) == 1
    # Down from 7/26 noon; back at 7/27 10:30, inside the 2-hour grace window.
    await harness.stop()
    clock.set(datetime(2023, 7, 27, 10, 30, tzinfo=SHANGHAI))
    await harness.start()
    await harness.tick()
    assert len(reminders(firm)) == 2
    assert reminder_lines(firm)[1] == "⏰ 整改事项 2023-001 还有 1 天到期（2023-07-28）。"
    await at(harness, clock, 28, 9)
    await harness.restart()
    await harness.tick()  # the same minute again after a restart: nothing repeated
    assert reminder_lines(firm)[2:] == ["⏰ 整改事项 2023-001 今天到期（2023-07-28）。"]
    # Down for longer than the grace window: the missed days are recorded, the ladder goes on.
    await harness.stop()
    clock.set(datetime(2023, 7, 30, 12, 0, tzinfo=SHANGHAI))
    await harness.start()
    await harness.tick()
    assert len(reminders(firm)) == 3
    await at(harness, clock, 31, 9)
    assert reminder_lines(firm)[3:] == ["⚠️ 整改事项 2023-001 已逾期 3 天（完成时限 2023-07-28）。"]
    claims = await harness.services.scheduler.claims(firm.id, "ledger_reminder")
    statuses = [(c.slot_at.astimezone(SHANGHAI).day, c.status) for c in claims]
    assert statuses == [
        (25, "done"),
        (27, "done"),
        (28, "done"),
        (29, "missed"),
        (30, "missed"),
        (31, "done"),
    ]


async def test_overdue_daily_and_admins_told_after_three_days(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await setup_item(firm)
    wang = firm.members["王律师"]
    private = harness.emulator.private_chat(wang)
    await harness.handled(harness.emulator.send_message(private.id, wang, "/start"))
    for day in (25, 27, 28, 29, 30):
        await at(harness, clock, day, 9)
    assert reminder_lines(firm)[-2:] == [
        "⚠️ 整改事项 2023-001 已逾期 1 天（完成时限 2023-07-28）。",
        "⚠️ 整改事项 2023-001 已逾期 2 天（完成时限 2023-07-28）。",
    ]
    assert not any("请管理员" in t for t in firm.texts())
    private_before = len(harness.emulator.messages(private.id))
    await at(harness, clock, 31, 9)
    told = harness.emulator.messages(private.id)[private_before:]
    assert len(told) == 1
    assert "「示范律师事务所」的整改事项 2023-001 已逾期 3 天" in told[0].text
    in_group = [m for m in firm.messages() if "请管理员" in m.text]
    assert len(in_group) == 1
    assert firm.members["张三"].id in in_group[0].mentions  # no private chat: told in the group
    assert wang.id not in in_group[0].mentions
    await at(harness, clock, 32, 9)  # 8/1: reminded again, admins not told twice
    assert len(reminders(firm)) == 7
    assert len([m for m in firm.messages() if "请管理员" in m.text]) == 1


async def test_snooze_moves_todays_reminder_by_a_day_once_a_day(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await setup_item(firm)
    await at(harness, clock, 25, 9)
    reminder = reminders(firm)[-1]
    clock.set(datetime(2023, 7, 25, 9, 30, tzinfo=SHANGHAI))
    await firm.press("李四", "⏰ 推迟一天", reminder)
    assert harness.emulator.calls("answerCallbackQuery")[-1].params.get("show_alert")
    await firm.press("赵六", "⏰ 推迟一天", reminder)
    answer = harness.emulator.calls("answerCallbackQuery")[-1].params
    assert answer.get("text") == "2023-001 的提醒已推迟到明天。"
    await firm.press("赵六", "⏰ 推迟一天", reminder)
    answer = harness.emulator.calls("answerCallbackQuery")[-1].params
    assert answer.get("text") == "2023-001 今天已经推迟过一次提醒。"
    await at(harness, clock, 26, 9, 29)
    assert len(reminders(firm)) == 1
    await at(harness, clock, 26, 9, 30)
    assert (
        reminder_lines(firm)[-1]
        == "（推迟的提醒）⏰ 整改事项 2023-001 还有 2 天到期（2023-07-28）。"
    )
    await at(harness, clock, 27, 9)
    assert reminder_lines(firm)[-1] == "⏰ 整改事项 2023-001 还有 1 天到期（2023-07-28）。"
    # On the due day a snooze holds back tomorrow's 09:00 reminder until 09:40.
    await at(harness, clock, 28, 9)
    clock.set(datetime(2023, 7, 28, 9, 40, tzinfo=SHANGHAI))
    await firm.press("赵六", "⏰ 推迟一天", reminders(firm)[-1])
    count = len(reminders(firm))
    await at(harness, clock, 29, 9)
    assert len(reminders(firm)) == count
    await at(harness, clock, 29, 9, 40)
    assert (
        reminder_lines(firm)[-1]
        == "（推迟的提醒）⚠️ 整改事项 2023-001 已逾期 1 天（完成时限 2023-07-28）。"
    )
    await at(harness, clock, 30, 9)
    assert len(reminders(firm)) == count + 2


async def test_done_button_submits_and_closing_stops_reminders_at_once(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await setup_item(firm)
    await at(harness, clock, 25, 9)
    await firm.press("李四", "✅ 已完成", reminders(firm)[-1])
    assert harness.emulator.calls("answerCallbackQuery")[-1].params.get("show_alert")
    await firm.press("赵六", "✅ 已完成", reminders(firm)[-1])
    prompt = firm.last()
    assert "请直接回复本条消息，提交 2023-001 的完成情况" in prompt.text
    await firm.say("赵六", "已经固定为每周三下午", reply_to=prompt.message_id)
    submitted = firm.last()
    assert "赵六 已提交 2023-001 的完成情况" in submitted.text
    await at(harness, clock, 27, 9)
    assert len(reminders(firm)) == 1  # submitted: no more reminders
    await firm.press("王律师", "↩️ 退回整改", submitted)
    await at(harness, clock, 28, 9)
    assert reminder_lines(firm)[-1] == "⏰ 整改事项 2023-001 今天到期（2023-07-28）。"
    await firm.press("王律师", "✅ 已完成", reminders(firm)[-1])  # an admin's done closes
    assert "2023-001 已销号（王律师）" in firm.last().text
    for day in (29, 30, 31):
        await at(harness, clock, day, 9)
    assert len(reminders(firm)) == 2
    async with harness.services.db.session() as session:
        item = await session.scalar(select(LedgerItem))
    assert item is not None and item.status == "closed"


async def test_editing_the_deadline_moves_the_ladder_at_once(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await setup_item(firm)
    await at(harness, clock, 25, 9)
    await firm.say("王律师", "/ledger_edit 1 完成时限 2023-08-10")
    for day in (27, 28, 29, 30):
        await at(harness, clock, day, 9)
    assert len(reminders(firm)) == 1
    await at(harness, clock, 31 + 7, 9)  # 8/7: 3 days before the new deadline
    assert reminder_lines(firm)[-1] == "⏰ 整改事项 2023-001 还有 3 天到期（2023-08-10）。"
    # No claim was made on the quiet days in between.
    async with harness.services.db.session() as session:
        days = (
            await session.scalars(
                select(SlotClaim.slot_at).where(SlotClaim.kind == "ledger_reminder")
            )
        ).all()
    assert sorted(d.astimezone(SHANGHAI).strftime("%m-%d") for d in days) == ["07-25", "08-07"]


async def test_weekly_digest_lists_overdue_open_awaiting_and_closed(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await setup_item(firm)
    await firm.say("王律师", "/ledger_add 第二项 | 1 | 措施二 | @zhaoliu | 2023-08-15")
    await firm.say("王律师", "/ledger_add 第三项 | 2 | 措施三 | @zhaoliu | 2023-08-20")
    await firm.say("王律师", "/ledger_add 第四项 | 3 | 措施四 | @zhaoliu | 2023-08-20")
    clock.set(datetime(2023, 7, 26, 10, 0, tzinfo=SHANGHAI))
    await firm.say("赵六", "/ledger_done 3 已完成")
    await firm.say("王律师", "/ledger_done 4")
    clock.advance(timedelta(days=5))  # Monday 7/31 10:00: the 09:00 digest is due
    before = len(firm.messages())
    await harness.tick()
    digest = [m for m in firm.new_since(before) if "整改台账周报" in m.text]
    assert len(digest) == 1
    text = digest[0].text
    assert text.index("逾期（1 项）") < text.index("2023-001") < text.index("整改中（1 项）")
    assert text.index("整改中（1 项）") < text.index("2023-002") < text.index("待销号（1 项）")
    assert (
        text.index("待销号（1 项）") < text.index("2023-003") < text.index("近 7 天已销号（1 项）")
    )
    assert text.index("近 7 天已销号（1 项）") < text.index("2023-004")
