"""Collective study sessions (集中学习), as a chat: schedule, remind, sign in, close, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import handlers.study
from bot.clock import FakeClock
from bot.db.models import Chat, Schedule
from bot.db.models.study import StudyAttendance, StudySession
from bot.sandbox.driver import BotHarness, GroupChat
from bot.sandbox.emulator import SentMessage

SH = ZoneInfo("Asia/Shanghai")
FORMS = "可用的写法：2023-08-05 14:00、2023/8/5 14:00、2023年8月5日 14:00、8月5日 14:30、明天 15:00"
SIGN_IN = "🙋 签到"


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """Study alone: no quiz rounds or weekly reports in the chat; a time-controlled run
    sends faster than a real minute allows, so the per-group limit is raised."""
    return {
        "quiz": {"enabled": False},
        "reports": {"weekly": False},
        "sender": {"group_per_minute": 600, "private_per_second": 30},
    }


@pytest.fixture(autouse=True)
def quick_edits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers.study, "CHECKIN_EDIT_DELAY", 0.1)
    monkeypatch.setattr(handlers.study, "CHECKIN_EDIT_GAP", 0.1)


async def at(harness: BotHarness, clock: FakeClock, *when: int) -> Any:
    clock.set(datetime(*when, tzinfo=SH))  # type: ignore[misc]
    return await harness.tick()


def session_messages(firm: GroupChat) -> list[str]:
    """The bot's texts about sessions (the daily prompts left out)."""
    return [t for t in firm.texts() if "集中学习" in t and "每日学习" not in t]


async def stored(harness: BotHarness) -> list[StudySession]:
    async with harness.services.db.session() as session:
        return list((await session.scalars(select(StudySession))).all())


