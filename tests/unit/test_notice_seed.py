"""The seed notice (Shenzhen, 2023-07-24), field by field."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from functools import lru_cache
from pathlib import Path

import pytest

from bot.notices import ParsedNotice, parse_notice

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "content" / "notices" / "000_62420782f47914ad.txt"

CHROME = (
    "您现在所处的位置",
    "发布时间",
    "责任编辑",
    "周山清",
    "附件下载",
    "Baidu",
    "map",
    "新澳门游戏网站入口",
    "澳门",
)


@lru_cache(maxsize=1)
def seed() -> ParsedNotice:
    return parse_notice(SEED.read_bytes())


def test_json_has_exactly_the_schema_keys() -> None:
    assert list(seed().to_json_dict()) == [
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
    ]
    assert [f.name for f in dataclasses.fields(ParsedNotice)] == list(seed().to_json_dict())


def test_parsed_notice_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        seed().title = "x"  # type: ignore[misc]


def test_title() -> None:
    assert seed().title == "关于深入学习贯彻司法部党组“做党和人民满意的好律师”座谈会精神的通知"


def test_published_from_metadata() -> None:
    assert seed().published == date(2023, 7, 24)
    assert seed().to_json_dict()["published"] == "2023-07-24"


def test_issuer_from_author_metadata() -> None:
    assert seed().issuer == "办公室"


def test_addressees() -> None:
    assert seed().addressees == "各律师事务所,各位律师实习人员"


def test_no_doc_number_deadlines_or_attachments() -> None:
    assert seed().doc_number is None
    assert seed().deadlines == ()
    assert seed().attachments == ()


def test_sections_with_the_lost_first_marker_inferred() -> None:
    sections = seed().sections
    assert [s.number for s in sections] == ["一", "二", "三"]
    assert sections[0].heading == "充分认识深入学习贯彻“做党和人民满意的好律师”座谈会精神的重大意义"
    assert sections[1].heading == (
        "将司法部党组“做党和人民满意的好律师”座谈会精神贯彻落实到我市律师行业高质量发展的全过程"
    )
    assert sections[2].heading == (
        "切实加强组织领导,确保司法部党组“做党和人民满意的好律师”座谈会精神落实"
    )


def test_section_bodies() -> None:
    first, second, third = seed().sections
    assert first.body.startswith("律师队伍是推进全面依法治国")
    assert "一是坚定正确政治方向" in first.body
    assert first.body.endswith("共同维护司法公正。")
    assert first.subsections == ()
    assert second.body.startswith("对标党和国家新要求")
    assert second.body.endswith("推动律师工作高质量发展。")
    assert third.body.startswith("各律师事务所要把学习司法部党组")
    # the intro before the sections belongs to no section
    assert all("2023630日上午" not in s.body for s in seed().sections)


def test_subsections() -> None:
    _, second, third = seed().sections
    assert [(s.number, s.heading) for s in second.subsections] == [
        (
            "一",
            "要把贯彻落实司法部党组做党和人民满意的好律师座谈会精神作为当前政治学习的重要内容,"
            "切实学深学透",
        ),
        ("二", "要大力创新方式方法,把学习不断推向深入"),
        ("三", "要做到边学边查边改,切实见到成效"),
    ]
    assert [(s.number, s.heading) for s in third.subsections] == [
        ("一", "要作出统筹安排"),
        ("二", "要广泛开展学习宣传活动"),
        ("三", "要坚持理论联系实际"),
    ]
    assert second.subsections[2].body.startswith("要按照坚定正确政治方向")
    assert second.subsections[2].body.endswith("更新整改台账")
    assert third.subsections[0].body.startswith("各律师事务所要制学习计划")


def test_the_five_points_in_order() -> None:
    assert [(p.ordinal, p.text) for p in seed().points] == [
        (1, "坚定正确政治方向,做“两拥护”从业基本要求的践行者"),
        (2, "弘扬爱国主义精神,做强国建设、民族复兴的奋斗者"),
        (3, "践行法治为民宗旨,做人民群众合法权益的维护者"),
        (4, "提升专业服务能力,做高质量发展的推动者"),
        (5, "依法诚信规范执业,做行业清风正气的守护者"),
    ]


def test_removed_lists_chrome_and_spam() -> None:
    assert seed().removed == (
        "您现在所处的位置:首页 > 通知公告",
        "发布时间:2023年7月24日 作者:办公室 责任编辑:周山清",
        "新澳门游戏网站入口",
        "附件下载",
        "Baidu",
        "map",
    )


@pytest.mark.parametrize("trace", CHROME)
def test_no_trace_of_chrome_in_content(trace: str) -> None:
    data = seed().to_json_dict()
    content = json.dumps(
        [data["title"], data["sections"], data["points"], data["summary"], data["addressees"]],
        ensure_ascii=False,
    )
    assert trace not in content


def test_summary_covers_who_what_points_and_actions() -> None:
    summary = seed().summary
    assert len(summary) <= 1000
    lines = summary.split("\n")
    assert lines[0] == seed().title
    assert lines[1] == "各律师事务所,各位律师实习人员"
    assert "现结合实际就有关事项通知如下" in summary
    for point in seed().points:
        assert point.text in summary
    for section in seed().sections:
        assert f"{section.number}、{section.heading}" in summary
        for sub in section.subsections:
            assert f"({sub.number}){sub.heading}" in summary


def test_text_and_gb18030_bytes_parse_alike() -> None:
    text = SEED.read_text(encoding="utf-8")
    assert parse_notice(text) == seed()
    assert parse_notice(text.encode("gb18030")) == seed()
