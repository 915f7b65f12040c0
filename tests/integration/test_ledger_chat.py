"""The rectification ledger (整改台账) as a chat: adding, listing, editing, closing, owners.

The clock starts on Monday 2023-07-24 08:00 (Asia/Shanghai). 王律师 is an admin, 张三
the creator, 李四 a member; 赵六 (@zhaoliu) is a member the bot has seen speak.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select, update

from bot.dates import ParsedDate
from bot.db.models import Schedule
from bot.db.models.ledger import LedgerEvent, LedgerItem
from bot.ledger import service
from bot.ledger.service import Actor, Draft, Owner
from bot.sandbox.driver import BotHarness, GroupChat
from bot.sandbox.emulator import EmuUser

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)
ADD = (
    "/ledger_add 集中学习时间未固定 | 4 | 每周三下午集中学习 | @zhaoliu | 2023-08-31"
    " | 熟悉新修订的法律"
)


def add_member(firm: GroupChat, name: str, username: str | None) -> EmuUser:
    user = firm.emulator.create_user(name, username=username)
    firm.emulator.set_member(firm.id, user, "member")
    firm.members[name] = user
    return user


async def with_zhao(firm: GroupChat) -> EmuUser:
    zhao = add_member(firm, "赵六", "zhaoliu")
    await firm.say("赵六", "大家好")
    return zhao


async def items(harness: BotHarness, chat_id: int) -> list[LedgerItem]:
    async with harness.services.db.session() as session:
        rows = await session.scalars(
            select(LedgerItem).where(LedgerItem.chat_id == chat_id).order_by(LedgerItem.seq)
        )
        return list(rows.all())


async def reminder_schedules(harness: BotHarness, item_id: int) -> list[Schedule]:
    async with harness.services.db.session() as session:
        rows = await session.scalars(
            select(Schedule).where(
                Schedule.kind == "ledger_reminder", Schedule.ref.startswith(f"{item_id}:")
            )
        )
        return list(rows.all())


async def test_admin_adds_in_one_line_and_the_owner_is_mentioned(
    harness: BotHarness, firm: GroupChat
) -> None:
    zhao = await with_zhao(firm)
    await firm.say("王律师", ADD)
    created = firm.last()
    assert "已登记整改事项 2023-001" in created.text
    assert "问题：集中学习时间未固定" in created.text
    assert "对应要求：要求4（推动者）" in created.text
    assert "学习目标：熟悉新修订的法律" in created.text
    assert "完成时限：2023-08-31" in created.text
    assert zhao.id in created.mentions  # a tg://user link: 赵六 is notified
    await firm.say("王律师", "/ledger_add 第二个问题 | 一 | 措施 | @zhaoliu | 8月31日")
    assert "2023-002" in firm.last().text
    [first, second] = await items(harness, firm.id)
    assert (first.seq, second.seq, second.requirement) == (1, 2, 1)
    # The reminder ladder is armed at once: 3 days before, at 09:00 Shanghai time.
    [ladder] = await reminder_schedules(harness, first.id)
    assert ladder.next_due_at is not None
    assert ladder.next_due_at.isoformat() == "2023-08-28T01:00:00+00:00"


async def test_members_cannot_add_edit_cancel_reopen_export(firm: GroupChat) -> None:
    for command in (
        ADD,
        "/ledger_add",
        "/ledger_edit 1 问题 x",
        "/ledger_cancel 1",
        "/ledger_reopen 1",
        "/ledger_export",
        "/ledger_import",
    ):
        await firm.say("李四", command)
        assert firm.last().text == "抱歉，只有本群管理员可以进行此操作。", command


async def test_one_line_errors_are_explained(harness: BotHarness, firm: GroupChat) -> None:
    await with_zhao(firm)
    await firm.say("王律师", "/ledger_add 只有问题 | 4")
    assert "一行登记的格式" in firm.last().text
    await firm.say("王律师", "/ledger_add 问题 | 6 | 措施 | @zhaoliu | 明天")
    assert "请填写 1～5" in firm.last().text
    await firm.say("王律师", "/ledger_add 问题 | 3 | 措施 | 不存在的人 | 明天")
    assert "无法确定责任人" in firm.last().text
    await firm.say("王律师", "/ledger_add 问题 | 3 | 措施 | @zhaoliu | 下个月的某天")
    text = firm.last().text
    assert "无法识别日期“下个月的某天”" in text
    for form in ("2023-08-31", "2023/8/31", "2023年8月31日", "8月31日", "8.31", "明天"):
        assert form in text
    for form in ("后天", "下周五", "月底", "3天后"):
        assert form in text
    await firm.say("王律师", "/ledger_add 问题 | 3 | 措施 | @zhaoliu | 2月30日")
    assert "日期“2月30日”不存在" in firm.last().text
    assert await items(harness, firm.id) == []


async def test_a_past_deadline_needs_the_admins_confirmation(
    harness: BotHarness, firm: GroupChat
) -> None:
    await with_zhao(firm)
    await firm.say("王律师", "/ledger_add 问题 | 3 | 措施 | @zhaoliu | 2023-07-01")
    ask = firm.last()
    assert "完成时限 2023-07-01 已经过去" in ask.text
    await firm.press("李四", "✔ 确定", ask)  # not theirs to confirm
    assert await items(harness, firm.id) == []
    await firm.press("王律师", "✔ 确定", ask)
    assert "已登记整改事项 2023-001" in firm.last().text
    # Refused: nothing is added.
    await firm.say("王律师", "/ledger_add 问题二 | 3 | 措施 | @zhaoliu | 2023-07-02")
    await firm.press("王律师", "✖ 取消")
    assert firm.last().text == "已取消，没有登记任何内容。"
    assert len(await items(harness, firm.id)) == 1


async def test_unknown_owner_is_kept_by_username_and_linked_when_they_speak(
    harness: BotHarness, firm: GroupChat
) -> None:
    await firm.say("王律师", "/ledger_add 案卷归档不及时 | 5 | 每月底前归档 | @NewLawyer | 月底")
    created = firm.last()
    assert "责任人：@newlawyer" in created.text and created.mentions == []
    [item] = await items(harness, firm.id)
    assert item.owner_user_id is None and item.owner_username == "newlawyer"
    newbie = add_member(firm, "钱七", "NewLawyer")
    await firm.say(newbie, "我是新来的钱七")
    [item] = await items(harness, firm.id)
    assert item.owner_user_id == newbie.id and item.owner_name == "钱七"
    await firm.say("王律师", "/ledger 1")
    card = firm.last()
    assert newbie.id in card.mentions
    assert "责任人已关联账号" in card.text
    # Now 钱七 owns it and may report it done.
    await firm.say(newbie, "/ledger_done 1 已全部归档")
    assert "钱七 已提交 2023-001 的完成情况" in firm.last().text


async def test_guided_dialog_one_field_at_a_time(harness: BotHarness, firm: GroupChat) -> None:
    li_message = await firm.say("李四", "我来负责学习安排")
    await firm.say("王律师", "/ledger_add")
    assert "第 1/6 步" in firm.last().text
    await firm.say("王律师", "学习笔记<不>规范 & 不完整")
    assert "第 2/6 步" in firm.last().text
    await firm.press("王律师", "3. 维护者")
    assert "第 3/6 步" in firm.last().text
    await firm.press("王律师", "跳过")
    assert "第 4/6 步" in firm.last().text
    await firm.say("王律师", "统一笔记模板")
    assert "第 5/6 步" in firm.last().text
    await firm.say("王律师", "-", reply_to=li_message["message"]["message_id"])
    assert "第 6/6 步" in firm.last().text
    await firm.press("王律师", "下周五")
    created = firm.last()
    assert "已登记整改事项 2023-001" in created.text
    assert "问题：学习笔记<不>规范 & 不完整" in created.text
    assert "完成时限：2023-08-04" in created.text  # Friday of next week
    assert firm.members["李四"].id in created.mentions
    [item] = await items(harness, firm.id)
    assert item.goal == "" and item.requirement == 3
    # The dialog is over: plain text is no longer taken.
    before = len(firm.messages())
    await firm.say("王律师", "谢谢")
    assert len(firm.messages()) == before


async def test_dialog_validates_and_cancel_aborts(harness: BotHarness, firm: GroupChat) -> None:
    await firm.say("王律师", "/ledger_add")
    await firm.say("王律师", "问题")
    await firm.say("王律师", "9")
    assert "请填写 1～5" in firm.last().text
    await firm.say("王律师", "2")
    assert "第 3/6 步" in firm.last().text
    await firm.press("李四", "跳过")  # someone else's dialog
    assert "第 3/6 步" in firm.last().text
    await firm.say("王律师", "/cancel")
    assert firm.last().text == "已取消，没有登记任何内容。"
    before = len(firm.messages())
    await firm.say("王律师", "随便说一句")
    assert len(firm.messages()) == before
    assert await items(harness, firm.id) == []
    # /cancel without a dialog is not ours to answer.
    await firm.say("王律师", "/cancel")
    assert len(firm.messages()) == before


async def test_list_overdue_first_filters_and_pages(harness: BotHarness, firm: GroupChat) -> None:
    await with_zhao(firm)
    s = harness.services
    now = s.clock.now()
    zone = harness.config.zone
    async with s.db.session() as session:
        for n in range(1, 11):
            owner = (
                Owner(firm.members["李四"].id, None, "李四")
                if n % 2
                else Owner(firm.members["赵六"].id, "zhaoliu", "赵六")
            )
            day = f"2023-08-{n:02d}" if n != 7 else "2023-07-20"
            await service.create_item(
                session,
                firm.id,
                Draft(f"问题{n}", (n % 5) + 1, f"措施{n}", owner, _day(day)),
                Actor(None, "测试"),
                now,
                zone,
            )
    await firm.say("李四", "/ledger")
    listing = firm.last()
    lines = listing.text.splitlines()
    assert "整改中的事项" in lines[0] and "共 10 项，第 1/2 页" in lines[0]
    assert "2023-007 ⚠️逾期4天 问题7" in listing.text
    assert listing.text.index("2023-007") < listing.text.index("2023-001")
    assert listing.buttons[-1] == ["下一页 ▶"]
    await firm.press("李四", "下一页 ▶", listing)
    assert "第 2/2 页" in firm.last().text and "2023-010" in firm.last().text
    await firm.press("李四", "我的", listing)
    mine = firm.last().text
    assert "我负责的事项" in mine and "2023-001" in mine and "2023-002" not in mine
    await firm.press("赵六", "逾期", listing)
    assert "逾期事项（共 1 项" in firm.last().text
    await firm.press("赵六", "要求3", listing)
    text = firm.last().text
    assert "对应要求3的事项" in text and "问题2" in text and "问题7" in text
    await firm.press("赵六", "已销号", listing)
    assert "暂无事项" in firm.last().text

    # An item assigned by username only is the named member's too.
    async with s.db.session() as session:
        await service.create_item(
            session,
            firm.id,
            Draft("问题11", 1, "措施11", Owner(None, "zhaoliu", "赵六"), _day("2023-08-11")),
            Actor(None, "测试"),
            now,
            zone,
        )
    await firm.press("赵六", "我的", listing)
    mine = firm.last().text
    assert "共 6 项" in mine and "2023-011" in mine and "2023-010" in mine
    assert "2023-001" not in mine


def _day(text: str) -> ParsedDate:
    from datetime import date

    return ParsedDate(date.fromisoformat(text))


async def test_a_page_that_is_gone_shows_the_last_one(harness: BotHarness, firm: GroupChat) -> None:
    """The list was shown with two pages; items were closed since, so "next" shows the
    one page left instead of an empty one."""
    s = harness.services
    now = s.clock.now()
    async with s.db.session() as session:
        for n in range(1, 11):
            owner = Owner(firm.members["李四"].id, None, "李四")
            draft = Draft(f"问题{n}", 1, f"措施{n}", owner, _day(f"2023-08-{n:02d}"))
            await service.create_item(
                session, firm.id, draft, Actor(None, "测试"), now, harness.config.zone
            )
    await firm.say("李四", "/ledger")
    listing = firm.last()
    assert "共 10 项，第 1/2 页" in listing.text
    async with s.db.session() as session:
        await session.execute(
            update(LedgerItem)
            .where(LedgerItem.chat_id == firm.id, LedgerItem.seq <= 3)
            .values(status=service.CLOSED, closed_at=now)
        )
    await firm.press("李四", "下一页 ▶", listing)
    text = firm.last().text
    assert "共 7 项，第 1/1 页" in text and "2023-004" in text and "2023-010" in text
    assert "2023-003" not in text


async def test_edit_shows_in_the_history_and_reschedules(
    harness: BotHarness, firm: GroupChat
) -> None:
    await with_zhao(firm)
    await firm.say("王律师", ADD)
    [item] = await items(harness, firm.id)
    await firm.say("王律师", "/ledger_edit 2023-001 完成时限 2023-08-10 18:00")
    assert firm.last().text == "已修改 2023-001 的完成时限：2023-08-31 → 2023-08-10 18:00"
    [ladder] = await reminder_schedules(harness, item.id)
    assert ladder.next_due_at is not None
    assert ladder.next_due_at.isoformat() == "2023-08-07T01:00:00+00:00"
    await firm.say("王律师", "/ledger_edit 1 措施 改为每周二集中学习")
    assert "改进措施：每周三下午集中学习 → 改为每周二集中学习" in firm.last().text
    await firm.say("王律师", "/ledger_edit 1 要求 5")
    await firm.say("王律师", "/ledger_edit 1 备注 主任督办")
    await firm.say("王律师", "/ledger_edit 1 颜色 红")
    assert "没有“颜色”这个字段" in firm.last().text
    await firm.say("王律师", "/ledger_edit 1 责任人", reply_to=None)
    assert "无法确定责任人" in firm.last().text
    li = await firm.say("李四", "我来")
    await firm.say("王律师", "/ledger_edit 1 责任人", reply_to=li["message"]["message_id"])
    assert (
        "责任人：@zhaoliu → 李四" in firm.last().text or "责任人：赵六 → 李四" in firm.last().text
    )
    await firm.say("王律师", "/ledger_edit 1 完成时限 2023-07-01")
    await firm.press("王律师", "✔ 确定")
    assert "2023-08-10 18:00 → 2023-07-01" in firm.last().text
    await firm.say("李四", "/ledger 2023-001")
    card = firm.last().text
    assert "整改事项 2023-001　整改中 ⚠️逾期23天" in card
    assert "王律师　新建" in card
    assert "修改完成时限：2023-08-31 → 2023-08-10 18:00" in card
    assert "修改对应要求：4 → 5" in card
    assert "备注：主任督办" in card
    await firm.say("李四", "/ledger 99")
    assert firm.last().text == "没有找到编号为 99 的整改事项。发送 /ledger 查看全部事项。"
    await firm.say("李四", "/ledger abc")
    assert "“abc”不是有效的编号" in firm.last().text


async def test_owner_submits_admin_closes_reopens_and_cancels(
    harness: BotHarness, firm: GroupChat
) -> None:
    await with_zhao(firm)
    await firm.say("王律师", ADD)
    [item] = await items(harness, firm.id)
    await firm.say("李四", "/ledger_done 1 我做完了")
    assert "只有责任人 赵六 或管理员可以办理 2023-001" in firm.last().text
    await firm.say("赵六", "/ledger_done 1 已固定每周三下午集中学习，附签到表")
    submitted = firm.last()
    assert "赵六 已提交 2023-001 的完成情况，请管理员核实后销号。" in submitted.text
    assert submitted.buttons == [["✅ 确认销号", "↩️ 退回整改"]]
    assert await reminder_schedules(harness, item.id) == []  # no reminders while submitted
    await firm.press("赵六", "✅ 确认销号", submitted)  # owners cannot sign off
    assert firm.last().message_id == submitted.message_id
    await firm.press("王律师", "↩️ 退回整改", submitted)
    assert "2023-001 已重新打开" in firm.last().text
    assert len(await reminder_schedules(harness, item.id)) == 1
    await firm.say("赵六", "/ledger_done 1 补充了纪要")
    await firm.press("王律师", "✅ 确认销号")
    assert "2023-001 已销号（王律师）" in firm.last().text
    [item] = await items(harness, firm.id)
    assert item.status == "closed" and item.closed_by == firm.members["王律师"].id
    assert await reminder_schedules(harness, item.id) == []
    await firm.say("王律师", "/ledger_done 1")
    assert "2023-001 已销号或已取消" in firm.last().text
    await firm.say("王律师", "/ledger_reopen 1")
    assert "2023-001 已重新打开，继续整改" in firm.last().text
    await firm.say("王律师", "/ledger_done 1 主任核实")  # an admin's done closes at once
    assert "已销号" in firm.last().text
    await firm.say("王律师", "/ledger_reopen 1")
    await firm.say("王律师", "/ledger_cancel 1")
    assert "2023-001 已取消" in firm.last().text
    assert await reminder_schedules(harness, item.id) == []
    await firm.say("王律师", "/ledger_edit 1 问题 新的")
    assert "已取消，不能再修改" in firm.last().text
    await firm.say("王律师", "/ledger_cancel")
    assert "格式：/ledger_cancel 编号" in firm.last().text
    async with harness.services.db.session() as session:
        actions = (
            await session.scalars(
                select(LedgerEvent.action)
                .where(LedgerEvent.item_id == item.id)
                .order_by(LedgerEvent.id)
            )
        ).all()
    assert actions == [
        "created",
        "submitted",
        "reopened",
        "submitted",
        "closed",
        "reopened",
        "closed",
        "edited",
        "reopened",
        "cancelled",
    ]


async def test_owner_submits_a_photo_by_replying_to_the_prompt(
    harness: BotHarness, firm: GroupChat
) -> None:
    await firm.say("李四", "收到")  # a member the bot has seen can be named
    await firm.say("王律师", "/ledger_add 问题 | 2 | 措施 | 李四 | 月底")
    await firm.say("李四", "/ledger_done 1")
    prompt = firm.last()
    assert "请直接回复本条消息，提交 2023-001 的完成情况" in prompt.text
    before = len(firm.messages())
    await firm.say("李四", "先聊点别的")  # not a reply: not evidence
    assert len(firm.messages()) == before
    await firm.harness.handled(
        firm.emulator.send_photo(
            firm.id, firm.members["李四"], PNG, caption="签到表", reply_to=prompt.message_id
        )
    )
    assert "李四 已提交 2023-001 的完成情况" in firm.last().text
    assert "［照片］ 签到表" in firm.last().text
    [item] = await items(harness, firm.id)
    assert item.status == "submitted" and item.evidence_kind == "photo"
    assert item.evidence_file_id


async def test_owner_submits_by_replying_done_to_their_file(
    harness: BotHarness, firm: GroupChat
) -> None:
    await firm.say("李四", "收到")  # a member the bot has seen can be named
    await firm.say("王律师", "/ledger_add 问题 | 2 | 措施 | 李四 | 月底")
    sent = firm.emulator.send_document(firm.id, firm.members["李四"], b"minutes", "纪要.pdf")
    await firm.harness.handled(sent)
    await firm.say("李四", "/ledger_done 1", reply_to=sent["message"]["message_id"])
    assert "［文件：纪要.pdf］" in firm.last().text
    [item] = await items(harness, firm.id)
    assert item.status == "submitted" and item.evidence_file_name == "纪要.pdf"


async def test_private_chat_says_the_ledger_lives_in_groups(
    harness: BotHarness, firm: GroupChat
) -> None:
    user = firm.members["李四"]
    chat = harness.emulator.private_chat(user)
    await harness.handled(harness.emulator.send_message(chat.id, user, "/ledger"))
    assert "请在律所群里使用" in harness.emulator.last(chat.id).text


async def test_html_in_every_field_is_shown_as_typed(harness: BotHarness, firm: GroupChat) -> None:
    await with_zhao(firm)
    nasty = "<b>a&b</b> <script>"
    await firm.say(
        "王律师", f"/ledger_add {nasty}问题 | 1 | {nasty}措施 | @zhaoliu | 月底 | {nasty}目标"
    )
    created = firm.last()
    for part in ("问题", "措施", "目标"):
        assert f"{nasty}{part}" in created.text
    await firm.say("王律师", f"/ledger_edit 1 备注 {nasty}备注")
    assert f"{nasty}备注" in firm.last().text
    await firm.say("李四", "/ledger")
    assert f"{nasty}问题" in firm.last().text
    await firm.say("李四", "/ledger 1")
    card = firm.last().text
    for part in ("问题", "措施", "目标", "备注"):
        assert f"{nasty}{part}" in card
    await firm.say("赵六", f"/ledger_done 1 {nasty}完成")
    assert f"{nasty}完成" in firm.last().text


async def test_numbers_are_unique_and_gap_free_under_concurrency(
    harness: BotHarness, firm: GroupChat
) -> None:
    s = harness.services
    owner = Owner(firm.members["李四"].id, None, "李四")

    async def add(n: int) -> int:
        async with s.db.session() as session:
            item = await service.create_item(
                session,
                firm.id,
                Draft(f"并发{n}", 1, "措施", owner, _day("2023-09-01")),
                Actor(None, "测试"),
                s.clock.now(),
                harness.config.zone,
            )
            return item.seq

    async def add_then_fail() -> None:
        try:
            async with s.db.session() as session:
                await service.create_item(
                    session,
                    firm.id,
                    Draft("回滚", 1, "措施", owner, _day("2023-09-01")),
                    Actor(None, "测试"),
                    s.clock.now(),
                    harness.config.zone,
                )
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass

    results: list[Any] = await asyncio.gather(
        *(add(n) for n in range(12)), add_then_fail(), add_then_fail()
    )
    seqs = sorted(r for r in results if r is not None)
    assert seqs == list(range(1, 13))
    async with s.db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(LedgerItem).where(LedgerItem.chat_id == firm.id)
        )
    assert count == 12


async def test_dialog_past_deadline_confirmed_and_the_cancel_button(
    harness: BotHarness, firm: GroupChat
) -> None:
    await with_zhao(firm)
    await firm.say("王律师", "/ledger_add")
    await firm.say("王律师", "问题")
    await firm.press("王律师", "1. 践行者")
    await firm.say("王律师", "目标")
    await firm.say("王律师", "措施")
    await firm.say("王律师", "@zhaoliu")
    await firm.say("王律师", "2023-07-01")
    assert "完成时限 2023-07-01 已经过去" in firm.last().text
    await firm.press("王律师", "✔ 确定")
    assert "已登记整改事项 2023-001" in firm.last().text
    assert "学习目标：目标" in firm.last().text
    await firm.say("王律师", "/ledger_add")
    await firm.press("王律师", "✖ 取消")
    assert firm.last().text == "已取消，没有登记任何内容。"
    assert len(await items(harness, firm.id)) == 1


async def test_the_ledger_follows_a_group_upgrade(harness: BotHarness, firm: GroupChat) -> None:
    await with_zhao(firm)
    await firm.say("王律师", ADD)
    [item] = await items(harness, firm.id)
    new_id = harness.emulator.upgrade_group(firm.id)
    await harness.settle()
    upgraded = GroupChat(harness, harness.emulator.chat(new_id), firm.members)
    await upgraded.say("王律师", "/ledger_add 第二项 | 2 | 措施 | @zhaoliu | 月底")
    assert "2023-002" in upgraded.last().text  # the counter moved with the chat
    await upgraded.say("李四", "/ledger 1")
    assert "集中学习时间未固定" in upgraded.last().text
    assert [s.chat_id for s in await reminder_schedules(harness, item.id)] == [new_id]
