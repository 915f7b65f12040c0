"""Daily study, as a chat: the prompt, check-ins, reflections, /study, /me, report, 优秀心得."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select

import handlers.study
from bot import study
from bot.clock import FakeClock
from bot.content.loader import Content
from bot.db.models import Chat
from bot.db.models.study import StudyCheckin, StudyPost, StudyReflection
from bot.sandbox.driver import BotHarness, GroupChat, harness_config, make_group
from bot.sandbox.emulator import Emulator, SentMessage

SH = ZoneInfo("Asia/Shanghai")
CHECKIN = "✅ 已学习"
REFLECT = "✍️ 写心得"
LONG = "我认为律师应当坚持以人民为中心，依法维护当事人的合法权益。"


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
    """Count edits coalesce within 0.3 s here instead of 1.5 s."""
    monkeypatch.setattr(handlers.study, "CHECKIN_EDIT_DELAY", 0.3)
    monkeypatch.setattr(handlers.study, "CHECKIN_EDIT_GAP", 0.3)


async def at(harness: BotHarness, clock: FakeClock, *when: int) -> Any:
    """Move the clock to a Shanghai time and let the scheduler run."""
    clock.set(datetime(*when, tzinfo=SH))  # type: ignore[misc]
    return await harness.tick()


def prompts(firm: GroupChat) -> list[SentMessage]:
    """The bot's messages carrying a study check-in button, oldest first."""
    return [
        m
        for m in firm.messages()
        if m.buttons and m.button_data(m.buttons[0][0]).startswith("study:in:")
    ]


async def reply(
    harness: BotHarness, firm: GroupChat, who: str, text: str, to: SentMessage
) -> dict[str, Any]:
    update = harness.emulator.send_message(firm.id, firm.members[who], text, reply_to=to.message_id)
    await harness.handled(update)
    return update


async def scalar(harness: BotHarness, query: Any) -> Any:
    async with harness.services.db.session() as session:
        return await session.scalar(query)


def answers(emulator: Emulator) -> list[str]:
    return [a["text"] for a in emulator.callback_answers]


async def test_the_prompt_goes_out_at_nine_once_with_day_n_of_m_and_two_buttons(
    harness: BotHarness, firm: GroupChat, clock: FakeClock, content: Content
) -> None:
    await at(harness, clock, 2023, 7, 24, 8, 59)
    assert prompts(firm) == []
    await at(harness, clock, 2023, 7, 24, 9, 0)
    await at(harness, clock, 2023, 7, 24, 9, 30)
    [message] = prompts(firm)
    first = content.curriculum[0]
    text = message.text
    assert "第 1 天（共 41 天）" in text and "7月24日（星期一）" in text
    assert first.title in text and "对照要求：通知总体精神" in text
    assert first.excerpt in text and first.explanation in text and first.question in text
    assert message.buttons == [[CHECKIN, REFLECT]]
    assert message.entity_texts("blockquote") == [first.excerpt]
    # The next workday brings day 2, which names its requirement.
    await at(harness, clock, 2023, 7, 25, 9, 0)
    second = prompts(firm)[-1]
    assert "第 2 天（共 41 天）" in second.text and content.curriculum[1].title in second.text
    assert [c.slot_at for c in await harness.services.scheduler.claims(firm.id, "study")] == [
        datetime(2023, 7, 24, 9, tzinfo=SH),
        datetime(2023, 7, 25, 9, tzinfo=SH),
    ]


