"""Every parser of user input, fuzzed: only its documented error escapes, and that error
names a message that exists in every locale.

Inputs are built from tokens people (and attackers) actually type in a Chinese chat: digits
of every script (full-width, superscript, Arabic-Indic, circled), Chinese numerals and
date words, separators, markup, control characters, plus arbitrary text. Hypothesis runs
derandomized, so CI sees the same examples every time; ``@example`` pins the inputs that
once broke a parser.
"""

from __future__ import annotations

import io
import string
import zipfile
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from bot import settings as settings_mod
from bot.content.paths import default_content_dir
from bot.dates import MAX_YEAR, MIN_YEAR, DateError, parse_date
from bot.ledger import service
from bot.ledger.excel import RowError, XlsxError, read_workbook
from bot.ledger.service import LedgerError
from bot.ledger.transfer import header_aliases, status_aliases
from bot.notices import default_labels, parse_notice, render_summary_html, split_message
from bot.notices.delivery import parse_section_data
from bot.notices.store import read_notice
from bot.settings import SettingError
from bot.study.timeparse import MAX_AHEAD, SessionTimeError, parse_start
from bot.texts import LOCALES, Texts
from bot.ui import parse_callback

SH = ZoneInfo("Asia/Shanghai")
TODAY = date(2023, 7, 24)
NOW = datetime(2023, 7, 24, 8, 0, tzinfo=SH)
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TEXTS = Texts.load(default_content_dir() / "locales")

# Characters that look like digits (str.isdigit() is True for some that int() refuses).
DIGITS = [
    *"0123456789０１２３４５６７８９",
    *"²³¹⁰₂٣۴३൬๓໒០፫①⑩㊿Ⅻ",
    *"〇零一二两三四五六七八九十",
]
SEPARATORS = [*" \u3000\t\n|｜:：/-.．,，、;；", "\r\n", "\u200b", "\x00", "\x1f", "\u202e"]
WORDS = [
    "年", "月", "日", "号", "点", "时", "分", "半", "周", "星期", "礼拜", "下", "下下", "本", "这",
    "今天", "明天", "后天", "大后天", "月底", "下月底", "年底", "天后", "个月后", "以后", "上午",
    "下午", "晚上", "中午", "am", "pm", "next ", "this ", "in ", " days", "weekdays:", "daily",
    "workdays", "工作日", "每天", "开", "关", "on", "off", "true", "要求", "第", "条", "项", "#",
    "@", "@zhaoliu", "zh_CN", "en", "Asia/", "Shanghai", "America/Argentina", "UTC", "Etc/",
    "../", "/etc/passwd", "2023", "2024", "9999", "0000", "1999", "2101", "24:00", "23:59",
    "12:60", "8:30", "2023-08-31", "2月30日", "13月", "<b>", "</i>", "&amp;", "&", "<", "{x}",
    "{0}", "%s", "\\", "'", '"', "`", "🙂", "👨‍👩‍👧", "İ", "ß", "ǅ",
]  # fmt: skip
TOKEN = st.one_of(
    st.sampled_from(DIGITS),
    st.sampled_from(SEPARATORS),
    st.sampled_from(WORDS),
    st.text(max_size=3),
)
TYPED = st.lists(TOKEN, max_size=12).map("".join)
ANY_TEXT = st.one_of(TYPED, st.text(max_size=60))


def message_exists(key: str, values: dict[str, Any] | None = None) -> None:
    """The error's text key exists in every locale and its template takes the values."""
    for locale in LOCALES:
        assert TEXTS.has(key, locale), f"{key} missing in {locale}"
        template = TEXTS.raw(key, locale)
        template.format_map({k: str(v) for k, v in (values or {}).items()})


# --- dates (ledger deadlines, xlsx cells) ---


@FUZZ
@given(ANY_TEXT)
@example("２０２３年８月３１日")
@example("8月31日 25:00")
@example("下周五 晚上8点30分")
def test_parse_date_answers_a_day_in_range_or_a_date_error(text: str) -> None:
    try:
        parsed = parse_date(text, TODAY)
    except DateError as exc:
        assert exc.kind in ("empty", "unrecognised", "invalid", "out_of_range")
        assert exc.text == text and exc.examples
        key = "ledger.errors.date_invalid" if exc.kind == "invalid" else "ledger.errors.date"
        message_exists(key, {"text": text, "forms": "、".join(exc.examples)})
        return
    assert MIN_YEAR <= parsed.day.year <= MAX_YEAR
    parsed.at(SH).astimezone(UTC)  # storable as a UTC timestamp
    assert parse_date(parsed.iso(), TODAY) == parsed  # what we show, we read back the same


# --- /set values, for every key ---


