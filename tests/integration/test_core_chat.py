"""The foundation, as a chat: joining, greeting, help, the menu, leaving, upgrades, admins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from telegram import Update
from telegram.ext import CommandHandler

from bot.db.models import Chat, Member, Schedule, User
from bot.sandbox.driver import BotHarness, GroupChat, make_group
from handlers.common import Context, is_admin, reply, svc


async def count(harness: BotHarness, model: Any, **where: Any) -> int:
    async with harness.services.db.session() as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return int(await session.scalar(query) or 0)


async def test_added_to_a_group_the_bot_registers_it_and_greets_in_chinese(
    harness: BotHarness,
) -> None:
    firm = await make_group(harness, "某某律师事务所", ["张三", "李四"], bot_admin=False)
    greeting = firm.last()
    assert "大家好" in greeting.text and "某某律师事务所" in greeting.text
    assert "设为群管理员" in greeting.text and "/settings" in greeting.text
    async with harness.services.db.session() as session:
        chat = await session.get(Chat, firm.id)
    assert chat is not None and chat.active and chat.title == "某某律师事务所"
    assert not chat.bot_is_admin


async def test_added_as_admin_the_greeting_skips_the_admin_request(harness: BotHarness) -> None:
    firm = await make_group(harness, "甲律师事务所", ["张三"], bot_admin=True)
    assert "设为群管理员" not in firm.last().text
    assert "/settings" in firm.last().text


async def test_promoted_later_says_thanks_and_records_it(harness: BotHarness) -> None:
    firm = await make_group(harness, "乙律师事务所", ["张三"], bot_admin=False)
    await harness.handled(harness.emulator.promote_bot(firm.id, firm.members["张三"]))
    assert "管理员权限" in firm.last().text
    async with harness.services.db.session() as session:
        chat = await session.get(Chat, firm.id)
    assert chat is not None and chat.bot_is_admin


async def test_help_in_chinese_lists_the_commands(firm: GroupChat) -> None:
    await firm.say("李四", "/help")
    text = firm.last().text
    assert "可用命令" in text
    assert "/start — 开始使用" in text and "/help — 查看帮助和命令列表" in text


async def test_help_in_english_for_english_speakers(harness: BotHarness) -> None:
    firm = await make_group(harness, "Firm", ["Alice", "Bob"], language_code="en-GB")
    await firm.say("Bob", "/help")
    assert "Commands:" in firm.last().text
    await firm.say("Bob", "/help@firmbot_test_bot")
    assert "Commands:" in firm.last().text


async def test_start_in_private_greets_by_name(harness: BotHarness, firm: GroupChat) -> None:
    user = firm.members["李四"]
    chat = harness.emulator.private_chat(user)
    await harness.handled(harness.emulator.send_message(chat.id, user, "/start"))
    texts = [m.text for m in harness.emulator.messages(chat.id)]
    assert texts[0].startswith("李四，您好")
    assert "可用命令" in texts[1]
    async with harness.services.db.session() as session:
        row = await session.get(User, user.id)
    assert row is not None and row.private_chat_open


async def test_command_menu_is_set_for_chinese_and_english(harness: BotHarness) -> None:
    menus = harness.emulator.my_commands
    zh = menus[("default", "zh")]
    en = menus[("default", "en")]
    assert {"command": "help", "description": "查看帮助和命令列表"} in zh
    assert {"command": "help", "description": "Help and the list of commands"} in en
    assert ("all_chat_administrators", "zh") in menus


async def test_free_text_gets_no_reply_and_unknown_commands_a_hint_only_when_addressed(
    firm: GroupChat,
) -> None:
    before = len(firm.messages())
    await firm.say("李四", "大家早上好")
    await firm.say("李四", "/weather")  # may be another bot's command
    assert len(firm.messages()) == before
    await firm.say("李四", "/weather@firmbot_test_bot")
    assert firm.last().text == "我不认识命令 /weather。发送 /help 查看可用命令。"


async def test_members_are_recorded_when_they_speak(harness: BotHarness, firm: GroupChat) -> None:
    await firm.say("李四", "收到")
    await firm.say("王律师", "收到")
    assert await count(harness, Member, chat_id=firm.id) == 3  # 张三 added the bot


async def test_removed_the_chat_is_inactive_and_its_schedules_paused(
    harness: BotHarness, firm: GroupChat
) -> None:
    s = harness.services
    async with s.db.session() as session:
        await s.scheduler.upsert(
            session,
            chat_id=firm.id,
            kind="study",
            days="daily",
            time_of_day="09:00",
            timezone="Asia/Shanghai",
        )
    await harness.handled(harness.emulator.remove_bot(firm.id, firm.members["张三"]))
    async with s.db.session() as session:
        chat = await session.get(Chat, firm.id)
        schedule = await session.scalar(select(Schedule).where(Schedule.chat_id == firm.id))
    assert chat is not None and not chat.active and chat.deactivated_at is not None
    assert schedule is not None and not schedule.enabled
    # Added back: active again, schedules resume.
    await harness.handled(harness.emulator.add_bot(firm.id, firm.members["张三"], as_admin=True))
    async with s.db.session() as session:
        chat = await session.get(Chat, firm.id)
        schedule = await session.scalar(select(Schedule).where(Schedule.chat_id == firm.id))
    assert chat is not None and chat.active
    assert schedule is not None and schedule.enabled and schedule.next_due_at is not None


async def test_group_upgrade_moves_every_row_to_the_new_id(harness: BotHarness) -> None:
    firm = await make_group(harness, "丙律师事务所", ["张三", "李四"])
    s = harness.services
    await firm.say("李四", "收到")
    async with s.db.session() as session:
        chat = await session.get(Chat, firm.id)
        assert chat is not None
        chat.settings = {"study.time": "08:30"}
        await s.scheduler.upsert(
            session,
            chat_id=firm.id,
            kind="study",
            days="daily",
            time_of_day="08:30",
            timezone="Asia/Shanghai",
        )
    old_id = firm.id
    schedules = await count(harness, Schedule, chat_id=old_id)
    assert schedules >= 1
    new_id = harness.emulator.upgrade_group(old_id)
    await harness.settle()
    assert await count(harness, Chat, id=old_id) == 0
    async with s.db.session() as session:
        moved = await session.get(Chat, new_id)
    assert (
        moved is not None
        and moved.settings == {"study.time": "08:30"}
        and moved.title == "丙律师事务所"
    )
    assert await count(harness, Member, chat_id=new_id) == 2
    assert await count(harness, Schedule, chat_id=new_id) == schedules
    assert await count(harness, Schedule, chat_id=old_id) == 0
    assert await count(harness, Member, chat_id=old_id) == 0


async def test_sending_to_an_upgraded_group_follows_it(harness: BotHarness) -> None:
    firm = await make_group(harness, "丁律师事务所", ["张三"])
    # The bot has not yet seen the migration messages when it next sends.
    new_id = harness.emulator.upgrade_group(firm.id)
    sent = await harness.services.sender.send(firm.id, "通知")
    assert sent is not None and sent.chat_id == new_id
    assert harness.emulator.last(new_id).text == "通知"
    assert await count(harness, Chat, id=new_id) == 1


def add_probe(harness: BotHarness) -> None:
    """An admin-only test command, wired after the real handlers (group 1)."""

    async def cmd_probe(update: Update, context: Context) -> None:
        verdict = "admin" if await is_admin(update, context) else "member"
        await reply(update, context, verdict)

    assert harness.app is not None
    harness.app.add_handler(CommandHandler("probe", cmd_probe), group=1)


async def test_admin_check_covers_admins_creators_anonymous_admins_and_bot_admins(
    harness: BotHarness, firm: GroupChat
) -> None:
    add_probe(harness)
    await firm.say("张三", "/probe")
    assert firm.last().text == "admin"  # creator
    await firm.say("王律师", "/probe")
    assert firm.last().text == "admin"  # administrator
    await firm.say("李四", "/probe")
    assert firm.last().text == "member"
    await firm.say_anonymously("/probe")
    assert firm.last().text == "admin"


async def test_admin_status_is_cached_and_refreshed_by_chat_member_updates(
    harness: BotHarness, firm: GroupChat
) -> None:
    add_probe(harness)
    await firm.say("李四", "/probe")
    asked = len(harness.emulator.calls("getChatMember"))
    await firm.say("李四", "/probe")
    assert len(harness.emulator.calls("getChatMember")) == asked  # cached
    await harness.handled(
        harness.emulator.set_admin(firm.id, firm.members["李四"], True, by=firm.members["张三"])
    )
    await firm.say("李四", "/probe")
    assert firm.last().text == "admin"


async def test_bot_wide_admins_from_config(
    emulator: Any, database_url: str, clock: Any, content: Any
) -> None:
    from bot.sandbox.driver import harness_config

    stranger = emulator.create_user("协会管理员")
    config = harness_config(emulator, database_url, admins=[stranger.id])
    bot = BotHarness(emulator, config, clock, content=content)
    await bot.start()
    try:
        firm = await make_group(bot, "戊律师事务所", ["张三", "李四"])
        emulator.set_member(firm.id, stranger, "member")
        firm.members["协会"] = stranger
        add_probe(bot)
        await firm.say("协会", "/probe")
        assert firm.last().text == "admin"
        assert svc(bot.app).permissions.is_bot_admin(stranger.id)  # type: ignore[arg-type]
    finally:
        await bot.stop()


async def test_a_failing_handler_answers_briefly_and_the_bot_keeps_going(
    harness: BotHarness, firm: GroupChat, caplog: Any
) -> None:
    async def cmd_boom(update: Update, context: Context) -> None:
        raise RuntimeError("secret internals")

    assert harness.app is not None
    harness.app.add_handler(CommandHandler("boom", cmd_boom), group=1)
    await firm.say("李四", "/boom")
    assert firm.last().text == "抱歉，处理时出了点问题，请稍后再试。问题已记录。"
    assert "secret internals" not in " ".join(firm.texts())
    assert "secret internals" in caplog.text  # logged with the traceback
    await firm.say("李四", "/help")
    assert "可用命令" in firm.last().text


async def test_commands_in_a_group_the_bot_does_not_know_explain_how_to_register(
    harness: BotHarness,
) -> None:
    emu = harness.emulator
    zhang = emu.create_user("张三")
    group = emu.create_group("未登记的群")
    emu.set_member(group.id, zhang, "creator")
    emu.set_member(group.id, emu.bot_user, "member")  # added while the bot was offline
    await harness.handled(emu.send_message(group.id, zhang, "/weather@firmbot_test_bot"))
    assert "本群还没有在 FirmBot 登记" in emu.last(group.id).text
    assert "/start@firmbot_test_bot" in emu.last(group.id).text
    await harness.handled(emu.send_message(group.id, zhang, "/start@firmbot_test_bot"))
    assert "大家好" in emu.last(group.id).text
    async with harness.services.db.session() as session:
        chat = await session.get(Chat, group.id)
    assert chat is not None and chat.active


async def test_editing_a_command_does_not_run_it_again(
    harness: BotHarness, firm: GroupChat
) -> None:
    sent = await firm.say("李四", "/help")
    before = len(firm.messages())
    message_id = sent["message"]["message_id"]
    await harness.handled(
        harness.emulator.edit_message(firm.id, message_id, firm.members["李四"], "/start")
    )
    await harness.handled(
        harness.emulator.edit_message(
            firm.id, message_id, firm.members["李四"], "/nope@firmbot_test_bot"
        )
    )
    assert len(firm.messages()) == before
