"""Notices in chats: an imported notice reaches the groups, /notice, sections, /notice_send."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot import outbox
from bot.notices import delivery, store
from bot.notices.store import ImportResult
from bot.sandbox.driver import BotHarness, GroupChat, make_group
from bot.sandbox.emulator import Emulator, EmuUser, SentMessage

ROOT = Path(__file__).resolve().parents[2]
SEED = (ROOT / "content" / "notices" / "000_62420782f47914ad.txt").read_bytes()
TONGBAO = (ROOT / "tests" / "data" / "notices" / "tongbao.txt").read_bytes()
TITLE = "关于深入学习贯彻司法部党组“做党和人民满意的好律师”座谈会精神的通知"
ADMIN = 770_000_001  # a bot-wide admin (config admins): the association's secretary


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"admins": [ADMIN], "sender": {"global_per_second": 200}}


async def delivered(harness: BotHarness, timeout: float = 10.0) -> None:
    """Until the outbox is empty (this task drains it; the bot's worker may hold rows too)."""
    await harness.drain_outbox()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with harness.services.db.session() as session:
            if await outbox.depth(session) == 0:
                return
        assert loop.time() < deadline, "the outbox did not empty"
        await asyncio.sleep(0.02)


async def imported(harness: BotHarness, data: bytes, *, auto: bool = True) -> ImportResult:
    """What `firmbot notice import` does, then the outbox delivered."""
    s = harness.services
    async with s.db.session() as session:
        result, _ = await delivery.import_and_queue(
            session,
            store.read_notice(data),
            texts=s.texts,
            config=s.config,
            now=s.clock.now(),
            source="test",
            imported_by="test",
            auto=auto,
        )
    await delivered(harness)
    return result


def copies(chat: GroupChat, title: str = TITLE) -> list[SentMessage]:
    return [m for m in chat.messages() if m.text.startswith(title)]


def secretary(emulator: Emulator) -> EmuUser:
    return emulator.create_user("协会秘书处", user_id=ADMIN)


async def in_private(harness: BotHarness, user: EmuUser, text: str) -> SentMessage:
    chat = harness.emulator.private_chat(user)
    await harness.handled(harness.emulator.send_message(chat.id, user, text))
    return harness.emulator.last(chat.id)


async def test_an_imported_notice_reaches_every_group_with_notices_on(
    harness: BotHarness, firm: GroupChat
) -> None:
    quiet = await make_group(harness, "乙律师事务所", ["赵六", "钱七"])
    await quiet.say("赵六", "/set notices off")
    before = len(quiet.messages())

    result = await imported(harness, SEED)

    assert result.created
    (summary,) = copies(firm)
    assert "发文：办公室" in summary.text and "日期：2023-07-24" in summary.text
    assert "要点" in summary.text and "5. 依法诚信规范执业" in summary.text
    assert "工作安排" in summary.text and f"通知 {result.notice.id}" in summary.text
    labels = [row[0] for row in summary.buttons]
    assert [label[:8] for label in labels] == [
        "一、充分认识深入",
        "二、将司法部党组",
        "三、切实加强组织",
    ]
    assert all(len(label) <= 20 and label.endswith("…") for label in labels)
    assert quiet.new_since(before) == []

    again = await imported(harness, SEED)
    assert not again.created and again.same == "content"
    assert again.notice.id == result.notice.id
    assert len(copies(firm)) == 1


async def test_members_read_each_section_in_full_from_its_button(
    harness: BotHarness, firm: GroupChat
) -> None:
    await imported(harness, SEED)
    (summary,) = copies(firm)

    await firm.press("李四", summary.buttons[0][0], message=summary)
    first = firm.last()
    assert first.reply_to_message_id == summary.message_id
    assert first.text.startswith(TITLE)
    assert "一、充分认识深入学习贯彻" in first.text
    assert "律师队伍是推进全面依法治国" in first.text
    assert "五是依法诚信规范执业" in first.text

    await firm.press("王律师", summary.buttons[1][0], message=summary)
    second = firm.last()
    assert "（一）要把贯彻落实司法部党组" in second.text
    assert "要组织本所律师实习人员认真贯彻落实" in second.text
    assert "（三）要做到边学边查边改" in second.text and "更新整改台账" in second.text


async def test_a_long_section_arrives_in_several_messages(
    harness: BotHarness, firm: GroupChat
) -> None:
    paragraph = "各律师事务所要组织律师认真学习，逐条对照检查，明确整改措施和完成时限。" * 20
    text = "\n\n".join(
        [
            "关于开展执业规范专题学习的通知",
            "各律师事务所：",
            "一、学习内容",
            *[paragraph] * 6,
            "二、工作要求",
            "各律师事务所要按时报送学习情况。",
            "深圳市律师协会",
            "2023年8月1日",
        ]
    )
    await imported(harness, text.encode("gb18030"))
    (summary,) = copies(firm, "关于开展执业规范专题学习的通知")
    before = len(firm.messages())

    await firm.press("李四", summary.buttons[0][0], message=summary)

    parts = firm.new_since(before)
    assert len(parts) == 2
    assert all(len(p.text) <= 4096 for p in parts)
    body = "".join(p.text for p in parts)
    assert body.count("逐条对照检查") == 6 * 20


async def test_notice_list_and_notice_n_in_a_group(harness: BotHarness, firm: GroupChat) -> None:
    await firm.say("李四", "/notice")
    assert "还没有导入通知" in firm.last().text

    seed = await imported(harness, SEED, auto=False)
    other = await imported(harness, TONGBAO, auto=False)
    assert copies(firm) == []  # imported without automatic delivery

    await firm.say("李四", "/notice")
    latest = firm.last()
    assert latest.text.startswith(other.notice.title)
    assert latest.buttons

    await firm.say("李四", "/notice list")
    listing = firm.last().text
    assert listing.startswith("近期通知")
    assert f"{other.notice.id}. " in listing
    assert f"{seed.notice.id}. 2023-07-24 {TITLE}" in listing
    assert listing.index(other.notice.title) < listing.index(TITLE)

    await firm.say("王律师", f"/notice {seed.notice.id}")
    assert firm.last().text.startswith(TITLE)
    assert len(firm.last().buttons) == 3

    await firm.say("李四", "/notice 99")
    assert firm.last().text == "没有编号为 99 的通知。发送 /notice list 查看近期通知。"
    await firm.say("李四", "/notice 最新")
    assert firm.last().text.startswith("用法：")
    assert "/notice list — 最近 10 份通知" in firm.last().text


async def test_english_readers_get_english_labels(harness: BotHarness) -> None:
    firm = await make_group(harness, "Firm", ["Alice", "Bob"], language_code="en-GB")
    await imported(harness, SEED, auto=False)
    await firm.say("Bob", "/notice")
    text = firm.last().text
    assert "Issued by: 办公室" in text and "Key points" in text and "Notice 1." in text
    await firm.say("Bob", "/notice list")
    assert firm.last().text.startswith("Recent notices")
    await firm.say("Bob", "/notice x")
    assert firm.last().text.startswith("Usage:")


async def test_a_group_the_bot_does_not_know_is_asked_to_register(
    harness: BotHarness, emulator: Emulator
) -> None:
    chat = emulator.create_group("丙律师事务所")
    user = emulator.create_user("孙八")
    emulator.set_member(chat.id, user, "creator")
    emulator.set_member(chat.id, emulator.bot_user, "member")  # joined while the bot was down
    await harness.handled(emulator.send_message(chat.id, user, "/notice"))
    reply = emulator.last(chat.id).text
    assert reply.startswith("本群还没有在 FirmBot 登记。") and "/start@" in reply


async def test_a_bot_admin_sends_a_notice_from_the_private_chat(
    harness: BotHarness, firm: GroupChat, emulator: Emulator
) -> None:
    other = await make_group(harness, "乙律师事务所", ["赵六"])
    await other.say("赵六", "/set notices off")  # an explicit send still reaches it
    result = await imported(harness, SEED, auto=False)
    number = result.notice.id
    admin = secretary(emulator)

    answer = await in_private(harness, admin, f"/notice_send {number}")
    assert answer.text.startswith(f"通知 {number}「{TITLE}」已排入发送：2 个群。")
    await delivered(harness)
    assert len(copies(firm)) == 1 and len(copies(other)) == 1

    private = emulator.private_chat(admin)
    await harness.handled(
        emulator.press_button(private.id, answer.message_id, admin, label="刷新发送进度")
    )
    state = emulator.message(private.id, answer.message_id).text
    assert state.startswith(f"通知 {number} 发送进度")
    assert "已送达 2，待发送 0，已跳过 0（群已停用），失败 0。" in state

    # Sending again never gives a group a second copy.
    await in_private(harness, admin, f"/notice_send {number}")
    await delivered(harness)
    assert len(copies(firm)) == 1 and len(copies(other)) == 1

    assert (await in_private(harness, admin, "/notice_send")).text.startswith("用法：")
    assert (await in_private(harness, admin, "/notice_send 42")).text.startswith(
        "没有编号为 42 的通知"
    )


async def test_only_bot_admins_send_and_only_in_private(
    harness: BotHarness, firm: GroupChat, emulator: Emulator
) -> None:
    await imported(harness, SEED, auto=False)
    # The group's own admins are not the association's: they may not broadcast.
    await firm.say("王律师", "/notice_send 1")
    assert firm.last().text == "抱歉，只有本群管理员可以进行此操作。"
    lisi = firm.members["李四"]
    assert (await in_private(harness, lisi, "/notice_send 1")).text.startswith("抱歉")

    admin = secretary(emulator)
    emulator.set_member(firm.id, admin, "member")
    await harness.handled(emulator.send_message(firm.id, admin, "/notice_send 1"))
    assert firm.last().text.startswith("请在与我的私聊中发送 /notice_send")
    await delivered(harness)
    assert copies(firm) == []
