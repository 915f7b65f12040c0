"""The summary quotes whole sentences of the notice, in the notice's order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.notices import analyse, clean, decode_bytes, html_to_text, parse_notice, summarise
from bot.notices.parse import split_sentences
from bot.notices.summary import summarise_document
from bot.notices.text import looks_like_html

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "content" / "notices" / "000_62420782f47914ad.txt"
DATA = ROOT / "tests" / "data" / "notices"
NOTICES = [SEED, *sorted(p for p in DATA.iterdir() if p.suffix in (".txt", ".html"))]
NUM = "[一二三四五六七八九十]{1,3}"
LABEL = re.compile(rf"^(?:{NUM}、|[((]{NUM}[))])")
MARKER = re.compile(rf"{NUM}、|[((]{NUM}[))]|\d{{1,2}}[.、]")
BOUNDARY_BEFORE = set("。!?;!?、)):\n")


def notice_text(path: Path) -> str:
    text = decode_bytes(path.read_bytes())
    if looks_like_html(text):
        text = html_to_text(text)
    return "\n".join(clean(text).lines)


def assert_quotes_in_order(summary: str, source: str) -> None:
    cursor = 0
    for line in summary.split("\n"):
        if not line:
            continue
        line = LABEL.sub("", line)
        for sentence in split_sentences(line):
            found = source.find(sentence, cursor)
            assert found >= 0, f"not a sentence of the notice, or out of order: {sentence}"
            before = source[found - 1] if found else "\n"
            after_end = found + len(sentence)
            assert before in BOUNDARY_BEFORE, f"starts mid-sentence: {sentence}"
            assert (
                sentence[-1] in "。!?”"
                or after_end == len(source)
                or source[after_end] == "\n"
                or MARKER.match(source, after_end)
            ), f"ends mid-sentence: {sentence}"
            cursor = after_end


@pytest.mark.parametrize("path", NOTICES, ids=lambda p: p.name)
def test_summary_is_whole_sentences_in_order(path: Path) -> None:
    summary = parse_notice(path.read_bytes()).summary
    assert len(summary) <= 1000
    assert_quotes_in_order(summary, notice_text(path))


@pytest.mark.parametrize("budget", [200, 300, 450, 600])
def test_a_short_budget_drops_whole_items_and_keeps_points(budget: int) -> None:
    document = analyse(SEED.read_bytes())
    summary = summarise_document(document, max_chars=budget)
    assert len(summary) <= budget
    assert_quotes_in_order(summary, notice_text(SEED))
    assert summary.startswith(document.title)
    if budget >= 300:
        assert all(point.text in summary for point in document.points)
    # subsection headings go before points do
    if "一是" not in summary:
        assert "(一)" not in summary


def test_summarise_accepts_both_forms() -> None:
    parsed = parse_notice(SEED.read_bytes())
    assert summarise(parsed) == parsed.summary
    assert summarise(analyse(SEED.read_bytes())) == parsed.summary


def test_summary_has_no_ui_words() -> None:
    summary = parse_notice(SEED.read_bytes()).summary
    for label in ("要点", "发文", "对象", "时限"):
        assert label not in summary
