"""Parser behaviour on small notices written inline, and input it must survive."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.notices import (
    clean,
    default_labels,
    normalise_doc_number,
    parse_notice,
    render_summary_html,
    split_message,
)


def notice(body: str, *, date_line: str = "2023年12月8日") -> str:
    head = "关于做好有关工作的通知\n\n各律师事务所:\n\n"
    return f"{head}{body}\n\n特此通知。\n\n某市律师协会\n{date_line}\n"


def test_missing_year_of_a_deadline_rolls_into_next_year() -> None:
    parsed = parse_notice(notice("一、请于1月10日前报送年度总结。\n二、请于12月20日前完成自查。"))
    assert [(d.date, d.text) for d in parsed.deadlines] == [
        (date(2024, 1, 10), "请于1月10日前报送年度总结"),
        (date(2023, 12, 20), "请于12月20日前完成自查"),
    ]


def test_dates_that_are_not_deadlines() -> None:
    parsed = parse_notice(
        notice(
            "截至2023年6月底,全市共有律师1.2万名。会议于12月1日前后召开。"
            "2023年11月30日上午,协会召开理事会。请各律所于12月15日(星期五)下午5时前报送名单。"
        )
    )
    assert [d.date for d in parsed.deadlines] == [date(2023, 12, 15)]


def test_month_end_deadline() -> None:
    parsed = parse_notice(notice("各律师事务所要于12月底前完成整改。"))
    assert parsed.deadlines[0].date == date(2023, 12, 31)


def test_signature_without_closing_and_issuer_on_the_date_line() -> None:
    parsed = parse_notice("关于某事的通知\n各律师事务所:\n请认真落实。\n某市司法局 2023年3月1日")
    assert parsed.issuer == "某市司法局"
    assert parsed.published == date(2023, 3, 1)


def test_last_body_line_is_not_taken_for_the_issuer() -> None:
    parsed = parse_notice("关于某事的通知\n各律师事务所:\n请认真落实。\n请遵照执行\n2023年3月1日")
    assert parsed.issuer is None
    assert parsed.published == date(2023, 3, 1)


def test_anti_gambling_notice_is_not_spam() -> None:
    text = notice(
        "一、严厉打击赌场、棋牌室违法经营。\n二、律师不得参与境外澳门赌场网站的推广活动。"
    )
    parsed = parse_notice(text)
    assert parsed.removed == ()
    assert parsed.sections[0].heading == "严厉打击赌场、棋牌室违法经营"
    assert "澳门赌场网站" in parsed.sections[1].heading


def test_multi_line_title_is_joined() -> None:
    parsed = parse_notice("关于印发《律师事务所管理指引》的\n通知\n各律师事务所:\n现印发给你们。")
    assert parsed.title == "关于印发《律师事务所管理指引》的通知"


def test_doc_number_variants() -> None:
    for text in (
        "合律协〔2018〕12号",
        "合律协[2018]12号",
        "合律协(2018)12号",
        "合律协(2018)12号",
        "合律协﹝2018﹞12号",
        "合律协 [ 2018 ] 12 号",
    ):
        assert normalise_doc_number(text) == "合律协〔2018〕12号", text


def test_metadata_doc_number() -> None:
    parsed = parse_notice(
        "关于某事的通知\n文号:某律发[2022]3号 发布日期:2022-05-06\n各律所:\n请落实。"
    )
    assert parsed.doc_number == "某律发〔2022〕3号"
    assert parsed.published == date(2022, 5, 6)


def test_points_from_a_circled_list() -> None:
    parsed = parse_notice(notice("具体要求如下:\n①要按时报送材料。\n②要认真组织学习。"))
    assert [p.text for p in parsed.points] == ["要按时报送材料", "要认真组织学习"]


def test_empty_and_chrome_only_input() -> None:
    assert parse_notice(b"").title == ""
    parsed = parse_notice("Baidu\nmap\n1 共1页")
    assert parsed.title == ""
    assert parsed.removed == ("Baidu", "map", "1 共1页")
    assert clean("").lines == ()


ALPHABET = st.sampled_from(
    [
        *"关于通知各律师事务所一二三是、。,:;()()1234567890年月日前\n 附件下载特此",
        *["一、", "(一)", "1.", "一是", "2023年7月24日", "澳门赌场官网", "<p>", "</p>", "&amp;"],
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(ALPHABET, max_size=120))
def test_any_text_parses_and_renders(pieces: list[str]) -> None:
    text = "".join(pieces)
    parsed = parse_notice(text)
    assert len(parsed.summary) <= 1000 or len(parsed.title) + len(parsed.addressees or "") > 900
    html = render_summary_html(parsed, default_labels())
    assert "".join(split_message(html, limit=200)) == html


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_parse(data: bytes) -> None:
    parse_notice(data)