@FUZZ
@given(st.sampled_from([spec.name for spec in settings_mod.SPECS]), ANY_TEXT)
@example("study_days", "²")
@example("quiz_days", "周²")
@example("timezone", "America/Argentina")
@example("timezone", "Asia")
@example("timezone", "Etc/" + "x" * 300)
@example("ledger_offsets", "³,1")
def test_every_setting_parses_or_says_why(name: str, raw: str) -> None:
    try:
        spec, value = settings_mod.parse(name, raw)
    except SettingError as exc:
        message_exists(exc.key, exc.values)
        return
    # An accepted value is one the config itself would accept (the schedules read it).
    from bot.config import check_days, check_timezone, parse_hhmm

    if spec.name.endswith("_days") and spec.name != "ledger_escalate_days":
        assert check_days(value) == value
    if spec.name.endswith("_time"):
        assert parse_hhmm(value).strftime("%H:%M") == value
    if spec.name == "timezone":
        assert check_timezone(value) == value
    if spec.name == "language":
        assert value in LOCALES


@FUZZ
@given(ANY_TEXT)
def test_an_unknown_setting_name_is_a_setting_error(name: str) -> None:
    try:
        settings_mod.spec_for(name)
    except SettingError as exc:
        message_exists(exc.key, exc.values)


# --- /session start times ---


@FUZZ
@given(ANY_TEXT)
@example("２０２３／８／５ １４：００ 主题")
@example("8月5日 24:00")
@example("2023-02-29 10:00")
@example("明天 9:00\n第二行主题")
def test_session_times_parse_or_say_why(text: str) -> None:
    try:
        parsed = parse_start(text, NOW, SH)
    except SessionTimeError as exc:
        assert exc.kind in ("format", "date", "time", "past", "too_far")
        message_exists(
            f"study.session.error.{exc.kind}", {"text": exc.text, "forms": "", "when": ""}
        )
        return
    assert NOW < parsed.starts_at <= NOW + MAX_AHEAD
    parsed.starts_at.astimezone(UTC)
    assert parsed.rest == " ".join(parsed.rest.split())


# --- the ledger's one-line form, piece by piece (the handler splits on | and calls these) ---

PIECE = st.one_of(TYPED, st.sampled_from(["1", "五", "要求3", "第二条", "@zhaoliu", "明天"]))


@FUZZ
@given(st.lists(PIECE, max_size=7))
@example(["问题", "²", "措施", "@zhaoliu", "明天"])
@example(["问题", "٣", "措施", "@zhaoliu", "明天"])
@example(["问题", "#⑤", "措施", "@zhaoliu", "明天"])
def test_the_one_line_pieces_parse_or_are_refused(parts: list[str]) -> None:
    for part in parts:
        number = service.parse_number(part)
        assert number is None or (number[1] > 0 and (number[0] is None or number[0] >= 0))
        requirement = service.parse_requirement(part)
        assert requirement is None or 1 <= requirement <= 5
        username = service.parse_username(part)
        assert username is None or (username.isascii() and username == username.lower())
        for field in ("problem", "measures", "goal", "note"):
            try:
                checked = service.check_text(field, part, required=field in ("problem", "measures"))
            except LedgerError as exc:
                assert exc.code in ("empty_field", "too_long")
                message_exists(f"ledger.errors.{exc.code}", {**exc.values, "field": field})
            else:
                assert checked == part.strip()


@FUZZ
@given(st.text(max_size=80))
def test_callback_data_of_any_shape_splits(data: str) -> None:
    feature, action, args = parse_callback(data)
    assert isinstance(feature, str) and isinstance(action, str)
    section = parse_section_data(args)
    assert section is None or all(isinstance(n, int) for n in section)


# --- notices: any text, any bytes, any HTML ---

HTML_TOKENS = st.sampled_from(
    [
        "<html>", "<head>", "<meta charset=\"gb2312\">", "<meta charset=utf-16>",
        "<meta charset=idna>", "<meta charset=punycode>", "<meta charset=unicode_escape>",
        "<meta charset=utf-7>", "<meta charset=base64>", "<meta charset=nonsense>",
        "<body>", "<p>", "</p>", "<br>", "<div>", "<table><tr><td>", "</td></tr></table>",
        "<script>alert(1)</script>", "<style>p{}</style>", "<!--", "-->", "<![CDATA[",
        "&nbsp;", "&#x0;", "&#99999999;", "&lt;", "&", "<a href='x'>", "</a>", "<",
        "关于", "的通知", "各律师事务所：", "一、", "二、", "（一）", "1.", "附件：",
        "深圳市律师协会", "2023年7月24日", "请于8月31日前报送", "\n", "\r\n", "\u3000",
    ]
)  # fmt: skip
NOTICE_TEXT = st.lists(st.one_of(HTML_TOKENS, TOKEN), max_size=40).map("".join)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(NOTICE_TEXT)
def test_any_notice_text_or_html_parses_and_renders(text: str) -> None:
    parsed = parse_notice(text)
    html = render_summary_html(parsed, default_labels())
    assert "".join(split_message(html, limit=300)) == html


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    st.one_of(
        st.binary(max_size=600),
        NOTICE_TEXT.map(lambda t: t.encode("gb18030", errors="replace")),
        st.tuples(NOTICE_TEXT, st.binary(max_size=40)).map(
            lambda p: p[0].encode("utf-8", errors="replace") + p[1] * 3
        ),
    )
)
@example(b"<meta charset=idna>" + b"\xff\xfe" * 20)
@example(b"\xef\xbb\xbf" + b"\xff" * 10)
@example(b"\xff\xfe" + b"\x00\xd8" * 5)
@example("关于学习的通知\n一、请\x00学习。".encode())
@example("通知".encode("utf-16-le"))  # UTF-16 without a BOM is valid UTF-8 with NULs
def test_any_notice_bytes_parse(data: bytes) -> None:
    parse_notice(data)
    read = read_notice(data)  # what `firmbot notice import` stores
    for text in (read.text, read.parsed.title, read.parsed.summary):
        assert "\x00" not in text  # PostgreSQL text and JSONB columns refuse NUL


