"""The Bot API emulator, exercised through PTB's own Bot and Application over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import struct
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    ChatFullInfo,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberMember,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    Poll,
    ReactionTypeEmoji,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes
from telegram.warnings import PTBUserWarning

from bot.sandbox.emulator import Emulator, SentMessage

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 640, 480) + b"\x08\x02" * 8


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator() as emulator:
        yield emulator


@pytest.fixture
async def bot(emu: Emulator) -> AsyncIterator[Bot]:
    async with Bot(emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url) as ptb:
        yield ptb


class World:
    """A firm's group with the bot in it and two lawyers."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.boss = emu.create_user("张", last_name="伟", username="zhang_wei")
        self.li = emu.create_user("李", username="li_na")
        self.group = emu.create_group("某某律师事务所学习群")
        emu.set_member(self.group.id, self.boss, "creator")
        emu.set_member(self.group.id, self.li)
        emu.set_member(self.group.id, emu.bot_user)


@pytest.fixture
def world(emu: Emulator) -> World:
    return World(emu)


@contextlib.contextmanager
def ptb_warnings_fail() -> Iterator[None]:
    """Any PTB warning or deprecation is a failure here — and only those: a blanket
    "error" filter also turned a ResourceWarning from an earlier test's socket, collected
    by chance inside this block, into this test's failure."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PTBUserWarning)
        warnings.simplefilter("error", DeprecationWarning)
        yield


async def fetch(bot: Bot, emu: Emulator) -> list[Update]:
    """All pending updates, confirmed (PTB parses them on the way)."""
    with ptb_warnings_fail():
        updates = await bot.get_updates(timeout=0, allowed_updates=Update.ALL_TYPES)
    if updates:
        await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    assert emu.pending_updates() == 0
    return list(updates)


def parse(update: dict[str, Any], bot: Bot) -> Update:
    with ptb_warnings_fail():
        parsed = Update.de_json(update, bot)
    assert parsed is not None
    return parsed


# ---------------------------------------------------------------------------- basics


async def test_get_me_wrong_token_and_unknown_method(emu: Emulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456789, "firmbot_test_bot", True)
    wrong = Bot("1:wrong", base_url=emu.base_url)
    try:
        with pytest.raises(InvalidToken):
            await wrong.get_me()
    finally:
        # Bot.shutdown() returns at once for a bot that was never initialized (this one
        # only called get_me, and initialize would fail on the token too), leaving the
        # connection to a later test's GC: close it here.
        await wrong.request.shutdown()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emu.base_url}{emu.token}/sendCarrierPigeon") as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
        # Method names are case-insensitive and JSON bodies work as well as forms.
        async with http.post(f"{emu.base_url}{emu.token}/getme", json={}) as resp:
            assert (await resp.json())["result"]["id"] == 123456789
    assert [c.method for c in emu.calls("getMe")][-1] == "getMe"


async def test_long_poll_wakes_on_update_and_offset_confirms(
    emu: Emulator, bot: Bot, world: World
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    update = emu.send_message(world.group.id, world.li, "早上好")
    got = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1.5
    assert [u.update_id for u in got] == [update["update_id"]]
    assert got[0].message is not None and got[0].message.text == "早上好"
    # Delivered but not confirmed until an offset moves past it.
    assert emu.pending_updates() == 1
    waiter = asyncio.create_task(emu.wait_delivered(update["update_id"], timeout=2))
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [update["update_id"]]
    await bot.get_updates(offset=update["update_id"] + 1, timeout=0)
    await waiter
    assert emu.pending_updates() == 0


async def test_long_poll_times_out_empty_and_stop_ends_it(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=dt.timedelta(seconds=0.2)) == ()
    assert time.monotonic() - started >= 0.2

    other = Emulator()
    await other.start()
    async with Bot(other.token, base_url=other.base_url) as second:
        poll = asyncio.create_task(second.get_updates(timeout=30, read_timeout=35))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await other.stop()
        assert await asyncio.wait_for(poll, 2) == ()
        assert time.monotonic() - started < 1.5


async def test_newer_get_updates_ends_the_older_with_conflict(emu: Emulator, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    async with Bot(emu.token, base_url=emu.base_url) as second_instance:
        await second_instance.get_updates(timeout=0)
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, 2)


async def test_webhook_blocks_get_updates(emu: Emulator, bot: Bot) -> None:
    await bot.set_webhook("https://firm.example/hook", secret_token="s3cret")
    assert (await bot.get_webhook_info()).url == "https://firm.example/hook"
    assert emu.webhook_secret_token == "s3cret"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)
    await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == ()


# ---------------------------------------------------------------------------- updates


async def test_every_update_kind_parses_with_ptb(emu: Emulator, bot: Bot) -> None:
    boss = emu.create_user("张", last_name="伟", username="zhang_wei")
    li = emu.create_user("李")
    group = emu.create_group("学习群")
    emu.set_member(group.id, boss, "creator")
    made: list[dict[str, Any]] = [
        emu.add_bot(group.id, boss),
        emu.promote_bot(group.id, boss),
        emu.send_message(group.id, li, "/help@firmbot_test_bot 请 @zhang_wei 看看"),
    ]
    first_id = made[-1]["message"]["message_id"]
    made += [
        emu.send_message(group.id, boss, "收到", reply_to=first_id),
        emu.send_message(group.id, None, "全体注意", sender_chat_id=group.id),
        emu.edit_message(group.id, first_id, li, "/help 改过了"),
        emu.join(group.id, emu.create_user("王")),
        emu.send_photo(group.id, li, PNG, caption="现场照片"),
        emu.send_document(group.id, li, b"a,b\n", "台账.csv", caption="/ledger import"),
        emu.set_admin(group.id, li, by=boss),
    ]
    markup = InlineKeyboardMarkup.from_button(InlineKeyboardButton("打卡", callback_data="s:1"))
    keyboard = await bot.send_message(group.id, "今日学习", reply_markup=markup)
    made.append(emu.press_button(group.id, keyboard.message_id, li, label="打卡"))
    poll_message = await bot.send_poll(group.id, "五者是什么？", ["甲", "乙"], is_anonymous=False)
    assert poll_message.poll is not None
    made.append(emu.answer_poll(poll_message.poll.id, li, [1]))
    made.append(emu.poll_update(poll_message.poll.id))
    private = emu.private_chat(li)
    made.append(emu.send_message(private.id, li, "/start"))
    made.append(emu.block_bot(li))
    new_id = emu.upgrade_group(group.id)
    made.append(emu.remove_bot(new_id, boss))

    got = await fetch(bot, emu)
    made_ids = [u["update_id"] for u in made]
    assert set(made_ids) <= {u.update_id for u in got}
    for raw in made:
        assert parse(raw, bot).update_id == raw["update_id"]
    by_id = {u.update_id: u for u in got}

    def upd(i: int) -> Update:
        return by_id[made[i]["update_id"]]

    added, promoted = upd(0).my_chat_member, upd(1).my_chat_member
    assert added is not None and promoted is not None
    assert (added.old_chat_member.status, added.new_chat_member.status) == ("left", "member")
    assert isinstance(promoted.new_chat_member, ChatMemberAdministrator)
    command = upd(2).message
    assert command is not None
    assert [e.type for e in command.entities] == ["bot_command", "mention"]
    assert command.parse_entity(command.entities[1]) == "@zhang_wei"
    reply = upd(3).message
    assert reply is not None and reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == first_id
    anonymous = upd(4).message
    assert anonymous is not None and anonymous.from_user is not None
    assert anonymous.from_user.id == 1087968824
    assert anonymous.sender_chat is not None and anonymous.sender_chat.id == group.id
    edited = upd(5).edited_message
    assert edited is not None and edited.text == "/help 改过了" and edited.edit_date
    joined = upd(6).message
    assert joined is not None and [u.first_name for u in joined.new_chat_members] == ["王"]
    photo = upd(7).message
    assert photo is not None and (photo.photo[-1].width, photo.photo[-1].height) == (640, 480)
    document = upd(8).message
    assert document is not None and document.document is not None
    assert document.document.file_name == "台账.csv"
    assert document.caption_entities[0].type == MessageEntity.BOT_COMMAND
    promoted_member = upd(9).chat_member
    assert promoted_member is not None
    assert isinstance(promoted_member.new_chat_member, ChatMemberAdministrator)
    query = upd(10).callback_query
    assert query is not None and query.data == "s:1" and query.chat_instance
    assert query.message is not None and query.message.message_id == keyboard.message_id
    answer = upd(11).poll_answer
    assert answer is not None and answer.option_ids == (1,)
    assert answer.option_persistent_ids == ("1",)
    poll = upd(12).poll
    assert poll is not None and poll.total_voter_count == 1 and poll.options[1].voter_count == 1
    start = upd(13).message
    assert start is not None and start.chat.type == "private"
    blocked = upd(14).my_chat_member
    assert blocked is not None and isinstance(blocked.new_chat_member, ChatMemberBanned)
    migrations = [
        u.message
        for u in got
        if u.message and (u.message.migrate_to_chat_id or u.message.migrate_from_chat_id)
    ]
    assert [(m.migrate_to_chat_id, m.migrate_from_chat_id) for m in migrations if m] == [
        (new_id, None),
        (None, group.id),
    ]
    kicked = upd(15).my_chat_member
    assert kicked is not None and kicked.chat.id == new_id
    assert kicked.new_chat_member.status == "kicked"


async def test_chat_member_updates_need_allowed_updates_and_bot_admin(
    emu: Emulator, bot: Bot, world: World
) -> None:
    not_admin = emu.set_admin(world.group.id, world.li, by=world.boss)
    assert "update_id" not in not_admin  # bot is not admin: Telegram sends nothing
    emu.promote_bot(world.group.id, world.boss)
    update = emu.set_admin(world.group.id, world.li, admin=False, by=world.boss)
    # Telegram's default allowed_updates leave chat_member out.
    got = await bot.get_updates(timeout=0)
    assert [u.my_chat_member is not None for u in got] == [True]
    with pytest.raises(AssertionError, match="dropped"):
        await emu.wait_delivered(update["update_id"], timeout=0.5)


async def test_privacy_mode_hides_plain_group_chatter(
    emu: Emulator, bot: Bot, world: World
) -> None:
    emu.privacy_mode = True
    chatter = emu.send_message(world.group.id, world.li, "今天天气不错")
    assert "update_id" not in chatter
    command = emu.send_message(world.group.id, world.li, "/quiz")
    sent = await bot.send_message(world.group.id, "请写心得")
    reply = emu.send_message(world.group.id, world.li, "我的心得", reply_to=sent.message_id)
    got = await fetch(bot, emu)
    assert [u.update_id for u in got] == [command["update_id"], reply["update_id"]]


# ---------------------------------------------------------------------------- messages


async def test_html_entities_use_utf16_offsets(emu: Emulator, bot: Bot, world: World) -> None:
    html = f'😀 <b>学习</b> 🎉 <i>心得</i> <a href="tg://user?id={world.li.id}">李</a>'
    message = await bot.send_message(world.group.id, html, parse_mode="HTML")
    assert message.text == "😀 学习 🎉 心得 李"
    assert message.parse_entities() == {
        message.entities[0]: "学习",
        message.entities[1]: "心得",
        message.entities[2]: "李",
    }
    assert message.entities[2].type == MessageEntity.TEXT_MENTION
    sent = emu.last(world.group.id)
    assert sent.html == html and sent.parse_mode == "HTML"
    assert sent.entity_texts("bold") == ["学习"]
    assert sent.mentions == [world.li.id]


@pytest.mark.parametrize(
    "html", ["a < b", "<b>未闭合", "<b><i>x</b></i>", "<p>段落</p>", "AT&T", "第一行<br>第二行"]
)
async def test_malformed_html_is_a_bad_request(
    emu: Emulator, bot: Bot, world: World, html: str
) -> None:
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(world.group.id, html, parse_mode="HTML")
    assert emu.messages(world.group.id) == []


async def test_text_length_limits_apply_after_parsing(
    emu: Emulator, bot: Bot, world: World
) -> None:
    await bot.send_message(world.group.id, "<b>" + "律" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(world.group.id, "律" * 4097)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(world.group.id, "<b> </b>\n", parse_mode="HTML")
    with pytest.raises(BadRequest, match="caption is too long"):
        await bot.send_document(world.group.id, b"x", filename="a.txt", caption="x" * 1025)
    assert len(emu.messages(world.group.id)) == 1


async def test_edit_text_not_modified_and_not_found(emu: Emulator, bot: Bot, world: World) -> None:
    markup = InlineKeyboardMarkup.from_button(InlineKeyboardButton("确认", callback_data="c:1"))
    sent = await bot.send_message(
        world.group.id, "<b>草稿</b>", parse_mode="HTML", reply_markup=markup
    )
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "<b>草稿</b>", world.group.id, sent.message_id, parse_mode="HTML", reply_markup=markup
        )
    edited = await bot.edit_message_text("定稿", world.group.id, sent.message_id)
    assert isinstance(edited, type(sent)) and edited.edit_date is not None
    record = emu.message(world.group.id, sent.message_id)
    assert (record.text, record.edits, record.reply_markup) == ("定稿", ["草稿"], None)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", world.group.id, 999)
    await bot.delete_message(world.group.id, sent.message_id)
    assert record.deleted
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(world.group.id, sent.message_id)
    user_message = emu.send_message(world.group.id, world.li, "用户消息")
    with pytest.raises(BadRequest, match="can't be deleted"):  # the bot is not an admin
        await bot.delete_message(world.group.id, user_message["message"]["message_id"])


async def test_reply_parameters(emu: Emulator, bot: Bot, world: World) -> None:
    asked = emu.send_message(world.group.id, world.li, "/me")
    mid = asked["message"]["message_id"]
    answer = await bot.send_message(world.group.id, "你的记录", reply_to_message_id=mid)
    assert answer.reply_to_message is not None and answer.reply_to_message.text == "/me"
    assert emu.last(world.group.id).reply_to_message_id == mid
    assert answer.message_id == mid + 1  # one counter per chat for users and bot
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(world.group.id, "x", reply_to_message_id=999)
    await bot.send_message(
        world.group.id, "x", reply_to_message_id=999, allow_sending_without_reply=True
    )


async def test_buttons_pressed_by_label(emu: Emulator, bot: Bot, world: World) -> None:
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("✅ 已学习", callback_data="study:done:7")],
            [InlineKeyboardButton("原文", url="https://example.com/notice")],
        ]
    )
    sent = await bot.send_message(world.group.id, "今日学习", reply_markup=markup)
    record = emu.last(world.group.id)
    assert record.buttons == [["✅ 已学习"], ["原文"]]
    assert record.button_data("✅ 已学习") == "study:done:7"
    update = emu.press_button(world.group.id, sent.message_id, world.li, label="✅ 已学习")
    query = parse(update, bot).callback_query
    assert query is not None and query.from_user.id == world.li.id
    assert await bot.answer_callback_query(query.id, text="已记录", show_alert=True)
    assert emu.callback_answers[-1]["text"] == "已记录"
    assert emu.callback_answers[-1]["show_alert"] is True
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query.id)
    emu.press_button(world.group.id, sent.message_id, world.li, data="study:done:7")
    with pytest.raises(ValueError, match="no inline button"):
        emu.press_button(world.group.id, sent.message_id, world.li, label="不存在")
    with pytest.raises(ValueError, match="sends no callback"):
        emu.press_button(world.group.id, sent.message_id, world.li, label="原文")
    # Presses see the CURRENT markup.
    await bot.edit_message_reply_markup(world.group.id, sent.message_id, reply_markup=None)
    with pytest.raises(ValueError, match="no inline button"):
        emu.press_button(world.group.id, sent.message_id, world.li, label="✅ 已学习")


async def test_injected_callback_query_can_be_answered_once(
    emu: Emulator, bot: Bot, world: World
) -> None:
    """A raw callback_query (a copy of one from another emulator, say) is answerable."""
    sent = await bot.send_message(
        world.group.id,
        "今日学习",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("打卡", callback_data="in")]]),
    )
    pressed = emu.press_button(world.group.id, sent.message_id, world.li, data="in")
    copy = {"callback_query": {**pressed["callback_query"], "id": "777"}}
    query = parse(emu.inject_update(copy), bot).callback_query
    assert query is not None and query.id == "777" and query.data == "in"
    assert await bot.answer_callback_query("777")
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("777")


@pytest.mark.parametrize(
    ("button", "error"),
    [
        (InlineKeyboardButton("x", callback_data="律" * 22), "Button_data_invalid"),
        (InlineKeyboardButton("x", callback_data=""), "Button_data_invalid"),
        (InlineKeyboardButton("", callback_data="a"), "Button_text_invalid"),
        (InlineKeyboardButton("x", url="ftp://x"), r"(?i)unsupported url protocol"),
    ],
)
async def test_bad_inline_buttons(bot: Bot, world: World, button: Any, error: str) -> None:
    with pytest.raises(BadRequest, match=error):
        await bot.send_message(world.group.id, "x", reply_markup=InlineKeyboardMarkup([[button]]))


async def test_listener_sees_send_edit_delete(emu: Emulator, bot: Bot, world: World) -> None:
    seen: list[tuple[int, str]] = []
    emu.on_bot_message(lambda m, action: seen.append((m.message_id, action)))
    sent = await bot.send_message(world.group.id, "一")
    await bot.edit_message_text("二", world.group.id, sent.message_id)
    await bot.delete_message(world.group.id, sent.message_id)
    assert seen == [
        (sent.message_id, "send"),
        (sent.message_id, "edit"),
        (sent.message_id, "delete"),
    ]
    assert "#" in str(emu.last(world.group.id)) and "deleted" in str(emu.last(world.group.id))


async def test_wait_for_message_and_readable_failure(emu: Emulator, bot: Bot, world: World) -> None:
    waiter = asyncio.create_task(emu.wait_for_message(world.group.id, count=2, timeout=2))
    await bot.send_message(world.group.id, "一")
    await bot.send_message(world.group.id, "二")
    assert (await waiter).text == "二"
    with pytest.raises(BadRequest):
        await bot.send_message(world.group.id, "<b>", parse_mode="HTML")
    with pytest.raises(AssertionError, match="sendMessage"):  # lists the failed call
        await emu.wait_for_message(world.group.id, timeout=0.05)
    with pytest.raises(AssertionError, match="sent nothing"):
        emu.last(world.li.id)


# ---------------------------------------------------------------------------- polls


async def test_quiz_and_non_anonymous_polls(emu: Emulator, bot: Bot, world: World) -> None:
    quiz = await bot.send_poll(
        world.group.id,
        "“五者”中第一项是？",
        ["党和人民满意的好律师", "其他"],
        type=Poll.QUIZ,
        correct_option_ids=[0],
        is_anonymous=False,
        explanation="见<b>通知</b>第一段",
        explanation_parse_mode="HTML",
        open_period=60,
    )
    assert quiz.poll is not None and quiz.poll.correct_option_ids == (0,)
    assert quiz.poll.explanation == "见通知第一段"
    record = emu.last(world.group.id)
    assert record.kind == "poll" and record.poll is not None
    assert record.poll["correct_option_id"] == 0 and record.poll["open_period"] == 60

    answer = parse(emu.answer_poll(quiz.poll.id, world.li, [0]), bot).poll_answer
    assert answer is not None and answer.user is not None and answer.user.id == world.li.id
    with pytest.raises(ValueError, match="revoting"):
        emu.answer_poll(quiz.poll.id, world.li, [1])  # quizzes are final

    regular = await bot.send_poll(
        world.group.id,
        "学习时间？",
        ["周一", "周三", "周五"],
        is_anonymous=False,
        allows_multiple_answers=True,
    )
    assert regular.poll is not None
    emu.answer_poll(regular.poll.id, world.li, [0, 2])
    emu.answer_poll(regular.poll.id, world.boss, [2])
    poll_record = emu.message(world.group.id, regular.message_id).poll
    assert poll_record is not None
    assert [o["voter_count"] for o in poll_record["options"]] == [1, 0, 2]
    retracted = parse(emu.answer_poll(regular.poll.id, world.li, []), bot).poll_answer
    assert retracted is not None and retracted.option_ids == ()
    stopped = await bot.stop_poll(world.group.id, regular.message_id)
    assert stopped.is_closed and stopped.total_voter_count == 1
    assert [o.voter_count for o in stopped.options] == [0, 0, 1]
    with pytest.raises(BadRequest, match="already been closed"):
        await bot.stop_poll(world.group.id, regular.message_id)
    with pytest.raises(ValueError, match="closed"):
        emu.answer_poll(regular.poll.id, world.li, [0])

    anonymous = await bot.send_poll(world.group.id, "匿名？", ["是", "否"])
    assert anonymous.poll is not None and anonymous.poll.is_anonymous
    with pytest.raises(ValueError, match="anonymous"):
        emu.answer_poll(anonymous.poll.id, world.li, [0])


async def test_open_period_closes_poll_on_the_emulator_clock(
    emu: Emulator, bot: Bot, world: World
) -> None:
    now = [1_700_000_000.0]
    emu.clock = lambda: now[0]
    sent = await bot.send_poll(
        world.group.id, "限时", ["甲", "乙"], is_anonymous=False, open_period=5
    )
    assert sent.poll is not None
    now[0] += 6
    with pytest.raises(ValueError, match="closed"):
        emu.answer_poll(sent.poll.id, world.li, [0])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"question": "问" * 301}, r"(?i)poll question length must not exceed 300"),
        ({"options": ["只有一个"]}, "at least 2 option"),
        ({"options": [str(i) for i in range(11)]}, "more than 10 options"),
        ({"options": ["甲", "乙" * 101]}, "must not exceed 100"),
        ({"type": Poll.QUIZ}, "correct answer option"),
        ({"type": Poll.QUIZ, "correct_option_ids": [5]}, "Wrong correct option id"),
        ({"explanation": "一\n二\n三\n四"}, "at most 2 line feeds"),
        ({"explanation": "长" * 201}, "must not exceed 200"),
        ({"open_period": 601}, r"(?i)open_period must be between 5 and 600"),
    ],
)
async def test_poll_validation(bot: Bot, world: World, kwargs: dict[str, Any], error: str) -> None:
    args: dict[str, Any] = {"question": "问题", "options": ["甲", "乙"], **kwargs}
    with pytest.raises(BadRequest, match=error):
        await bot.send_poll(world.group.id, **args)


# ---------------------------------------------------------------------------- files


async def test_uploads_and_downloads(emu: Emulator, bot: Bot, world: World) -> None:
    sent = await bot.send_document(
        world.group.id,
        b"col1,col2\n1,2\n",
        filename="整改台账.csv",
        caption="<b>台账</b>",
        parse_mode="HTML",
    )
    record = emu.last(world.group.id)
    assert (record.kind, record.file, record.filename, record.text) == (
        "document",
        b"col1,col2\n1,2\n",
        "整改台账.csv",
        "台账",
    )
    assert sent.document is not None and sent.document.file_name == "整改台账.csv"
    photo = await bot.send_photo(world.group.id, PNG, caption="合影")
    assert photo.photo[-1].width == 640 and emu.last(world.group.id).file == PNG
    # Re-sending by file_id works; an unknown file_id does not.
    await bot.send_document(world.group.id, sent.document.file_id)
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.send_document(world.group.id, "nonsense")

    update = parse(emu.send_document(world.group.id, world.li, b"\x00\x01xlsx", "台账.xlsx"), bot)
    assert update.message is not None and update.message.document is not None
    assert update.message.document.mime_type is not None
    file = await bot.get_file(update.message.document.file_id)
    assert file.file_path is not None and file.file_path.startswith(emu.base_file_url)
    assert bytes(await file.download_as_bytearray()) == b"\x00\x01xlsx"
    user_photo = parse(emu.send_photo(world.group.id, world.li, PNG), bot).message
    assert user_photo is not None
    downloaded = await (await bot.get_file(user_photo.photo[-1].file_id)).download_as_bytearray()
    assert bytes(downloaded) == PNG
    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot.get_file("nope")


# ---------------------------------------------------------------------------- access errors


async def test_forbidden_after_remove_and_for_unstarted_private_chats(
    emu: Emulator, bot: Bot, world: World
) -> None:
    outsider = emu.create_group("别的群")
    with pytest.raises(Forbidden, match="not a member of the group chat"):
        await bot.send_message(outsider.id, "hi")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(-999, "hi")
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(world.li.id, "提醒")
    emu.send_message(world.li.id, world.li, "/start")
    await bot.send_message(world.li.id, "提醒")
    emu.block_bot(world.li)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(world.li.id, "提醒")

    emu.remove_bot(world.group.id, world.boss)
    with pytest.raises(Forbidden, match="kicked from the group chat"):
        await bot.send_message(world.group.id, "还在吗")
    with pytest.raises(Forbidden):
        await bot.get_chat(world.group.id)
    with pytest.raises(ValueError, match="not in chat"):
        emu.send_message(world.group.id, world.li, "bot 看不到")


async def test_chat_migrated_after_upgrade(emu: Emulator, bot: Bot, world: World) -> None:
    new_id = emu.upgrade_group(world.group.id)
    assert new_id < -1_000_000_000_000 and emu.chat(new_id).type == "supergroup"
    with pytest.raises(ChatMigrated) as info:
        await bot.send_message(world.group.id, "通知")
    assert info.value.new_chat_id == new_id
    with pytest.raises(ChatMigrated):
        await bot.get_chat_administrators(world.group.id)
    sent = await bot.send_message(new_id, "通知")
    assert sent.chat.type == "supergroup" and sent.message_id == 2  # after migrate_from


# ---------------------------------------------------------------------------- faults, limits


async def test_rate_limits_answer_429_and_do_not_deliver(
    emu: Emulator, bot: Bot, world: World
) -> None:
    emu.enforce_rate_limits(per_group_per_minute=3, retry_after=7)
    for i in range(3):
        await bot.send_message(world.group.id, f"第{i}条")
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(world.group.id, "第4条")
    assert "0:00:07" in str(info.value)
    assert len(emu.messages(world.group.id)) == 3
    failed = emu.calls("sendMessage")[-1]
    assert failed.status == 429 and not failed.ok
    assert failed.description == "Too Many Requests: retry after 7"

    emu.send_message(world.li.id, world.li, "/start")
    await bot.send_message(world.li.id, "一")
    with pytest.raises(RetryAfter):  # 1 per second per private chat
        await bot.send_message(world.li.id, "二")

    emu.disable_rate_limits()
    emu.rate_limit_every(2)
    await bot.send_message(world.li.id, "三")
    with pytest.raises(RetryAfter):
        await bot.send_message(world.li.id, "四")
    await bot.send_message(world.li.id, "五")


async def test_global_rate_limit(emu: Emulator, bot: Bot, world: World) -> None:
    emu.enforce_rate_limits(global_per_second=2, per_group_per_minute=None)
    other = emu.create_group("二群")
    emu.set_member(other.id, emu.bot_user)
    await bot.send_message(world.group.id, "a")
    await bot.send_message(other.id, "b")
    with pytest.raises(RetryAfter):
        await bot.send_message(other.id, "c")


async def test_injected_faults_and_latency(emu: Emulator, bot: Bot, world: World) -> None:
    emu.fail_next("sendMessage", count=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(world.group.id, "x")
    await bot.send_message(world.group.id, "ok")
    emu.fail_next(None, status=502, description="Bad Gateway")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.get_chat(world.group.id)
    emu.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter):
        await bot.send_message(world.group.id, "x")
    emu.error_rate_5xx = 1.0
    with pytest.raises(NetworkError):
        await bot.send_message(world.group.id, "x")
    emu.error_rate_5xx = 0.0
    emu.latency = 0.1
    started = time.monotonic()
    await bot.send_message(world.group.id, "慢")
    assert time.monotonic() - started >= 0.1
    assert [m.text for m in emu.messages(world.group.id)] == ["ok", "慢"]


async def test_error_rate_is_reproducible_with_a_seed(
    emu: Emulator, bot: Bot, world: World
) -> None:
    async def pattern() -> list[bool]:
        emu.seed = 42
        outcome = []
        for _ in range(12):
            try:
                await bot.send_chat_action(world.group.id, "typing")
                outcome.append(True)
            except NetworkError:
                outcome.append(False)
        return outcome

    emu.error_rate_5xx = 0.5
    first = await pattern()
    assert first == await pattern() and True in first and False in first


# ---------------------------------------------------------------------------- chat info


async def test_commands_with_scope_and_language(emu: Emulator, bot: Bot, world: World) -> None:
    commands = [BotCommand("help", "帮助"), BotCommand("quiz", "每日测验")]
    await bot.set_my_commands(commands)
    await bot.set_my_commands(
        commands[:1], scope=BotCommandScopeAllGroupChats(), language_code="en"
    )
    await bot.set_my_commands(commands, scope=BotCommandScopeChat(world.group.id))
    assert emu.my_commands[("default", "")] == [
        {"command": "help", "description": "帮助"},
        {"command": "quiz", "description": "每日测验"},
    ]
    assert emu.my_commands[("all_group_chats", "en")] == [
        {"command": "help", "description": "帮助"}
    ]
    assert (f"chat:{world.group.id}", "") in emu.my_commands
    got = await bot.get_my_commands(scope=BotCommandScopeAllGroupChats(), language_code="en")
    assert [c.command for c in got] == ["help"]
    await bot.delete_my_commands(scope=BotCommandScopeAllGroupChats(), language_code="en")
    assert await bot.get_my_commands(scope=BotCommandScopeAllGroupChats(), language_code="en") == ()
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Help-Me", "x")])
    with pytest.raises(BadRequest, match="Lang_code_invalid"):
        await bot.set_my_commands(commands, language_code="zh_CN")


async def test_chat_info_reflects_members_and_admins(emu: Emulator, bot: Bot, world: World) -> None:
    chat = await bot.get_chat(world.group.id)
    assert isinstance(chat, ChatFullInfo) and chat.title == "某某律师事务所学习群"
    admins = await bot.get_chat_administrators(world.group.id)
    assert [(type(a), a.user.id) for a in admins] == [(ChatMemberOwner, world.boss.id)]
    emu.set_admin(world.group.id, world.li, by=world.boss)
    emu.promote_bot(world.group.id, world.boss)
    admins = await bot.get_chat_administrators(world.group.id)
    assert [a.user.id for a in admins] == [world.boss.id, world.li.id, emu.bot_id]
    assert isinstance(admins[1], ChatMemberAdministrator)
    member = await bot.get_chat_member(world.group.id, world.li.id)
    assert isinstance(member, ChatMemberAdministrator)
    emu.set_member(world.group.id, world.li, "member")
    assert isinstance(await bot.get_chat_member(world.group.id, world.li.id), ChatMemberMember)
    assert await bot.get_chat_member_count(world.group.id) == 3
    emu.set_member(world.group.id, world.li, "kicked")
    banned = await bot.get_chat_member(world.group.id, world.li.id)
    assert isinstance(banned, ChatMemberBanned)
    with pytest.raises(BadRequest, match="User not found"):
        await bot.get_chat_member(world.group.id, 42)
    emu.send_message(world.li.id, world.li, "/start")
    private = await bot.get_chat(world.li.id)
    assert private.type == "private" and private.first_name == "李"


async def test_reactions_actions_pins_and_menu(emu: Emulator, bot: Bot, world: World) -> None:
    said = emu.send_message(world.group.id, world.li, "学习心得：……")
    mid = said["message"]["message_id"]
    assert await bot.set_message_reaction(world.group.id, mid, ReactionTypeEmoji("👍"))
    assert emu.reactions[-1]["reaction"] == [{"type": "emoji", "emoji": "👍"}]
    with pytest.raises(BadRequest, match="Reaction_invalid"):
        await bot.set_message_reaction(world.group.id, mid, ReactionTypeEmoji("🦖"))
    with pytest.raises(BadRequest, match="Reactions_too_many"):
        await bot.set_message_reaction(world.group.id, mid, ["👍", "🔥"])
    assert await bot.send_chat_action(world.group.id, "typing")
    assert emu.chat_actions[-1] == {"chat_id": world.group.id, "action": "typing"}
    with pytest.raises(BadRequest, match=r"(?i)not enough rights"):
        await bot.pin_chat_message(world.group.id, mid)
    emu.promote_bot(world.group.id, world.boss)
    assert await bot.pin_chat_message(world.group.id, mid)
    assert await bot.set_chat_menu_button()
    assert await bot.log_out() and await bot.close()


# ---------------------------------------------------------------------------- HTTP control


async def test_http_control_api(emu: Emulator, bot: Bot) -> None:
    base = f"{emu.root_url}/control"
    async with aiohttp.ClientSession() as http:

        async def post(name: str, **body: Any) -> Any:
            async with http.post(f"{base}/{name}", json=body) as resp:
                data = await resp.json()
                assert data["ok"], data
                return data["result"]

        user = await post("create_user", first_name="王", username="wang")
        group = await post("create_group", title="HTTP 群")
        await post("set_member", chat_id=group["id"], user=user["id"], status="creator")
        added = await post("add_bot", chat_id=group["id"], by=user["id"])
        said = await post("send_message", chat_id=group["id"], user=user["id"], text="/help")
        assert said["update_id"] == added["update_id"] + 1
        await post("configure", latency=0.0)
        async with http.get(f"{base}/pending_updates") as resp:
            assert (await resp.json())["result"] == 2
        waiter = asyncio.create_task(post("wait_for_message", chat_id=group["id"], timeout=2))
        await asyncio.sleep(0.02)
        await bot.send_message(group["id"], "<b>帮助</b>", parse_mode="HTML")
        assert (await waiter)["text"] == "帮助"
        async with http.get(f"{base}/messages", params={"chat_id": group["id"]}) as resp:
            messages = (await resp.json())["result"]
        assert [(m["text"], m["entities"][0]["type"]) for m in messages] == [("帮助", "bold")]
        async with http.post(
            f"{base}/send_message", json={"chat_id": 1, "user": user["id"], "text": "x"}
        ) as resp:
            assert resp.status == 400 and "unknown chat" in (await resp.json())["description"]
        async with http.post(f"{base}/no_such_action", json={}) as resp:
            assert resp.status == 404


# ---------------------------------------------------------------------------- a real Application


async def test_real_application_answers_help(emu: Emulator, world: World) -> None:
    async def cmd_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("<b>帮助</b>：/study /quiz", parse_mode="HTML")

    app = (
        ApplicationBuilder()
        .token(emu.token)
        .base_url(emu.base_url)
        .base_file_url(emu.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("help", cmd_help))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        update = emu.send_message(world.group.id, world.li, "/help@firmbot_test_bot")
        reply: SentMessage = await emu.wait_for_message(world.group.id, timeout=5)
        assert reply.text == "帮助：/study /quiz"
        assert [e["type"] for e in reply.entities] == ["bold", "bot_command", "bot_command"]
        await emu.wait_delivered(update["update_id"])
        await app.updater.stop()
        await app.stop()
    assert emu.pending_updates() == 0


# ---------------------------------------------------------------------------- extras


async def test_extras_unblock_leave_caption_edit(emu: Emulator, bot: Bot, world: World) -> None:
    emu.send_message(world.li.id, world.li, "/start")
    emu.block_bot(world.li)
    with pytest.raises(ValueError, match="unblock_bot"):
        emu.send_message(world.li.id, world.li, "hi")
    emu.unblock_bot(world.li)
    await bot.send_message(world.li.id, "欢迎回来")
    left = parse(emu.leave(world.group.id, world.li), bot).message
    assert left is not None and left.left_chat_member is not None
    assert emu.chat(world.group.id).members[world.li.id] == "left"
    photo = await bot.send_photo(world.group.id, PNG, caption="旧")
    await bot.edit_message_caption(
        world.group.id, photo.message_id, caption="<i>新</i>", parse_mode="HTML"
    )
    record = emu.last(world.group.id)
    assert (record.text, record.edits, record.entities[0]["type"]) == ("新", ["旧"], "italic")
    await bot.set_webhook("http://127.0.0.1:8443/hook")
    with pytest.raises(BadRequest, match=r"(?i)https url"):
        await bot.set_webhook("http://firm.example/hook")


async def test_emulator_bug_is_a_clear_500(
    emu: Emulator, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(p: Any) -> Any:
        raise KeyError("oops")

    monkeypatch.setitem(emu._api, "getchat", ("getChat", broken))
    with pytest.raises(NetworkError, match="emulator bug"):
        await bot.get_chat(1)


async def test_http_control_upload_and_press(emu: Emulator, bot: Bot, world: World) -> None:
    base = f"{emu.root_url}/control"
    body = {
        "chat_id": world.group.id,
        "user": world.li.id,
        "data_b64": "aGVsbG8=",
        "filename": "心得.txt",
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/send_document", json=body) as resp:
            update = (await resp.json())["result"]
        file_id = update["message"]["document"]["file_id"]
        assert bytes(await (await bot.get_file(file_id)).download_as_bytearray()) == b"hello"
        markup = InlineKeyboardMarkup.from_button(InlineKeyboardButton("好", callback_data="ok"))
        sent = await bot.send_message(world.group.id, "确认？", reply_markup=markup)
        press = {
            "chat_id": world.group.id,
            "message_id": sent.message_id,
            "user": world.li.id,
            "label": "好",
        }
        async with http.post(f"{base}/press_button", json=press) as resp:
            assert (await resp.json())["result"]["callback_query"]["data"] == "ok"
        async with http.get(f"{base}/calls", params={"method": "sendMessage"}) as resp:
            calls = (await resp.json())["result"]
        assert calls[-1]["params"]["chat_id"] == world.group.id and calls[-1]["status"] == 200
