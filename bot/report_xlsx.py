"""Report workbooks (openpyxl): the per-member study record and the association's firm list."""

# The study record is 学习记录 in the catalog.

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot.reports import FirmReport, FirmRow
from bot.texts import Texts

MEMBER_COLUMNS = (
    "member",
    "checkins",
    "reflections",
    "sessions",
    "quiz_answered",
    "quiz_correct",
    "quiz_rate",
    "ledger_owned",
    "ledger_closed",
    "ledger_overdue",
)
FIRM_COLUMNS = ("name", "chat_id", "members", "participants", "participation", "overdue")
_THIN = Side(style="thin", color="999999")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEAD_FILL = PatternFill("solid", fgColor="DDE6F3")
# Excel forbids these in sheet names.
_BAD_SHEET_CHARS = str.maketrans({c: "-" for c in "[]:*?/\\"})


def _table(
    ws: Worksheet, title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    ws.append([title])
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    ws.append(list(headers))
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.fill = _HEAD_FILL
        cell.border = _BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for row in rows:
        ws.append(list(row))
        for cell in ws[ws.max_row]:
            cell.border = _BORDER
            if cell.data_type == "f":
                # A member named "=..." is text, never a formula Excel would run.
                cell.data_type = "s"
    for index, header in enumerate(headers, start=1):
        width = max([len(str(header)) * 2, *(len(str(r[index - 1])) for r in rows)], default=8)
        ws.column_dimensions[get_column_letter(index)].width = min(max(width + 2, 8), 40)
    ws.freeze_panes = "B3"
    ws.print_title_rows = "2:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _member_rows(report: FirmReport) -> list[list[object]]:
    return [
        [
            r.name,
            r.checkins,
            r.reflections,
            r.sessions,
            r.quiz_answered,
            r.quiz_correct,
            f"{r.quiz_rate:.0%}" if r.quiz_rate is not None else "",
            r.ledger_owned,
            r.ledger_closed,
            r.ledger_overdue,
        ]
        for r in sorted(report.rows, key=lambda r: (-r.checkins, r.name))
    ]


def study_record_workbook(
    summary: FirmReport,
    weeks: Sequence[FirmReport],
    labels: Mapping[str, str],
    sheet_titles: Sequence[str],
    titles: Sequence[str],
) -> bytes:
    """One row per member for the whole record, then one sheet per week (newest first).

    ``labels`` maps MEMBER_COLUMNS and "summary_sheet"/"summary_title" to localized text;
    ``sheet_titles``/``titles`` name each week's sheet and its title row.
    """
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = labels["summary_sheet"][:31].translate(_BAD_SHEET_CHARS)
    headers = [labels[c] for c in MEMBER_COLUMNS]
    _table(ws, labels["summary_title"], headers, _member_rows(summary))
    for report, sheet, title in zip(weeks, sheet_titles, titles, strict=True):
        week_ws = book.create_sheet(sheet[:31].translate(_BAD_SHEET_CHARS))
        _table(week_ws, title, headers, _member_rows(report))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def firms_workbook(rows: Sequence[FirmRow], labels: Mapping[str, str]) -> bytes:
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = labels["sheet"][:31].translate(_BAD_SHEET_CHARS)
    table = [
        [
            r.title,
            r.chat_id,
            r.members,
            r.participants,
            f"{r.participation:.0%}" if r.participation is not None else "",
            r.overdue,
        ]
        for r in rows
    ]
    _table(ws, labels["heading"], [labels[c] for c in FIRM_COLUMNS], table)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def firms_xlsx(texts: Texts, locale: str, rows: Sequence[FirmRow], today: date) -> bytes:
    """The association's firm list as a workbook (also used by `firmbot report firms`)."""
    labels = {c: texts.plain(f"reports.firms.xlsx.{c}", locale) for c in FIRM_COLUMNS}
    labels["sheet"] = texts.plain("reports.firms.xlsx.sheet", locale)
    date_text = texts.plain(
        "reports.date", locale, month=today.month, day=today.day, year=today.year
    )
    labels["heading"] = texts.plain("reports.firms.xlsx.heading", locale, date=date_text)
    return firms_workbook(rows, labels)
