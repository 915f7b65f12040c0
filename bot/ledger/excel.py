"""The ledger as a printable .xlsx and back; imports are checked row by row.

Labels (title, headers, statuses) come from the caller (the message catalog), so this
module holds layout and validation only. Reading accepts the labels of every locale.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from bot.content.grammar import char_class
from bot.dates import MAX_YEAR, MIN_YEAR, DateError, ParsedDate, parse_date
from bot.ledger.service import REQUIREMENT_NUMERALS, parse_requirement, parse_username

# Column keys in the printed order.
COLUMNS: tuple[str, ...] = (
    "number",
    "problem",
    "requirement",
    "goal",
    "measures",
    "owner",
    "deadline",
    "status",
    "closed_at",
    "note",
)
REQUIRED = ("number", "problem", "requirement", "measures", "owner", "deadline")
WIDTHS = {
    "number": 11,
    "problem": 34,
    "requirement": 12,
    "goal": 26,
    "measures": 34,
    "owner": 12,
    "deadline": 17,
    "status": 9,
    "closed_at": 17,
    "note": 22,
}
MAX_ROWS = 2000
MAX_BYTES = 5 * 1024 * 1024
_NUMBER = re.compile(r"^(\d{4})\s*-\s*0*(\d{1,5})$")


@dataclass(frozen=True, slots=True)
class Labels:
    """Everything printed in words, from the catalog."""

    title: str
    subtitle: str
    headers: Mapping[str, str]  # column key -> header
    # e.g. "第 &P 页，共 &N 页" (Excel header/footer codes)
    footer: str


@dataclass(frozen=True, slots=True)
class ExportRow:
    number: str
    problem: str
    requirement: str
    goal: str
    measures: str
    owner: str
    deadline: date | datetime
    status: str
    closed_at: datetime | None  # naive, chat-local
    note: str


def build_workbook(rows: Sequence[ExportRow], labels: Labels) -> bytes:
    """A print-ready workbook: landscape A4, fit to width, header row repeated on each page."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.page import PageMargins

    wb = Workbook()
    ws = wb.active
    ws.title = labels.title[:31] or "ledger"
    last = get_column_letter(len(COLUMNS))
    thin = Side(style="thin", color="000000")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    wrap_top = Alignment(wrap_text=True, vertical="top")
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)

    ws.merge_cells(f"A1:{last}1")
    ws["A1"] = labels.title
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 30
    ws.merge_cells(f"A2:{last}2")
    ws["A2"] = labels.subtitle
    ws["A2"].alignment = Alignment(horizontal="right", vertical="center")

    header_fill = PatternFill("solid", start_color="D9D9D9", end_color="D9D9D9")
    for index, key in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=3, column=index, value=labels.headers[key])
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.alignment = center
        cell.border = border
        ws.column_dimensions[get_column_letter(index)].width = WIDTHS[key]
    ws.row_dimensions[3].height = 22

    for offset, row in enumerate(rows):
        r = 4 + offset
        for index, key in enumerate(COLUMNS, start=1):
            value: Any = getattr(row, key)
            if isinstance(value, str):
                value = _clean(value)
            cell = ws.cell(row=r, column=index, value=value)
            if isinstance(value, str) and value.startswith("="):
                # Stored as text: a member's "=..." must never run as a formula.
                cell.data_type = "s"
            cell.border = border
            cell.alignment = center if key in ("number", "status", "requirement") else wrap_top
            if key == "deadline":
                cell.number_format = (
                    "yyyy-mm-dd hh:mm" if isinstance(value, datetime) else ("yyyy-mm-dd")
                )
            elif key == "closed_at" and value is not None:
                cell.number_format = "yyyy-mm-dd hh:mm"

    ws.freeze_panes = "A4"
    ws.print_title_rows = "3:3"
    ws.print_options.horizontalCentered = True
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.oddFooter.center.text = labels.footer
    ws.auto_filter.ref = f"A3:{last}{max(3, 3 + len(rows))}"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _clean(value: str) -> str:
    """openpyxl refuses control characters; they carry no meaning in a ledger."""
    return _ILLEGAL.sub("", value)


# --- reading ---


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # 1-based, as Excel shows it
    column: str  # column key ("" for the whole file)
    code: str  # a text key suffix: ledger.import.errors.<code>
    value: str = ""


@dataclass(frozen=True, slots=True)
class ImportRow:
    row: int
    number: tuple[int, int] | None
    problem: str
    requirement: int
    goal: str
    measures: str
    owner: str  # "@username" or a member's name, resolved against the chat later
    owner_username: str | None
    deadline: ParsedDate
    status: str  # open | submitted | closed | cancelled
    closed_at: datetime | None  # naive, chat-local
    note: str


