"""Decoding, HTML to text, normalisation and cleaning."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from bot.content.errors import ContentError
from bot.notices import (
    clean,
    decode_bytes,
    html_to_text,
    load_patterns,
    normalise_line,
    parse_notice,
)
from bot.notices.patterns import default_patterns_path

TEXT = "关于做好律师年度考核工作的通知\n各律师事务所:请于2023年8月15日前报送。"


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-8"),
        codecs.BOM_UTF8 + TEXT.encode("utf-8"),
        codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
        TEXT.encode("gb18030"),
        TEXT.encode("gbk"),
    ],
)
def test_decode_bytes(data: bytes) -> None:
    assert decode_bytes(data) == TEXT


def test_truncated_utf8_stays_utf8() -> None:
    data = TEXT.encode("utf-8")[:-1]
    assert decode_bytes(data).startswith("关于做好律师年度考核工作的通知")


def test_declared_charset_of_a_page() -> None:
    page = '<html><head><meta charset="gb2312"></head><body><p>各律师事务所</p></body></html>'
    assert "各律师事务所" in decode_bytes(page.encode("gb18030"))


def test_big5_page_declaring_its_charset() -> None:
    page = (
        '<html><head><meta charset="big5"><title>律師</title></head><body>'
        "<h1>關於開展培訓的通知</h1><p>各律師事務所:</p><p>請按時參加。</p>"
    )
    assert "各律師事務所" in decode_bytes(page.encode("big5"))
    parsed = parse_notice(page.encode("big5"))
    assert (parsed.title, parsed.addressees) == ("关于开展培训的通知", "各律师事务所")


def test_html_title_element_is_not_content() -> None:
    assert html_to_text("<title>通知_某协会</title><h1>关于某事的通知</h1>") == "关于某事的通知"


def test_html_to_text_keeps_paragraphs_and_drops_scripts() -> None:
    page = (
        "<html><head><title>t</title><style>p{}</style></head><body>"
        "<nav><a>首页</a></nav><div class='menu'><a>协会概况</a></div>"
        "<script>var a = '<p>x</p>';</script>"
        "<h1>关于开展培训的通知</h1><p>各律师事务所:</p>"
        "<p>为提高执业能力,\n  现就有关事项通知如下:</p>"
        "<p>某市律师协会<br>2023年8月1日</p><p>A &amp; B &lt;3</p></body></html>"
    )
    assert html_to_text(page) == (
        "关于开展培训的通知\n\n各律师事务所:\n\n为提高执业能力,现就有关事项通知如下:"
        "\n\n某市律师协会\n2023年8月1日\n\nA & B <3"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("各律师事务所, 各位律师:", "各律师事务所,各位律师:"),
        ('开展"两个维护"学习. 现通知如下', "开展“两个维护”学习。现通知如下"),
        ("(一) 加强组织领导", "(一)加强组织领导"),
        ("一. 学习内容", "一、学习内容"),
        ("關於開展「律師」培訓", "关于开展“律师”培训"),
        ("\xa0\xa0律师事务所３.９万多家\u200b", "律师事务所3.9万多家"),
        ("时间: 2023-07-24 10:30", "时间:2023-07-24 10:30"),
        ("特 此 通 知", "特此通知"),
        ("Baidu, map", "Baidu, map"),
    ],
)
def test_normalise_line(raw: str, expected: str) -> None:
    assert normalise_line(raw) == expected


def test_clean_removes_spam_fragments_and_keeps_the_sentence() -> None:
    result = clean("各律所要认真澳门赌场官网组织学习。\n澳门特别行政区律师协会来访。")
    assert result.lines == ("各律所要认真组织学习。", "澳门特别行政区律师协会来访。")
    assert result.removed == ("澳门赌场官网",)


def test_clean_reads_metadata() -> None:
    result = clean("标题\n发布时间:2023-07-24 来源:本站 作者:秘书处 点击数:12\n正文内容。")
    assert result.lines == ("标题", "正文内容。")
    assert result.metadata == {
        "date": "2023-07-24",
        "source": "本站",
        "author": "秘书处",
        "views": "12",
    }


def test_weak_metadata_key_inside_the_body_is_content() -> None:
    text = (
        "关于召开会议的通知\n各律师事务所:\n会议定于下周召开。\n"
        "时间:2023年8月15日上午9时\n请准时参加。"
    )
    assert "时间:2023年8月15日上午9时" in clean(text).lines


def test_attachment_heading_with_files_is_kept() -> None:
    text = "正文。\n附件下载:\n报名表.docx\nBaidu"
    assert clean(text).lines == ("正文。", "附件下载:", "报名表.docx")
    assert clean("正文。\n附件下载\nBaidu").lines == ("正文。",)


def test_patterns_file_loads_and_broken_one_is_named(tmp_path: Path) -> None:
    assert load_patterns(default_patterns_path()).labels["points"]
    broken = tmp_path / "patterns.yaml"
    text = default_patterns_path().read_text("utf-8")
    broken.write_text(text.replace("closing_regex: '", "closing_regex: '(("), encoding="utf-8")
    with pytest.raises(ContentError, match="closing_regex"):
        load_patterns(broken)
