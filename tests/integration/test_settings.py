"""/settings and /set, as a chat: every setting, validation, permissions, schedules re-derived."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chats import effective_settings
from bot.clock import FakeClock
from bot.db.models import Chat
from bot.sandbox.driver import BotHarness, GroupChat

EVERY_SETTING = [
    ("study", "off", "study.enabled", False),
    ("study_time", "08:30", "study.time", "08:30"),
    ("study_time", "7:05", "study.time", "07:05"),
    ("study_days", "daily", "study.days", "daily"),
    ("study_days", "周一,周三,周五", "study.days", "weekdays:1,3,5"),
    ("session_minutes", "120", "study.session_minutes", 120),
    ("quiz", "关", "quiz.enabled", False),
    ("quiz_time", "21:00", "quiz.time", "21:00"),
    ("quiz_days", "1,2,3,4,5,6", "quiz.days", "weekdays:1,2,3,4,5,6"),
    ("quiz_questions", "5", "quiz.questions", 5),
    ("quiz_open_minutes", "3", "quiz.open_minutes", 3),
    ("ledger_offsets", "5,2,1", "ledger.reminder_offsets_days", [5, 2, 1]),
    ("ledger_time", "10:00", "ledger.reminder_time", "10:00"),
    ("ledger_escalate_days", "7", "ledger.escalate_after_days", 7),
    ("report", "off", "reports.weekly", False),
    ("report_day", "1", "reports.day", 1),
    ("report_time", "16:30", "reports.time", "16:30"),
    ("report_to", "admins", "reports.to", "admins"),
    ("notices", "off", "notices.auto", False),
    ("language", "en", "locale", "en"),
    ("timezone", "Asia/Hong_Kong", "timezone", "Asia/Hong_Kong"),
]


async def stored(harness: BotHarness, chat_id: int) -> dict[str, Any]:
    async with harness.services.db.session() as session:
        chat = await session.get(Chat, chat_id)
    return effective_settings(chat, harness.services.config)


@pytest.mark.parametrize(("name", "raw", "key", "expected"), EVERY_SETTING)
async def test_every_setting_by_shortcut(
    harness: BotHarness, firm: GroupChat, name: str, raw: str, key: str, expected: Any
) -> None:
    await firm.say("王律师", f"/set {name} {raw}")
    assert (await stored(harness, firm.id))[key] == expected
    confirmation = firm.last().text
    assert confirmation.startswith(("✅ 已修改", "✅ Changed")), confirmation
    assert "王律师" in confirmation


async def test_moving_the_study_time_moves_the_next_prompt(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    # Monday 08:00; the prompt is due at 09:00 by default.
    await firm.say("王律师", "/set study_time 08:30")
    clock.set(clock.now().replace(hour=0, minute=31))  # 08:31 in Shanghai
    before = len(firm.messages())
    await harness.tick()
    prompts = [m for m in firm.new_since(before) if "第 1 天" in m.text]
    assert len(prompts) == 1 and prompts[0].buttons[0][0] == "✅ 已学习"
    # And back: tomorrow's prompt follows the new time, not the old one.
    await firm.say("王律师", "/set study_time 10:00")
    clock.set(clock.now().replace(hour=1, minute=5) + timedelta(days=1))  # Tuesday 09:05
    before = len(firm.messages())
    await harness.tick()
    assert not [m for m in firm.new_since(before) if "第 2 天" in m.text]
    clock.set(clock.now().replace(hour=2, minute=1))  # Tuesday 10:01
    await harness.tick()
    assert [m for m in firm.new_since(before) if "第 2 天" in m.text]


async def test_a_change_re_derives_the_chats_schedules_at_once(
    harness: BotHarness, firm: GroupChat
) -> None:
    s = harness.services
    seen: list[str] = []

    async def hook(session: AsyncSession, chat: Chat) -> None:
        settings = effective_settings(chat, s.config)
        seen.append(settings["study.time"])
        await s.scheduler.upsert(
            session,
            chat_id=chat.id,
            kind="probe",
            days=settings["study.days"],
            time_of_day=settings["study.time"],
            timezone=settings["timezone"],
        )

    s.chat_hooks.append(hook)
    await firm.say("张三", "/set study_time 08:15")
    assert seen == ["08:15"]
    async with s.db.session() as session:
        schedule = await s.scheduler.get(session, firm.id, "probe")
    assert schedule is not None and schedule.time_of_day == "08:15"
    await firm.say("张三", "/set timezone Asia/Tokyo")
    async with s.db.session() as session:
        schedule = await s.scheduler.get(session, firm.id, "probe")
    assert schedule is not None and schedule.timezone == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("/set study_time 25:00", "时间“25:00”无法识别"),
        ("/set study_days sometimes", "日期“sometimes”无法识别"),
        ("/set quiz_questions 50", "请填写 1 到 10 之间的整数"),
        ("/set timezone Mars/Olympus", "时区“Mars/Olympus”无法识别"),
        ("/set ledger_offsets 3,x", "提前天数“3,x”无法识别"),
        ("/set report_to everyone", "可选：group / admins"),
        ("/set colour blue", "没有名为“colour”的设置"),
        ("/set study_time", "请在名称后填写新的值"),
        ("/set study maybe", "请填写“开”或“关”"),
    ],
)
async def test_bad_values_get_a_clear_error_and_change_nothing(
    harness: BotHarness, firm: GroupChat, command: str, error: str
) -> None:
    before = await stored(harness, firm.id)
    await firm.say("张三", command)
    assert error in firm.last().text
    assert await stored(harness, firm.id) == before


async def test_set_alone_lists_the_keys_with_their_values(firm: GroupChat) -> None:
    await firm.say("王律师", "/set")
    text = firm.last().text
    assert "study_time 学习推送时间：09:00" in text
    assert "timezone 时区：Asia/Shanghai" in text
    assert "quiz_questions 每轮题数：3" in text


async def test_members_are_told_politely_that_only_admins_can(
    harness: BotHarness, firm: GroupChat
) -> None:
    await firm.say("李四", "/settings")
    assert firm.last().text == "抱歉，只有本群管理员可以进行此操作。"
    await firm.say("李四", "/set study_time 06:00")
    assert (await stored(harness, firm.id))["study.time"] == "09:00"


async def test_an_anonymous_admin_can_change_settings(harness: BotHarness, firm: GroupChat) -> None:
    await firm.say_anonymously("/set quiz_questions 4")
    assert (await stored(harness, firm.id))["quiz.questions"] == 4


async def test_the_menu_changes_settings_with_buttons(harness: BotHarness, firm: GroupChat) -> None:
    await firm.say("王律师", "/settings")
    menu = firm.last()
    assert "本群设置" in menu.text and "学习推送时间：09:00" in menu.text
    await firm.press("王律师", "📖 每日学习", menu)
    assert "其他时间请发送" in firm.message(menu.message_id).text
    await firm.press("王律师", "08:30", menu)
    assert (await stored(harness, firm.id))["study.time"] == "08:30"
    assert "学习推送时间：08:30" in firm.message(menu.message_id).text
    assert firm.last().text == "✅ 已修改：学习推送时间 → 08:30（王律师）"
    # Weekdays: Monday, Wednesday, Friday.
    await firm.press("王律师", "选择星期…", menu)
    for day in ("✓ 二", "✓ 四"):
        await firm.press("王律师", day, menu)
    await firm.press("王律师", "✅ 保存", menu)
    assert (await stored(harness, firm.id))["study.days"] == "weekdays:1,3,5"
    assert "学习推送日期 → 每周一、三、五" in firm.last().text
    await firm.press("王律师", "« 返回", menu)
    await firm.press("王律师", "✖ 关闭", menu)
    assert firm.message(menu.message_id).text.startswith("设置已关闭")


async def test_a_member_pressing_menu_buttons_is_refused(
    harness: BotHarness, firm: GroupChat
) -> None:
    await firm.say("王律师", "/settings")
    menu = firm.last()
    await firm.press("李四", "📖 每日学习", menu)
    answer = harness.emulator.callback_answers[-1]
    assert answer["text"] == "抱歉，只有本群管理员可以进行此操作。" and answer["show_alert"]
    assert "本群设置" in firm.message(menu.message_id).text


async def test_switching_the_language_to_english(harness: BotHarness, firm: GroupChat) -> None:
    await firm.say("王律师", "/settings")
    menu = firm.last()
    await firm.press("王律师", "🌐 语言", menu)
    await firm.press("王律师", "English", menu)
    assert firm.last().text.startswith("✅ Changed: Language → English")
    await firm.say("李四", "/help")
    assert "Commands:" in firm.last().text


async def test_settings_only_in_groups(harness: BotHarness, firm: GroupChat) -> None:
    user = firm.members["张三"]
    chat = harness.emulator.private_chat(user)
    await harness.handled(harness.emulator.send_message(chat.id, user, "/settings"))
    assert "请在律所群里发送此命令" in harness.emulator.last(chat.id).text
