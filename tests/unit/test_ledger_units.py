"""Pure parts of the ledger: the reminder ladder, numbers, requirements, the xlsx reader."""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dates import ParsedDate
from bot.ledger.excel import (
    COLUMNS,
    ExportRow,
    Labels,
    XlsxError,
    build_workbook,
    read_workbook,
)
from bot.ledger.reminders import (
    LadderSettings,
    Stage,
    next_ladder_day,
    next_ladder_slot,
    parse_ref,
    stage_for,
)
from bot.ledger.service import parse_number, parse_requirement, parse_username

DEADLINE = date(2023, 7, 28)
HEADERS = {
    "number": "编号",
    "problem": "问题",
    "requirement": "对应要求",
    "goal": "学习目标",
    "measures": "改进措施",
    "owner": "责任人",
    "deadline": "完成时限",
    "status": "状态",
    "closed_at": "销号时间",
    "note": "备注",
}
ALIASES = {key: [label, key] for key, label in HEADERS.items()}
STATUSES = {"整改中": "open", "待销号": "submitted", "已销号": "closed", "已取消": "cancelled"}
LABELS = Labels("整改台账", "示范律师事务所", HEADERS, "第 &P 页")


def ladder(zone: str = "Asia/Shanghai") -> LadderSettings:
    return LadderSettings(ZoneInfo(zone), "09:00", (3, 1), 3)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2023, 7, 24), None),
        (date(2023, 7, 25), Stage("before", 3)),
        (date(2023, 7, 26), None),
        (date(2023, 7, 27), Stage("before", 1)),
        (date(2023, 7, 28), Stage("due", 0)),
        (date(2023, 7, 29), Stage("overdue", 1)),
        (date(2023, 8, 28), Stage("overdue", 31)),
    ],
)
def test_stage_for(day: date, expected: Stage | None) -> None:
    assert stage_for(DEADLINE, day, (3, 1)) == expected


def test_next_ladder_day_skips_quiet_days() -> None:
    assert next_ladder_day(DEADLINE, date(2023, 7, 1), (3, 1)) == date(2023, 7, 25)
    assert next_ladder_day(DEADLINE, date(2023, 7, 26), (3, 1)) == date(2023, 7, 27)
    assert next_ladder_day(DEADLINE, date(2023, 7, 28), (3, 1)) == DEADLINE
    assert next_ladder_day(DEADLINE, date(2023, 8, 5), (3, 1)) == date(2023, 8, 5)
    assert next_ladder_day(DEADLINE, date(2023, 7, 1), ()) == DEADLINE


def test_next_ladder_slot_is_strictly_after() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    before = datetime(2023, 7, 25, 8, 0, tzinfo=shanghai)
    assert next_ladder_slot(DEADLINE, before, ladder()) == datetime(2023, 7, 25, 1, 0, tzinfo=UTC)
    at_slot = datetime(2023, 7, 25, 9, 0, tzinfo=shanghai)
    assert next_ladder_slot(DEADLINE, at_slot, ladder()) == datetime(2023, 7, 27, 1, tzinfo=UTC)


def test_ladder_follows_the_chats_zone_across_dst() -> None:
    berlin = ladder("Europe/Berlin")
    after = datetime(2023, 3, 20, tzinfo=UTC)
    # 2023-03-26 is the switch to summer time: 09:00 is 07:00 UTC from then on.
    assert next_ladder_slot(date(2023, 3, 29), after, berlin) == datetime(
        2023, 3, 26, 7, 0, tzinfo=UTC
    )
    assert next_ladder_slot(date(2023, 3, 27), after, berlin) == datetime(
        2023, 3, 24, 8, 0, tzinfo=UTC
    )


def test_refs() -> None:
    assert parse_ref("12:ladder") == (12, "ladder")
    assert parse_ref("12:snooze") == (12, "snooze")
    assert parse_ref("12") is None and parse_ref("x:ladder") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-007", (2023, 7)),
        ("2023-7", (2023, 7)),
        ("7", (None, 7)),
        ("#7", (None, 7)),
        ("007", (None, 7)),
        ("0", None),
        ("abc", None),
        ("2023-", None),
    ],
)
def test_parse_number(text: str, expected: tuple[int | None, int] | None) -> None:
    assert parse_number(text) == expected


