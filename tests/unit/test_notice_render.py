"""Telegram HTML of a notice and splitting it into messages (visible characters count)."""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.htmltext import visible_length
from bot.notices import (
    LABEL_KEYS,
    Deadline,
    ParsedNotice,
    Point,
    Section,
    Subsection,
    default_labels,
    parse_notice,
    render_summary_html,
    split_message,
)

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "content" / "notices" / "000_62420782f47914ad.txt"
PAGE = ROOT / "tests" / "data" / "notices" / "page.html"
EN_LABELS = {
    "issuer": "Issued by",
    "published": "Date",
    "doc_number": "Ref",
    "addressees": "To",
    "points": "Points",
    "actions": "Actions",
    "deadlines": "Deadlines",
    "attachments": "Attachments",
    "separator": ": ",
}
TAG = re.compile(r"<(/?)([a-z\-]+)[^<>]*>")


def balanced(part: str) -> bool:
    """Every tag closed in order, no stray < or > and no cut entity."""
    stack: list[str] = []
    for match in TAG.finditer(part):
        if match.group(1):
            if not stack or stack.pop() != match.group(2):
                return False
        else:
            stack.append(match.group(2))
    bare = TAG.sub("", part)
    if "<" in bare or ">" in bare:
        return False
    if re.search(r"&(?!(?:amp|lt|gt|quot|#\d+|#x[0-9a-f]+);)", bare):
        return False
    return not stack


def notice_with(text: str) -> ParsedNotice:
    return ParsedNotice(
        title=f"关于{text}的通知",
        doc_number=f"某律发〔2023〕1号{text}",
        published=date(2023, 7, 24),
        issuer=f"某市律师协会{text}",
        addressees=f"各律师事务所{text}",
        sections=(Section("一", f"标题{text}", "正文", (Subsection("一", f"小标题{text}", ""),)),),
        points=(Point(1, f"要点{text}"),),
        deadlines=(Deadline(date(2023, 8, 15), f"请于8月15日前报送{text}"),),
        attachments=(f"附件{text}.docx",),
        removed=(),
        summary=f"关于{text}的通知\n\n为{text},现通知如下:\n\n一、标题{text}",
    )


def test_render_seed() -> None:
    parsed = parse_notice(SEED.read_bytes())
    out = render_summary_html(parsed, default_labels())
    assert out.startswith(f"<b>{parsed.title}</b>\n")
    assert "发文:办公室" in out and "日期:2023-07-24" in out
    assert "对象:各律师事务所,各位律师实习人员" in out
    assert "<b>要点</b>\n1. 坚定正确政治方向,做“两拥护”从业基本要求的践行者\n2. " in out
    assert "5. 依法诚信规范执业,做行业清风正气的守护者" in out
    assert "现结合实际就有关事项通知如下" in out
    assert "一、充分认识深入学习贯彻" in out and "(三)要坚持理论联系实际" in out
    assert balanced(out)
    assert len(out) < 4096


@pytest.mark.parametrize("nasty", ["<b>&amp;", "A<B & C>D", "</b><i>", "&lt;"])
def test_every_piece_of_notice_text_is_escaped(nasty: str) -> None:
    out = render_summary_html(notice_with(nasty), default_labels())
    escaped = html.escape(nasty, quote=False)
    assert balanced(out)
    assert out.count(escaped) >= 8
    assert nasty not in out or nasty == escaped


def test_html_entities_from_the_page_are_escaped_again() -> None:
    out = render_summary_html(parse_notice(PAGE.read_bytes()), default_labels())
    assert "<3" not in out
    assert balanced(out)


def test_labels_come_from_the_caller() -> None:
    out = render_summary_html(parse_notice(SEED.read_bytes()), EN_LABELS)
    assert "<b>Points</b>" in out and "Issued by: 办公室" in out
    assert "要点" not in out and "发文" not in out
    with pytest.raises(KeyError, match="points"):
        render_summary_html(notice_with("x"), {k: v for k, v in EN_LABELS.items() if k != "points"})
    assert set(default_labels()) >= set(LABEL_KEYS)


def test_split_short_message_is_one_part() -> None:
    assert split_message("<b>短</b>") == ["<b>短</b>"]
    assert split_message("") == [""]


def test_split_prefers_paragraphs_then_lines() -> None:
    text = "a" * 30 + "\n\n" + "b" * 30 + "\n" + "c" * 30
    assert split_message(text, limit=70) == ["a" * 30 + "\n\n", "b" * 30 + "\n" + "c" * 30]
    assert split_message("b" * 30 + "\n" + "c" * 30, limit=40) == ["b" * 30 + "\n", "c" * 30]


def test_split_never_cuts_a_tag_or_entity() -> None:
    text = "<b>" + "甲" * 10 + "</b>" + "&amp;" * 10 + '<a href="https://example.org/x">链接</a>'
    assert split_message(text, limit=22) == [text]  # 22 visible characters
    for limit in range(10, 22):
        parts = split_message(text, limit=limit)
        assert len(parts) > 1
        assert "".join(parts) == text
        assert all(visible_length(p) <= limit and balanced(p) for p in parts)


def test_split_a_tag_longer_than_the_limit_closes_and_reopens_it() -> None:
    text = "<b>" + "字" * 100 + "</b>"
    parts = split_message(text, limit=40)
    assert parts[0] == "<b>" + "字" * 40 + "</b>"
    assert all(visible_length(p) <= 40 and balanced(p) for p in parts)
    assert "".join(TAG.sub("", p) for p in parts) == "字" * 100


def test_split_counts_what_telegram_shows_not_the_markup() -> None:
    text = "<b>标题</b>\n\n" + "&lt;依法&gt;" * 1000  # 4004 visible, about 10,000 in markup
    assert split_message(text) == [text]
    parts = split_message(text + "\n\n" + "<i>附</i>" * 100)
    assert parts == [text + "\n\n", "<i>附</i>" * 100]


def test_split_long_rendered_notice() -> None:
    parsed = parse_notice(SEED.read_bytes())
    out = render_summary_html(parsed, default_labels())
    long = "\n\n".join([out] * 12)
    parts = split_message(long)
    assert len(parts) > 1
    assert "".join(parts) == long
    assert all(visible_length(p) <= 4096 and balanced(p) for p in parts)
    assert all(p.endswith("\n\n") for p in parts[:-1])


PIECES = st.sampled_from(
    [
        "律师",
        "事务所",
        "。",
        "\n",
        "\n\n",
        "&amp;",
        "&lt;",
        "<b>加粗</b>",
        "<i>斜体</i>",
        '<a href="https://example.org/?a=1&amp;b=2">链接</a>',
        " ",
        "x",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(PIECES, max_size=80), st.integers(min_value=60, max_value=200))
def test_split_properties(pieces: list[str], limit: int) -> None:
    text = "".join(pieces)
    parts = split_message(text, limit=limit)
    assert "".join(parts) == text
    assert all(visible_length(p) <= limit for p in parts)
    assert all(balanced(p) for p in parts)
