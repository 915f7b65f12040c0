"""Pure parts of storing and delivering notices: charsets, the stored form, sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content.paths import default_content_dir
from bot.db.models.notices import Notice
from bot.htmltext import split_html, visible_length
from bot.notices import delivery, parse_notice, store
from bot.texts import Texts

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "content" / "notices" / "000_62420782f47914ad.txt"
DATA = ROOT / "tests" / "data" / "notices"
NOTICES = [SEED, *sorted(p for p in DATA.iterdir() if p.suffix in (".txt", ".html"))]


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts.load(default_content_dir() / "locales")


def stored(path: Path, notice_id: int = 1) -> Notice:
    read = store.read_notice(path.read_bytes())
    return Notice(
        id=notice_id, title=read.parsed.title, parsed=read.parsed.to_json_dict(), text=read.text
    )


@pytest.mark.parametrize("path", NOTICES, ids=lambda p: p.name)
def test_the_stored_json_gives_the_parsed_notice_back(path: Path) -> None:
    assert store.parsed_of(stored(path)) == parse_notice(path.read_bytes())


def test_a_declared_gb_charset_is_trusted_a_latin_one_is_not() -> None:
    text = SEED.read_text("utf-8")
    gbk = text.encode("gb18030")
    assert store.decode_document(gbk, "gb2312") == text
    assert store.decode_document(gbk, "GBK") == text
    assert store.decode_document(gbk, "iso-8859-1") == text  # detection, not mojibake
    assert store.decode_document(text.encode("utf-8"), "utf-8") == text
    assert store.decode_document(gbk, "utf-8") == text  # a wrong header: detection again
    assert store.decode_document(gbk, "no-such-charset") == text


def test_the_same_notice_in_another_encoding_or_page_hashes_the_same() -> None:
    text = SEED.read_text("utf-8")
    utf8 = store.read_notice(text.encode("utf-8"))
    gbk = store.read_notice(text.encode("gb18030"))
    assert utf8.content_hash == gbk.content_hash
    assert store.read_notice(text + "\n\n补充说明。").content_hash != utf8.content_hash


def test_sections_in_full_fit_telegram_and_escape_the_notice(texts: Texts) -> None:
    notice = stored(SEED)
    for number in (1, 2, 3):
        html = delivery.section_html(notice, number, texts, "zh_CN")
        assert html is not None
        assert all(visible_length(part) <= 4096 for part in split_html(html))
    assert delivery.section_html(notice, 4, texts, "zh_CN") is None
    full = delivery.section_html(notice, 0, texts, "zh_CN")
    assert full is not None and "特此通知" in full
    risky = Notice(id=2, title="<b>&", parsed={"title": "<b>&", "sections": []}, text="a<b>&c")
    html = delivery.section_html(risky, 0, texts, "zh_CN")
    assert html is not None and "&lt;b&gt;&amp;" in html and "a&lt;b&gt;&amp;c" in html


def test_summary_payload_buttons_are_callback_data_within_telegrams_limit(texts: Texts) -> None:
    payload = delivery.summary_payload(stored(SEED, notice_id=123456), texts, "zh_CN")
    datas = [b["data"] for row in payload["buttons"] for b in row]
    assert datas == ["notice:sec:123456:1", "notice:sec:123456:2", "notice:sec:123456:3"]
    assert delivery.parse_section_data(["123456", "2"]) == (123456, 2)
    assert delivery.parse_section_data(["x", "2"]) is None
    assert payload["text"].endswith("</i>") and "通知 123456" in payload["text"]