# --- the ledger's xlsx reader ---

ALIASES = header_aliases(TEXTS)
STATUS_ALIASES = status_aliases(TEXTS)
HEADERS = [
    *("编号", "问题", "对应要求", "学习目标", "改进措施"),
    *("责任人", "完成时限", "状态", "销号时间", "备注"),
]


def check_read(data: bytes) -> None:
    try:
        result = read_workbook(data, ALIASES, STATUS_ALIASES, TODAY)
    except XlsxError as exc:
        message_exists(f"ledger.import.errors.{exc.code}", {"columns": exc.detail})
        return
    for error in result.errors:
        assert isinstance(error, RowError)
        message_exists(f"ledger.import.errors.row.{error.code}")
    for row in result.rows:
        assert 1 <= row.requirement <= 5 and row.problem and row.measures and row.owner
        assert row.status in ("open", "submitted", "closed", "cancelled")
        # The file accepts the years the chat accepts, and what it accepts can be stored.
        assert MIN_YEAR <= row.deadline.day.year <= MAX_YEAR
        row.deadline.at(SH).astimezone(UTC)
        if row.closed_at is not None:
            assert MIN_YEAR <= row.closed_at.year <= MAX_YEAR
            row.closed_at.replace(tzinfo=SH).astimezone(UTC)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.binary(max_size=400))
@example(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
def test_any_bytes_as_xlsx_are_refused_with_a_reason(data: bytes) -> None:
    check_read(data)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "[Content_Types].xml",
                "xl/workbook.xml",
                "xl/worksheets/sheet1.xml",
                "xl/_rels/workbook.xml.rels",
                "_rels/.rels",
                "xl/sharedStrings.xml",
                "xl/styles.xml",
            ]
        ),
        st.one_of(
            st.binary(max_size=200),
            st.sampled_from([b"<?xml version='1.0'?><x/>", b"<!DOCTYPE x [<!ENTITY a 'b'>]><a/>"]),
        ),
        max_size=7,
    )
)
def test_a_zip_that_is_not_a_workbook_is_refused(members: dict[str, bytes]) -> None:
    check_read(_zip(members))


XLSX_VALUES = [
    *("2023-001", "2023-7", "0000-1", "9999-99999", "1", "²", "٣", "一", "要求3", "整改中"),
    *("已销号", "closed", "已取消", "@zhaoliu", "@x", "李四", "2023-08-31", "明天", "2月30日"),
    *("0001-01-01", "0001-01-01 00:00", "9999-12-31 23:59", "2023/8/31T10:00", "=1+1"),
    *("<b>x</b>", "x" * 1001),
]
CELL = st.one_of(
    st.none(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 12, 31)),
    st.dates(min_value=date(1900, 3, 1)),
    st.sampled_from(XLSX_VALUES),
    TYPED,
)


def _workbook(header: list[str], rows: list[list[Any]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    st.lists(st.sampled_from(HEADERS), min_size=0, max_size=12),
    st.lists(st.lists(CELL, max_size=11), max_size=4),
)
def test_workbooks_with_fuzzed_cells_read_or_list_row_errors(
    header: list[str], rows: list[list[Any]]
) -> None:
    check_read(_workbook(header, rows))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.lists(CELL, min_size=10, max_size=10), min_size=1, max_size=4))
@example([["", "问题", "²", "措施", "@zhaoliu", "2023-08-31", "", "", "", ""]])
@example([["", "问题", 3, "措施", "@zhaoliu", "2023-08-31", "", "已销号", "0001-01-01", ""]])
def test_full_rows_with_fuzzed_cells_read_or_list_row_errors(rows: list[list[Any]]) -> None:
    reordered = [[r[0], r[1], r[2], "", r[3], r[4], r[5], r[7], r[8], r[9]] for r in rows]
    check_read(_workbook(HEADERS, reordered))


def test_the_fuzz_alphabet_holds_the_tricky_digits() -> None:
    # Guard against someone "simplifying" the alphabet: these broke parsers once.
    tricky = [d for d in DIGITS if d.isdigit() and not d.isdecimal()]
    assert tricky and all(c in string.printable or not c.isascii() for c in tricky)


@pytest.mark.parametrize("zone", ["Asia", "America/Argentina", "Etc/" + "x" * 300, "Asia/../UTC"])
def test_a_bad_time_zone_in_the_config_names_the_key(zone: str) -> None:
    from bot.config import ConfigError, build_config

    with pytest.raises(ConfigError, match=r"^timezone: "):
        build_config({"timezone": zone}, env={})