def test_parse_requirement_and_username() -> None:
    assert [parse_requirement(t) for t in ("1", "五", "要求3", "第2条", "6", "", "x")] == [
        1,
        5,
        3,
        2,
        None,
        None,
        None,
    ]
    assert parse_username("@Zhang_San") == "zhang_san"
    assert parse_username("@ab") is None and parse_username("@1abc") is None


def workbook(*rows: list[object], headers: list[str] | None = None) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["整改台账"])
    ws.append(headers or [HEADERS[k] for k in COLUMNS])
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


GOOD = ["2023-001", "问题", "1（践行者）", "", "措施", "@zhaoliu", "2023-08-31", "整改中", None, ""]


def test_reader_accepts_the_layout_and_collects_every_error() -> None:
    result = read_workbook(
        workbook(
            GOOD,
            [None] * 10,  # blank rows are skipped
            [
                "",
                "问题二",
                5,
                "目标",
                "措施",
                "李四",
                datetime(2023, 9, 1, 18, 0),
                "",
                None,
                "备注",
            ],
            ["2023-001", "", "9", "", "", "@a", "某天", "进行中", "昨天", ""],
        ),
        ALIASES,
        STATUSES,
        date(2023, 7, 24),
    )
    assert [r.row for r in result.rows] == [3, 5]
    first, second = result.rows
    assert (
        first.number == (2023, 1) and first.requirement == 1 and first.owner_username == "zhaoliu"
    )
    assert second.number is None and second.owner == "李四" and second.owner_username is None
    assert second.deadline == ParsedDate(date(2023, 9, 1), time(18, 0))
    assert second.status == "open"
    errors = {(e.row, e.column, e.code) for e in result.errors}
    assert errors == {
        (6, "number", "duplicate"),
        (6, "problem", "required"),
        (6, "requirement", "requirement"),
        (6, "measures", "required"),
        (6, "owner", "owner"),
        (6, "deadline", "deadline"),
        (6, "status", "status"),
        (6, "closed_at", "closed_at"),
    }


def test_reader_refuses_files_that_are_not_a_ledger() -> None:
    today = date(2023, 7, 24)
    for data, code in (
        (b"", "not_xlsx"),
        (b"PK\x03\x04 broken", "not_xlsx"),
        (workbook(headers=["姓名", "电话"]), "no_header"),
        (workbook(headers=["编号", "问题"]), "missing_columns"),
        (workbook(), "empty"),
    ):
        with pytest.raises(XlsxError) as caught:
            read_workbook(data, ALIASES, STATUSES, today)
        assert caught.value.code == code


def test_build_then_read_round_trips() -> None:
    rows = [
        ExportRow(
            "2023-001",
            "=cmd|' /C calc'!A0 <b>&",
            "1（践行者）",
            "目标\n第二行",
            "措施",
            "@zhaoliu",
            date(2023, 8, 31),
            "已销号",
            datetime(2023, 8, 30, 10, 15),
            "备注\x07",
        )
    ]
    data = build_workbook(rows, LABELS)
    [row] = read_workbook(data, ALIASES, STATUSES, date(2023, 7, 24)).rows
    assert row.problem == "=cmd|' /C calc'!A0 <b>&"
    assert row.goal == "目标\n第二行" and row.note == "备注"
    assert row.status == "closed" and row.closed_at == datetime(2023, 8, 30, 10, 15)
    assert row.deadline == ParsedDate(date(2023, 8, 31))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_reader(data: bytes) -> None:
    with contextlib.suppress(XlsxError):
        read_workbook(data, ALIASES, STATUSES, date(2023, 7, 24))


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=4000), st.binary(min_size=1, max_size=8))
def test_corrupted_workbooks_never_crash_the_reader(offset: int, noise: bytes) -> None:
    data = bytearray(workbook(GOOD))
    position = offset % len(data)
    data[position : position + len(noise)] = noise
    with contextlib.suppress(XlsxError):
        read_workbook(bytes(data), ALIASES, STATUSES, date(2023, 7, 24))