async def test_check_in_counts_once_and_a_second_press_tells_when(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await at(harness, clock, 2023, 7, 24, 9, 0)
    prompt = prompts(firm)[-1]
    clock.set(datetime(2023, 7, 24, 9, 5, tzinfo=SH))
    await firm.press("李四", CHECKIN)
    clock.set(datetime(2023, 7, 24, 9, 20, tzinfo=SH))
    await firm.press("李四", CHECKIN)
    assert answers(harness.emulator) == [
        "打卡成功（09:05）。回复学习消息还可以写心得。",
        "已打卡（09:05）",
    ]
    await harness.emulator.wait_for(lambda: "✅ 已打卡 1 人" in prompt.text)
    assert await scalar(harness, select(func.count()).select_from(StudyCheckin)) == 1
    # The next day, yesterday's check-in shows its date.
    clock.set(datetime(2023, 7, 25, 8, 0, tzinfo=SH))
    await firm.press("李四", CHECKIN, message=prompt)
    assert answers(harness.emulator)[-1] == "已打卡（7月24日（星期一） 09:05）"
    await firm.press("王律师", REFLECT, message=prompt)
    how = harness.emulator.callback_answers[-1]
    assert how["show_alert"] and "选择「回复」" in how["text"]
    assert prompt.buttons == [[CHECKIN, REFLECT]]  # the edits keep the buttons


async def test_a_press_on_a_prompt_that_is_gone_says_so_and_stores_nothing(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await at(harness, clock, 2023, 7, 24, 9, 0)
    prompt = prompts(firm)[-1]
    data = prompt.button_data(CHECKIN)
    post_id = int(data.rsplit(":", 1)[1])
    async with harness.services.db.session() as session:
        await session.execute(delete(StudyPost).where(StudyPost.id == post_id))
    update = harness.emulator.press_button(
        firm.id, prompt.message_id, firm.members["李四"], data=data
    )
    await harness.handled(update)
    assert answers(harness.emulator) == ["找不到这条学习内容，可能已被删除。"]
    assert await scalar(harness, select(func.count()).select_from(StudyCheckin)) == 0


async def test_a_burst_of_fifty_presses_costs_a_handful_of_edits_and_ends_exact(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    emulator = harness.emulator
    await at(harness, clock, 2023, 7, 24, 9, 0)
    prompt = prompts(firm)[-1]
    lawyers = [emulator.create_user(f"律师{i:02d}") for i in range(50)]
    for lawyer in lawyers:
        emulator.set_member(firm.id, lawyer)
    edits_before = len(emulator.calls("editMessageText"))
    for lawyer in lawyers:  # all at once, as a burst
        emulator.press_button(firm.id, prompt.message_id, lawyer, label=CHECKIN)
    await harness.settle(timeout=30)
    await emulator.wait_for(lambda: "✅ 已打卡 50 人" in prompt.text, timeout=10)
    await harness.services.extras["study.debouncer"].wait()
    edits = len(emulator.calls("editMessageText")) - edits_before
    assert 1 <= edits <= 8, edits
    assert prompt.text.endswith("✅ 已打卡 50 人")
    assert len([a for a in emulator.callback_answers if a["text"].startswith("打卡成功")]) == 50


async def test_a_reply_is_a_reflection_and_a_check_in_even_with_privacy_mode(
    harness: BotHarness, clock: FakeClock
) -> None:
    harness.emulator.privacy_mode = True
    firm = await make_group(harness, "某律师事务所", ["张三", "李四"], bot_admin=False)
    await at(harness, clock, 2023, 7, 24, 9, 0)
    prompt = prompts(firm)[-1]
    before = len(firm.messages())
    update = await reply(harness, firm, "李四", LONG, prompt)
    message_id = update["message"]["message_id"]
    assert harness.emulator.reactions[-1]["message_id"] == message_id
    assert harness.emulator.reactions[-1]["reaction"] == [{"type": "emoji", "emoji": "👍"}]
    assert len(firm.messages()) == before  # acknowledged by a reaction, not a message
    await harness.emulator.wait_for(lambda: "✅ 已打卡 1 人" in prompt.text)
    reflection = await scalar(harness, select(StudyReflection))
    assert reflection.text == LONG and reflection.counted
    # An edit replaces the stored text, quietly.
    edited = LONG + "今后要把这一要求落实到每一件案件中。"
    await harness.handled(
        harness.emulator.edit_message(firm.id, message_id, firm.members["李四"], edited)
    )
    reflection = await scalar(harness, select(StudyReflection))
    assert reflection.text == edited
    assert len(firm.messages()) == before and len(harness.emulator.reactions) == 1
    # The button afterwards says it was done already.
    await firm.press("李四", CHECKIN, message=prompt)
    assert answers(harness.emulator)[-1].startswith("已打卡（")


async def test_short_replies_are_kept_uncounted_and_over_long_ones_are_cut_at_4000(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await at(harness, clock, 2023, 7, 24, 9, 0)
    prompt = prompts(firm)[-1]
    await reply(harness, firm, "李四", "已学习", prompt)
    assert firm.last().text == (
        "已记为打卡。心得需要至少 10 个字，这条回复暂未计为心得，可以再回复本条学习消息补充。"
    )
    reflection = await scalar(harness, select(StudyReflection))
    assert reflection.text == "已学习" and not reflection.counted
    assert await scalar(harness, select(func.count()).select_from(StudyCheckin)) == 1
    await reply(harness, firm, "李四", LONG, prompt)
    reflection = await scalar(harness, select(StudyReflection))
    assert reflection.text == f"已学习\n\n{LONG}" and reflection.counted
    assert harness.emulator.reactions  # the second reply is acknowledged
    await reply(harness, firm, "张三", "学" * 4096, prompt)
    assert firm.last().text == "心得超过 4000 字，已保存前 4000 字，超出的部分没有保存。"
    longest = await scalar(harness, select(StudyReflection).order_by(StudyReflection.id.desc()))
    assert len(longest.text) == 4000 and longest.truncated and longest.counted


async def test_replies_to_older_prompts_attach_to_them_and_other_replies_are_ignored(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await at(harness, clock, 2023, 7, 24, 9, 0)
    await at(harness, clock, 2023, 7, 25, 9, 0)
    monday, tuesday = prompts(firm)
    await reply(harness, firm, "李四", LONG, monday)
    await harness.emulator.wait_for(lambda: "✅ 已打卡 1 人" in monday.text)
    assert "已打卡" not in tuesday.text
    post_days = await scalar(
        harness,
        select(StudyPost.day_number)
        .join(StudyReflection, StudyReflection.post_id == StudyPost.id)
        .limit(1),
    )
    assert post_days == 1
    # A reply to another bot message (the /help answer) is nobody's reflection here.
    await firm.say("李四", "/help")
    help_message = firm.last()
    before = len(firm.messages())
    await reply(harness, firm, "李四", LONG, help_message)
    await reply(harness, firm, "李四", "大家好，今天下午开会", monday)  # fine: more reflection
    assert len(firm.messages()) == before
    assert await scalar(harness, select(func.count()).select_from(StudyReflection)) == 1


async def test_study_shows_the_latest_prompt_again_and_replies_to_it_count(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await firm.say("李四", "/study")
    assert firm.last().text == (
        "本群还没有推送过学习内容。第 1 天的内容将于 7月24日（星期一） 09:00 推送。"
    )
    await at(harness, clock, 2023, 7, 24, 9, 0)
    await firm.press("张三", CHECKIN)
    clock.set(datetime(2023, 7, 24, 18, 0, tzinfo=SH))
    await firm.say("李四", "/study")
    copy = firm.last()
    assert "第 1 天（共 41 天）" in copy.text and "✅ 已打卡 1 人" in copy.text
    assert copy.buttons == [[CHECKIN, REFLECT]]
    await reply(harness, firm, "李四", LONG, copy)
    original = prompts(firm)[0]
    await harness.emulator.wait_for(lambda: "✅ 已打卡 2 人" in original.text)
    await firm.press("王律师", CHECKIN, message=copy)
    await harness.emulator.wait_for(lambda: "✅ 已打卡 3 人" in original.text)


async def test_study_in_private_for_members_and_a_pointer_for_others(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    emulator = harness.emulator
    await at(harness, clock, 2023, 7, 24, 9, 0)
    await firm.say("李四", "收到")  # now the bot knows 李四 is a member
    member = firm.members["李四"]
    private = emulator.private_chat(member)
    await harness.handled(emulator.send_message(private.id, member, "/study"))
    copy = emulator.last(private.id)
    assert copy.text.startswith("「示范律师事务所」") and "第 1 天（共 41 天）" in copy.text
    await harness.handled(emulator.send_message(private.id, member, LONG, reply_to=copy.message_id))
    assert emulator.reactions[-1]["chat_id"] == private.id
    original = prompts(firm)[0]
    await emulator.wait_for(lambda: "✅ 已打卡 1 人" in original.text)
    stranger = emulator.create_user("路人")
    chat = emulator.private_chat(stranger)
    await harness.handled(emulator.send_message(chat.id, stranger, "/study"))
    assert "请先加入律所的群" in emulator.last(chat.id).text
    await harness.handled(emulator.send_message(chat.id, stranger, "/me"))
    assert "请先加入律所的群" in emulator.last(chat.id).text


async def test_me_shows_streak_week_month_and_reflections(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    # Mon..Thu prompts; 李四 checks in Tue, Wed and (by a reply) Thu.
    for day in (24, 25, 26, 27):
        await at(harness, clock, 2023, 7, day, 9, 0)
        if day == 25 or day == 26:
            await firm.press("李四", CHECKIN)
        if day == 27:
            await reply(harness, firm, "李四", LONG, prompts(firm)[-1])
    clock.set(datetime(2023, 7, 28, 8, 0, tzinfo=SH))
    await firm.say("李四", "/me")
    text = firm.last().text
    assert text.startswith("李四的学习记录")
    assert "连续打卡：3 天" in text
    assert "本周打卡：3 / 4 天" in text and "本月打卡：3 / 4 天" in text
    assert "心得：共 1 篇，本月 1 篇，其中优秀心得 0 篇" in text
    # The quiz part: accuracy per requirement (none answered yet).
    assert "测验正确率" in text and "尚未答题" in text
    # Friday's prompt, not yet studied, does not break the streak while Friday lasts.
    await at(harness, clock, 2023, 7, 28, 9, 0)
    await firm.say("李四", "/me")
    assert "连续打卡：3 天" in firm.last().text and "本周打卡：3 / 5 天" in firm.last().text
    # Next Monday it does; a new week and a new month.
    await at(harness, clock, 2023, 8, 1, 10, 0)
    await firm.say("李四", "/me")
    text = firm.last().text
    assert (
        "连续打卡：0 天" in text and "本周打卡：0 / 1 天" in text and "本月打卡：0 / 1 天" in text
    )


async def test_in_a_group_the_bot_does_not_know_commands_explain_how_to_register(
    harness: BotHarness, firm: GroupChat
) -> None:
    async with harness.services.db.session() as session:
        await session.execute(delete(Chat).where(Chat.id == firm.id))
    for command in ("/study", "/me", "/study_report", "/session 2023-08-05 14:00 学习"):
        await firm.say("王律师", command)
        assert firm.last().text.startswith("本群还没有在 FirmBot 登记"), command
        assert "/start@firmbot_test_bot" in firm.last().text
    await firm.say("王律师", "/start@firmbot_test_bot")
    await firm.say("王律师", "/study")
    assert firm.last().text.startswith("本群还没有推送过学习内容")


async def test_study_report_shows_the_week_per_member_and_who_has_been_idle(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await firm.say("李四", "收到")
    for day in (24, 25, 26, 27):
        await at(harness, clock, 2023, 7, day, 9, 0)
        await firm.press("王律师", CHECKIN)
        if day == 24:
            await firm.press("李四", CHECKIN)
    await reply(harness, firm, "王律师", LONG, prompts(firm)[-1])
    # Friday before the prompt: Thursday's prompt is now a missed study day.
    clock.set(datetime(2023, 7, 28, 8, 0, tzinfo=SH))
    await firm.say("李四", "/study_report")
    assert firm.last().text == "抱歉，只有本群管理员可以进行此操作。"
    await firm.say("王律师", "/study_report")
    text = firm.last().text
    assert "本周学习情况（7月24日（星期一） 至 7月30日（星期日））" in text
    assert "本周推送学习内容 4 天，集中学习 0 次。" in text
    assert "王律师：打卡 4/4，心得 1，集中学习 0/0" in text
    assert "李四：打卡 1/4，心得 0，集中学习 0/0" in text
    assert "张三：打卡 0/4，心得 0，集中学习 0/0" in text
    idle = text.split("连续 3 个学习日以上未学习", 1)[1]
    assert "张三：连续 4 个学习日未打卡，还没有打过卡" in idle
    assert "李四：连续 3 个学习日未打卡，最近一次打卡在 7月24日（星期一）" in idle
    assert "王律师" not in idle


async def test_an_admin_marks_an_excellent_reflection_and_the_group_sees_it(
    harness: BotHarness, firm: GroupChat, clock: FakeClock, content: Content
) -> None:
    await at(harness, clock, 2023, 7, 24, 9, 0)
    prompt = prompts(firm)[-1]
    good = await reply(harness, firm, "李四", LONG, prompt)
    short = await reply(harness, firm, "张三", "收到", prompt)
    good_id = good["message"]["message_id"]
    await firm.say("李四", "/excellent", reply_to=good_id)
    assert firm.last().text == "抱歉，只有本群管理员可以进行此操作。"
    await firm.say("王律师", "/excellent")
    assert firm.last().text == "请回复一条心得消息并发送 /excellent，将它标为优秀心得。"
    await firm.say("王律师", "/excellent", reply_to=short["message"]["message_id"])
    assert "不足 10 个字" in firm.last().text
    await firm.say("王律师", "/excellent", reply_to=prompt.message_id)
    assert firm.last().text == "请回复一条心得消息并发送 /excellent，将它标为优秀心得。"
    chatter = await firm.say("张三", "今天下午开会")
    await firm.say("王律师", "/excellent", reply_to=chatter["message"]["message_id"])
    assert firm.last().text == "所回复的消息不是对学习内容的心得。"
    await firm.say("王律师", "/excellent", reply_to=good_id)
    shared = firm.last()
    assert shared.text.startswith("🌟 优秀心得")
    assert f"李四 学习第 1 天「{content.curriculum[0].title}」的心得" in shared.text
    assert LONG in shared.text and shared.mentions == [firm.members["李四"].id]
    await firm.say("王律师", "/excellent", reply_to=good_id)
    assert firm.last().text == "这篇心得已经标为优秀心得了。"
    await firm.say("李四", "/me")
    assert "其中优秀心得 1 篇" in firm.last().text


async def test_study_off_sends_nothing_and_a_new_time_applies_at_once(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    s = harness.services
    async with s.db.session() as session:
        chat = await session.get(Chat, firm.id)
        assert chat is not None
        chat.settings = {"study.enabled": False}
        await study.sync_schedule(session, s.scheduler, chat, s.config)
    await at(harness, clock, 2023, 7, 24, 9, 0)
    assert prompts(firm) == []
    await firm.say("李四", "/study")
    assert firm.last().text == "本群没有开启每日学习。管理员可以发送 /settings 开启。"
    async with s.db.session() as session:
        chat = await session.get(Chat, firm.id)
        assert chat is not None
        chat.settings = {"study.enabled": True, "study.time": "08:30", "study.days": "daily"}
        await study.sync_schedule(session, s.scheduler, chat, s.config)
    await at(harness, clock, 2023, 7, 25, 8, 29)
    assert prompts(firm) == []
    await at(harness, clock, 2023, 7, 25, 8, 30)
    assert len(prompts(firm)) == 1
    await at(harness, clock, 2023, 7, 29, 8, 30)  # a Saturday: daily now
    assert len(prompts(firm)) == 2


async def test_after_the_last_prompt_the_curriculum_starts_over_and_says_so(
    emulator: Emulator, database_url: str, clock: FakeClock, content: Content
) -> None:
    short = dataclasses.replace(content, curriculum=content.curriculum[:2])
    bot = BotHarness(emulator, harness_config(emulator, database_url), clock, content=short)
    await bot.start()
    try:
        firm = await make_group(bot, "小所", ["张三", "李四"])
        for day in (24, 25, 26, 27):
            await at(bot, clock, 2023, 7, day, 9, 0)
        texts = [m.text for m in prompts(firm)]
        assert ["第 1 天（共 2 天）" in texts[0], "第 2 天（共 2 天）" in texts[1]] == [True, True]
        assert "本群已学完全部 2 天的内容，今天起开始第 2 轮学习。" in texts[2]
        assert "第 2 轮 · 第 1 天（共 2 天）" in texts[2]
        assert "第 2 轮 · 第 2 天（共 2 天）" in texts[3] and "已学完" not in texts[3]
        # The restart note stays when the count is edited in.
        await firm.press("李四", CHECKIN, message=prompts(firm)[2])
        third = prompts(firm)[2]
        await emulator.wait_for(lambda: "✅ 已打卡 1 人" in third.text)
        assert "今天起开始第 2 轮学习" in third.text
    finally:
        await bot.stop()


async def test_english_speakers_get_their_answers_in_english(
    harness: BotHarness, clock: FakeClock
) -> None:
    firm = await make_group(harness, "Firm", ["Alice", "Bob"], language_code="en-GB")
    async with harness.services.db.session() as session:
        chat = await session.get(Chat, firm.id)
        assert chat is not None
        chat.locale = "en"
    await firm.say("Bob", "/study")
    assert firm.last().text.startswith("No study prompt has been sent to this group yet.")
    await at(harness, clock, 2023, 7, 24, 9, 0)
    assert "Daily study · day 1 of 41" in prompts(firm)[-1].text
    await firm.press("Bob", "✅ Studied")
    assert harness.emulator.callback_answers[-1]["text"].startswith("Checked in (09:00)")
