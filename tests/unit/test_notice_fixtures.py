"""Notices of other shapes (tests/data/notices/NAME.txt|html + NAME.expected.json)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bot.notices import ParsedNotice, parse_notice, to_simplified

DATA = Path(__file__).resolve().parents[1] / "data" / "notices"
FIXTURES = sorted(
    path
    for path in DATA.iterdir()
    if path.suffix in (".txt", ".html") and (DATA / f"{path.stem}.expected.json").exists()
)
FIELDS = (
    "title",
    "doc_number",
    "published",
    "issuer",
    "addressees",
    "sections",
    "points",
    "deadlines",
    "attachments",
    "removed",
    "summary",
)


@cache
def parsed(name: str) -> ParsedNotice:
    path = next(p for p in FIXTURES if p.stem == name)
    return parse_notice(path.read_bytes())


@cache
def expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.expected.json").read_text("utf-8"))
    return data


def test_there_are_enough_fixtures() -> None:
    assert len(FIXTURES) >= 8


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("name", [p.stem for p in FIXTURES])
def test_field(name: str, field: str) -> None:
    assert parsed(name).to_json_dict()[field] == expected(name)[field]


@pytest.mark.parametrize("name", [p.stem for p in FIXTURES])
def test_expected_files_have_every_field(name: str) -> None:
    assert list(expected(name)) == list(FIELDS)


# --- what each shape is there to show ------------------------------------------------


def test_gb18030_file_is_not_utf8() -> None:
    raw = (DATA / "gb18030.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert parsed("gb18030").title == "关于加强律师参与信访工作的通知"
    # a character outside GBK (four bytes in GB18030) survives in what was removed
    assert any("李𬀩" in line for line in parsed("gb18030").removed)


def test_traditional_comes_out_simplified() -> None:
    data = json.dumps(parsed("traditional").to_json_dict(), ensure_ascii=False)
    assert to_simplified(data) == data
    assert "「" not in data
    assert parsed("traditional").published is not None
    assert parsed("traditional").published.isoformat() == "2023-10-10"


def test_spam_inside_a_sentence_leaves_the_sentence_intact() -> None:
    notice = parsed("spam_inline")
    assert notice.sections[0].heading.startswith("各律所要认真组织学习,")
    assert "澳门赌场官网" in notice.removed
    assert "新葡京娱乐场入口" in notice.removed
    assert "太阳城集团" in notice.removed and "百家乐官网" in notice.removed
    # legitimate mentions of Macao stay
    assert "澳门特别行政区" in notice.sections[2].heading
    assert "粤港澳大湾区" in notice.summary
    text = json.dumps(notice.to_json_dict()["sections"], ensure_ascii=False)
    for spam in ("赌场", "官网", "新葡京", "太阳城", "百家乐"):
        assert spam not in text


def test_html_page_drops_navigation_and_keeps_escaped_text() -> None:
    notice = parsed("page")
    data = json.dumps(notice.to_json_dict(), ensure_ascii=False)
    for chrome in ("协会概况", "_hmt", "float:right", "document.write"):
        assert chrome not in data
    assert "执业年限<3年" in notice.sections[0].subsections[1].body
    assert "分享到:微信 微博 QQ空间" in notice.removed


def test_doc_number_variants_are_normalised() -> None:
    assert parsed("doc_number_top").doc_number == "某律发〔2023〕15号"


def test_body_on_one_line_is_split_into_sections() -> None:
    notice = parsed("one_line_body")
    assert [s.heading for s in notice.sections] == ["活动时间", "活动内容", "工作要求"]
    assert "特此通知" not in notice.sections[-1].body


def test_tongbao_points_are_its_inline_ordinals() -> None:
    notice = parsed("tongbao")
    assert notice.title.endswith("通报")
    assert [p.text for p in notice.points] == [
        "要严格执行利益冲突审查制度,切实做到“应审尽审”",
        "要严格执行统一收案、统一收费制度,严禁律师私自收案收费",
        "要加强对本所律师的日常管理和执业监督,发现问题及时纠正",
    ]


def test_numbered_list_is_the_points() -> None:
    notice = parsed("list_only")
    assert notice.sections == ()
    assert [p.ordinal for p in notice.points] == [1, 2, 3, 4]
    assert [d.date.isoformat() for d in notice.deadlines] == ["2024-03-31", "2024-04-15"]


def test_no_metadata_takes_date_and_issuer_from_the_signature() -> None:
    notice = parsed("no_metadata")
    assert notice.removed == ()
    assert notice.issuer == "某县司法局"
    assert notice.published is not None and notice.published.isoformat() == "2023-05-08"


def test_attachment_list_and_download_list_are_merged() -> None:
    assert parsed("attachments").attachments == (
        "2023年度实习人员集中培训报名表",
        "实习人员集中培训日程安排",
    )