@dataclass
class ReadResult:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class XlsxError(Exception):
    """The file is not a workbook we can read at all (code: a text key suffix)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _load_rows(data: bytes) -> list[tuple[Any, ...]]:
    if len(data) > MAX_BYTES:
        raise XlsxError("too_big")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise XlsxError("not_xlsx")
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            rows: list[tuple[Any, ...]] = []
            for values in ws.iter_rows(values_only=True):
                rows.append(tuple(values))
                if len(rows) > MAX_ROWS + 20:
                    raise XlsxError("too_many_rows")
            return rows
        finally:
            wb.close()
    except XlsxError:
        raise
    except Exception as exc:  # openpyxl raises anything on a broken file
        raise XlsxError("unreadable", type(exc).__name__) from None


def _find_header(
    rows: Sequence[tuple[Any, ...]], headers: Mapping[str, Iterable[str]]
) -> tuple[int, dict[str, int]] | None:
    """(row index, column key -> column index) of the first row holding our headers."""
    lookup = {_norm_header(label): key for key, labels in headers.items() for label in labels}
    for index, values in enumerate(rows[:15]):
        found: dict[str, int] = {}
        for col, value in enumerate(values):
            key = lookup.get(_norm_header(_text(value)))
            if key is not None and key not in found:
                found[key] = col
        if "number" in found and "problem" in found:
            return index, found
    return None


def _norm_header(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def read_workbook(
    data: bytes,
    headers: Mapping[str, Iterable[str]],
    statuses: Mapping[str, str],
    today: date,
) -> ReadResult:
    """Parse and check every row; ``statuses`` maps a label (any locale) to a status code.

    Raises XlsxError when the file cannot be read as a ledger at all; row problems are
    collected in ``errors`` with their Excel row numbers.
    """
    rows = _load_rows(data)
    found = _find_header(rows, headers)
    if found is None:
        raise XlsxError("no_header")
    header_index, columns = found
    missing = [key for key in REQUIRED if key not in columns]
    if missing:
        raise XlsxError("missing_columns", ",".join(missing))
    result = ReadResult()
    seen_numbers: dict[tuple[int, int], int] = {}
    status_lookup = {_norm_header(k): v for k, v in statuses.items()}
    for offset, values in enumerate(rows[header_index + 1 :]):
        excel_row = header_index + 2 + offset

        def cell(key: str, values: tuple[Any, ...] = values) -> Any:
            col = columns.get(key)
            return values[col] if col is not None and col < len(values) else None

        if all(_text(v) == "" for v in values):
            continue
        if len(result.rows) + len({e.row for e in result.errors}) >= MAX_ROWS:
            raise XlsxError("too_many_rows")
        errors: list[RowError] = []

        def bad(
            key: str, code: str, value: Any, errors: list[RowError] = errors, at: int = excel_row
        ) -> None:
            errors.append(RowError(at, key, code, _text(value)[:60]))

        number: tuple[int, int] | None = None
        raw_number = _text(cell("number"))
        if raw_number:
            match = _NUMBER.match(raw_number)
            if match is None or int(match.group(2)) == 0:
                bad("number", "number", raw_number)
            else:
                number = (int(match.group(1)), int(match.group(2)))
                if number in seen_numbers:
                    bad("number", "duplicate", raw_number)
                seen_numbers.setdefault(number, excel_row)
        problem = _text(cell("problem"))
        if not problem:
            bad("problem", "required", "")
        elif len(problem) > 500:
            bad("problem", "too_long", problem)
        raw_req = cell("requirement")
        requirement = _requirement(raw_req)
        if requirement is None:
            bad("requirement", "requirement", raw_req)
        goal = _text(cell("goal"))
        measures = _text(cell("measures"))
        if not measures:
            bad("measures", "required", "")
        for key, text in (("goal", goal), ("measures", measures)):
            if len(text) > 1000:
                bad(key, "too_long", text)
        owner = _text(cell("owner"))
        username = parse_username(owner) if owner.startswith("@") else None
        if not owner:
            bad("owner", "required", "")
        elif owner.startswith("@") and username is None:
            bad("owner", "owner", owner)
        deadline = _deadline(cell("deadline"), today)
        if deadline is None:
            bad("deadline", "deadline", cell("deadline"))
        raw_status = _text(cell("status"))
        status = status_lookup.get(_norm_header(raw_status), "") if raw_status else "open"
        if not status:
            bad("status", "status", raw_status)
        closed_raw = cell("closed_at")
        closed_at = _moment(closed_raw)
        if _text(closed_raw) and closed_at is None:
            bad("closed_at", "closed_at", closed_raw)
        note = _text(cell("note"))
        if len(note) > 1000:
            bad("note", "too_long", note)
        if errors:
            result.errors.extend(errors)
            continue
        assert requirement is not None and deadline is not None
        result.rows.append(
            ImportRow(
                row=excel_row,
                number=number,
                problem=problem,
                requirement=requirement,
                goal=goal,
                measures=measures,
                owner=owner,
                owner_username=username,
                deadline=deadline,
                status=status,
                closed_at=closed_at,
                note=note,
            )
        )
    if not result.rows and not result.errors:
        raise XlsxError("empty")
    return result


_LEADING_REQUIREMENT = re.compile(rf"^\s*([1-5{char_class(REQUIREMENT_NUMERALS)}])(?![\d])")


def _requirement(value: Any) -> int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value) if float(value).is_integer() and 1 <= value <= 5 else None
    text = _text(value)
    if not text:
        return None
    direct = parse_requirement(text)
    if direct is not None:
        return direct
    # "1（践行者）", "3 维护者": the leading number counts.
    match = _LEADING_REQUIREMENT.match(text)
    return parse_requirement(match.group(1)) if match else None


def _deadline(value: Any, today: date) -> ParsedDate | None:
    if isinstance(value, date) and not MIN_YEAR <= value.year <= MAX_YEAR:
        return None  # the years a typed date may have; year 1 does not even fit in UTC
    if isinstance(value, datetime):
        at = value.time()
        return ParsedDate(value.date(), None if at == time(0, 0) else at.replace(second=0))
    if isinstance(value, date):
        return ParsedDate(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None
    text = _text(value)
    if not text:
        return None
    try:
        return parse_date(text, today)
    except DateError:
        return None


def _moment(value: Any) -> datetime | None:
    if value is None or _text(value) == "":
        return None
    if isinstance(value, date) and not MIN_YEAR <= value.year <= MAX_YEAR:
        return None  # as for deadlines: "0001-01-01" cannot be stored as a UTC timestamp
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0))
    text = _text(value).replace("/", "-").replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed if MIN_YEAR <= parsed.year <= MAX_YEAR else None
    return None
