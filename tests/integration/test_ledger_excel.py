"""The ledger as Excel: a printable export, imports checked row by row, all or nothing."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import openpyxl
from sqlalchemy import func, select

from bot.cli import main as cli_main
from bot.db.models import Schedule
from bot.db.models.ledger import LedgerItem
from bot.sandbox.driver import BotHarness, GroupChat, make_group
from bot.sandbox.emulator import SentMessage

HEADERS = [
    "编号",
    "问题",
    "对应要求",
    "学习目标",
    "改进措施",
    "责任人",
    "完成时限",
    "状态",
    "销号时间",
    "备注",
]
NASTY = "<b>a&b</b> <i>"


async def fill(firm: GroupChat) -> None:
    """Four items: open, with a time, closed, cancelled; odd characters everywhere."""
    zhao = firm.emulator.create_user("赵六", username="zhaoliu")
    firm.emulator.set_member(firm.id, zhao, "member")
    firm.members["赵六"] = zhao
    await firm.say("赵六", "大家好")
    await firm.say("李四", "收到")
    await firm.say(
        "王律师", f"/ledger_add {NASTY}问题 | 1 | {NASTY}措施 | @zhaoliu | 2023-08-31 | {NASTY}目标"
    )
    await firm.say("王律师", f"/ledger_edit 1 备注 {NASTY}备注")
    await firm.say("王律师", "/ledger_add =1+1 | 2 | 措施二 | 李四 | 2023-08-15 18:00")
    await firm.say("王律师", "/ledger_add 第三项 | 3 | 措施三 | @zhaoliu | 2023-08-20")
    await firm.say("王律师", "/ledger_done 3 已核实")
    await firm.say("王律师", "/ledger_add 第四项 | 5 | 措施四 | @zhaoliu | 2023-08-20")
    await firm.say("王律师", "/ledger_cancel 4")


async def export(firm: GroupChat, who: str = "王律师") -> SentMessage:
    await firm.say(who, "/ledger_export")
    document = firm.last()
    assert document.kind == "document", document.text
    return document


def rows_of(data: bytes) -> list[list[object]]:
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    return [list(r) for r in ws.iter_rows(min_row=4, values_only=True)]


async def count(harness: BotHarness, chat_id: int) -> int:
    async with harness.services.db.session() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(LedgerItem).where(LedgerItem.chat_id == chat_id)
            )
            or 0
        )


async def send_file(firm: GroupChat, who: str, data: bytes, name: str, caption: str) -> None:
    await firm.harness.handled(
        firm.emulator.send_document(firm.id, firm.members[who], data, name, caption=caption)
    )


async def test_export_is_a_printable_ledger_with_chinese_headers(
    harness: BotHarness, firm: GroupChat
) -> None:
    await fill(firm)
    document = await export(firm)
    assert document.filename == "整改台账_20230724.xlsx"
    assert "「示范律师事务所」整改台账" in document.text
    assert document.file is not None
    wb = openpyxl.load_workbook(io.BytesIO(document.file))
    ws = wb.active
    assert ws["A1"].value == "整改台账"
    assert "示范律师事务所" in str(ws["A2"].value)
    assert [c.value for c in ws[3]] == HEADERS
    assert ws.page_setup.orientation == "landscape"
    assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
    assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$3:$3"
    assert ws.freeze_panes == "A4"
    assert ws["B4"].alignment.wrap_text and ws["B4"].border.left.style == "thin"
    rows = rows_of(document.file)
    assert [r[0] for r in rows] == ["2023-001", "2023-002", "2023-003", "2023-004"]
    first = rows[0]
    assert first[1] == f"{NASTY}问题" and first[3] == f"{NASTY}目标"
    assert first[4] == f"{NASTY}措施" and first[9] == f"{NASTY}备注"
    assert first[2] == "1（践行者）" and first[5] == "@zhaoliu" and first[7] == "整改中"
    assert rows[1][1] == "=1+1" and ws["B5"].data_type == "s"  # text, never a formula
    assert rows[1][5] == "李四" and str(rows[1][6]) == "2023-08-15 18:00:00"
    assert rows[2][7] == "已销号" and rows[2][8] is not None
    assert rows[3][7] == "已取消"
    await firm.say("李四", "/ledger_export")
    assert firm.last().text == "抱歉，只有本群管理员可以进行此操作。"


async def test_round_trip_into_another_group_and_back_into_the_same(
    harness: BotHarness, firm: GroupChat
) -> None:
    await fill(firm)
    original = (await export(firm)).file
    assert original is not None
    # The same ledger imported again changes nothing.
    await send_file(firm, "王律师", original, "台账.xlsx", "/ledger_import")
    assert firm.last().text == "导入完成：新增 0 项，更新 0 项，4 项没有变化。"
    other = await make_group(
        harness, "第二律师事务所", ["张三", "王律师", "李四"], admins=("王律师",)
    )
    await other.say("李四", "收到")
    await send_file(other, "王律师", original, "台账.xlsx", "/ledger_import@firmbot_test_bot")
    assert other.last().text == "导入完成：新增 4 项，更新 0 项，0 项没有变化。"
    copy = (await export(other)).file
    assert copy is not None
    assert rows_of(copy) == rows_of(original)
    await other.say("李四", "/ledger 1")
    assert f"{NASTY}问题" in other.last().text and "从 Excel 导入" in other.last().text
    # The imported open items are reminded like any other.
    async with harness.services.db.session() as session:
        kinds = (
            await session.scalars(select(Schedule.kind).where(Schedule.chat_id == other.id))
        ).all()
    ledger_kinds = sorted(k for k in kinds if k.startswith("ledger"))
    assert ledger_kinds == ["ledger_digest", "ledger_reminder", "ledger_reminder"]


async def test_one_bad_row_imports_nothing_and_every_error_is_listed(
    harness: BotHarness, firm: GroupChat
) -> None:
    await fill(firm)
    original = (await export(firm)).file
    assert original is not None
    wb = openpyxl.load_workbook(io.BytesIO(original))
    ws = wb.active
    ws["B4"] = "改过的问题"  # a good change that must not land
    ws.append(["", "新问题", "7", "", "措施", "@zhaoliu", "下个月的某天", "整改中", None, ""])
    ws.append(["第九号", "", 3, "", "措施", "@x", "2023-02-30", "进行中", "昨天", ""])
    buffer = io.BytesIO()
    wb.save(buffer)
    await send_file(firm, "王律师", buffer.getvalue(), "台账.xlsx", "/ledger_import")
    text = firm.last().text
    assert "有 8 处错误，没有导入任何内容" in text
    assert "第 8 行「对应要求」：对应要求应为 1～5。 7" in text
    assert "第 8 行「完成时限」" in text
    for column in ("编号", "问题", "责任人", "完成时限", "状态", "销号时间"):
        assert f"第 9 行「{column}」" in text, column
    assert await count(harness, firm.id) == 4
    async with harness.services.db.session() as session:
        problem = await session.scalar(select(LedgerItem.problem).where(LedgerItem.seq == 1))
    assert problem == f"{NASTY}问题"


async def test_broken_files_get_a_clear_answer(harness: BotHarness, firm: GroupChat) -> None:
    await send_file(firm, "王律师", b"not a workbook at all", "台账.xlsx", "/ledger_import")
    assert "这不是 .xlsx 文件" in firm.last().text
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<<<")
    await send_file(firm, "王律师", broken.getvalue(), "台账.xlsx", "/ledger_import")
    assert "文件已损坏或无法读取" in firm.last().text
    empty = openpyxl.Workbook()
    empty.active.append(["姓名", "电话"])
    buffer = io.BytesIO()
    empty.save(buffer)
    await send_file(firm, "王律师", buffer.getvalue(), "台账.xlsx", "/ledger_import")
    assert "没有找到表头" in firm.last().text
    await send_file(firm, "李四", buffer.getvalue(), "台账.xlsx", "/ledger_import")
    assert firm.last().text == "抱歉，只有本群管理员可以进行此操作。"
    await firm.say("王律师", "/ledger_import")
    assert "说明中写 /ledger_import" in firm.last().text
    assert await count(harness, firm.id) == 0


async def test_command_line_export_and_import(
    harness: BotHarness, firm: GroupChat, tmp_path: Path, database_url: str
) -> None:
    await fill(firm)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"telegram: {{token: '123:abc'}}\ndatabase: {{url: '{database_url}'}}\n",
        encoding="utf-8",
    )
    out = tmp_path / "ledger.xlsx"
    code = await asyncio.to_thread(
        cli_main, ["-c", str(config), "ledger", "export", "--chat", str(firm.id), "-o", str(out)]
    )
    assert code == 0
    assert [r[0] for r in rows_of(out.read_bytes())] == [
        "2023-001",
        "2023-002",
        "2023-003",
        "2023-004",
    ]
    wb = openpyxl.load_workbook(out)
    wb.active["B4"] = "命令行改过的问题"
    wb.save(out)
    code = await asyncio.to_thread(
        cli_main, ["-c", str(config), "ledger", "import", "--chat", str(firm.id), str(out)]
    )
    assert code == 0
    async with harness.services.db.session() as session:
        problem = await session.scalar(
            select(LedgerItem.problem).where(LedgerItem.chat_id == firm.id, LedgerItem.seq == 1)
        )
    assert problem == "命令行改过的问题"
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"junk")
    code = await asyncio.to_thread(
        cli_main, ["-c", str(config), "ledger", "import", "--chat", str(firm.id), str(bad)]
    )
    assert code == 1