async def test_a_session_is_announced_reminded_opened_and_closed_with_who_attended(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await firm.say("王律师", "/session 2023-07-26 14:00 学习座谈会精神")
    announce = firm.last()
    assert announce.text == (
        "📅 集中学习安排\n主题：学习座谈会精神\n时间：7月26日（星期三） 14:00，约 90 分钟\n\n"
        "开始前一天和前一小时我会在群里提醒；开始时我会发出签到按钮，请参加的同事点按钮签到。"
    )
    assert announce.buttons == [["取消本次集中学习"]]
    count = len(session_messages(firm))
    await at(harness, clock, 2023, 7, 25, 13, 59)
    assert len(session_messages(firm)) == count
    await at(harness, clock, 2023, 7, 25, 14, 0)
    assert session_messages(firm)[-1].startswith("⏰ 明天集中学习\n主题：学习座谈会精神")
    await at(harness, clock, 2023, 7, 26, 13, 0)
    assert session_messages(firm)[-1].startswith("⏰ 1 小时后集中学习")
    await at(harness, clock, 2023, 7, 26, 14, 0)
    opened: SentMessage = firm.last()
    assert opened.text == (
        "📚 集中学习现在开始\n主题：学习座谈会精神\n请参加的同事点下方按钮签到，签到于 15:30 截止。"
    )
    assert opened.buttons == [[SIGN_IN]]
    clock.set(datetime(2023, 7, 26, 14, 3, tzinfo=SH))
    await firm.press("李四", SIGN_IN, message=opened)
    await firm.press("张三", SIGN_IN, message=opened)
    await firm.press("李四", SIGN_IN, message=opened)
    answers = [a["text"] for a in harness.emulator.callback_answers]
    assert answers == ["签到成功（14:03）", "签到成功（14:03）", "已签到（14:03）"]
    await harness.emulator.wait_for(lambda: opened.text.endswith("🙋 已签到 2 人"))
    # Past its length, a press is refused even before the closing runs.
    clock.set(datetime(2023, 7, 26, 15, 31, tzinfo=SH))
    await firm.press("王律师", SIGN_IN, message=opened)
    assert harness.emulator.callback_answers[-1]["text"] == "本次集中学习的签到已经结束。"
    await at(harness, clock, 2023, 7, 26, 15, 31)
    assert opened.buttons == [] and opened.text.endswith("签到已结束，共 2 人签到。")
    assert firm.last().text == "集中学习结束\n主题：学习座谈会精神\n签到 2 人：李四、张三"
    async with harness.services.db.session() as session:
        attended = (await session.scalars(select(StudyAttendance.user_id))).all()
    assert sorted(attended) == sorted([firm.members["李四"].id, firm.members["张三"].id])
    [row] = await stored(harness)
    assert row.status == "closed"
    # Nothing runs twice.
    await at(harness, clock, 2023, 7, 26, 16, 0)
    assert firm.last().text.startswith("集中学习结束")
    # The week's report counts it.
    await firm.say("王律师", "/study_report")
    report = firm.last().text
    assert "集中学习 1 次" in report and "李四：打卡 0/0，心得 0，集中学习 1/1" in report
    assert "王律师：打卡 0/0，心得 0，集中学习 0/1" in report


async def test_the_guided_dialog_asks_for_the_time_then_the_topic(
    harness: BotHarness, firm: GroupChat
) -> None:
    await firm.say("王律师", "/session")
    assert firm.last().text.startswith("请回复本条消息，发送集中学习的日期和开始时间")
    assert FORMS in firm.last().text
    asked = firm.last()
    await firm.say("李四", "好的")  # someone else talking: not an answer
    assert firm.last() is asked
    await firm.say("王律师", "下周五下午", reply_to=asked.message_id)
    assert firm.last().text.startswith("无法识别日期和时间：下周五下午\n" + FORMS)
    assert firm.last().text.endswith("请重新发送，或发送 /cancel 取消。")
    await firm.say("王律师", "2023年2月30日 14:00")
    assert firm.last().text.startswith("日期不存在：2023年2月30日 14:00\n" + FORMS)
    await firm.say("王律师", "明天 25:00")
    assert firm.last().text.startswith("时间不正确：明天 25:00（应在 00:00 至 23:59 之间）")
    await firm.say("王律师", "2023-07-20 14:00")
    assert firm.last().text.startswith("开始时间 7月20日（星期四） 14:00 已经过去")
    await firm.say("王律师", "明天 15:00")
    assert firm.last().text.startswith("开始时间：7月25日（星期二） 15:00。\n请回复本条消息")
    await firm.say("王律师", "长" * 101)
    assert firm.last().text.startswith("主题太长（101 字），请控制在 100 字以内。")
    await firm.say("王律师", "对照五者 查摆问题")
    assert firm.last().text.startswith(
        "📅 集中学习安排\n主题：对照五者 查摆问题\n时间：7月25日（星期二） 15:00"
    )
    before = len(firm.messages())
    await firm.say("王律师", "谢谢大家")  # the dialog is over
    assert len(firm.messages()) == before
    [row] = await stored(harness)
    assert row.topic == "对照五者 查摆问题" and row.minutes == 90
    assert row.starts_at == datetime(2023, 7, 25, 15, 0, tzinfo=SH)


async def test_cancel_leaves_the_dialog_and_one_line_errors_do_not_trap_the_admin(
    harness: BotHarness, firm: GroupChat
) -> None:
    await firm.say("王律师", "/session")
    await firm.say("王律师", "/cancel")
    assert firm.last().text == "已取消，没有安排集中学习。"
    before = len(firm.messages())
    await firm.say("王律师", "明天 15:00 学习")
    assert len(firm.messages()) == before
    await firm.say("王律师", "/session 2023-02-30 14:00 学习")
    assert firm.last().text.startswith("日期不存在：2023-02-30 14:00\n" + FORMS)
    before = len(firm.messages())
    await firm.say("王律师", "好的，我再看看")
    assert len(firm.messages()) == before
    await firm.say("王律师", "/session 8月5日 14:30 学习")
    assert "8月5日（星期六） 14:30" in firm.last().text
    await firm.say("李四", "/session 2023-08-06 14:00 学习")
    assert firm.last().text == "抱歉，只有本群管理员可以进行此操作。"
    private = harness.emulator.private_chat(firm.members["王律师"])
    await harness.handled(
        harness.emulator.send_message(private.id, firm.members["王律师"], "/session")
    )
    assert harness.emulator.last(private.id).text == "请在律所群里发送 /session。"
    assert len(await stored(harness)) == 1


async def test_an_admin_cancels_a_session_and_nothing_more_is_sent_for_it(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    async with harness.services.db.session() as session:
        chat = await session.get(Chat, firm.id)
        assert chat is not None
        chat.settings = {"study.session_minutes": 45}
    await firm.say("张三", "/session 明天 10:00 专题辅导")
    announce = firm.last()
    assert "约 45 分钟" in announce.text
    await firm.press("李四", "取消本次集中学习", message=announce)
    assert harness.emulator.callback_answers[-1]["text"] == "抱歉，只有本群管理员可以进行此操作。"
    await firm.press("王律师", "取消本次集中学习", message=announce)
    assert harness.emulator.callback_answers[-1]["text"] == "已取消本次集中学习。"
    assert announce.buttons == []
    assert announce.text == (
        "集中学习已取消\n主题：专题辅导\n原定时间：7月25日（星期二） 10:00\n取消人：王律师"
    )
    async with harness.services.db.session() as session:
        left = (
            await session.scalars(select(Schedule.kind).where(Schedule.kind.like("session%")))
        ).all()
    assert left == []
    count = len(session_messages(firm))
    for hour in (9, 10, 11):
        await at(harness, clock, 2023, 7, 25, hour, 0)
    assert len(session_messages(firm)) == count


async def test_a_session_due_while_the_bot_was_down_opens_late_once(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await firm.say("王律师", "/session 2023-07-24 10:00 集中学习")
    await harness.stop()
    clock.set(datetime(2023, 7, 24, 10, 20, tzinfo=SH))
    await harness.start()
    await harness.tick()
    await harness.tick()
    opened = [m for m in firm.messages() if m.buttons == [[SIGN_IN]]]
    assert len(opened) == 1 and "签到于 11:30 截止" in opened[0].text


@pytest.fixture
def short_dialog(monkeypatch: pytest.MonkeyPatch) -> None:
    """The /session dialog waits 0.3 s instead of 10 minutes (set before the bot starts)."""
    monkeypatch.setattr(handlers.study, "DIALOG_TIMEOUT", 0.3)


async def test_an_unanswered_dialog_times_out_and_says_so(
    short_dialog: None, harness: BotHarness, firm: GroupChat
) -> None:
    await firm.say("王律师", "/session")
    message = await harness.emulator.wait_for_message(firm.id, timeout=5)
    assert message.text == "安排集中学习已超时取消。需要时请重新发送 /session。"
    before = len(firm.messages())
    await firm.say("王律师", "明天 15:00 学习")
    assert len(firm.messages()) == before
