"""Telegram HTML parsing and entity detection in the emulator (pure functions)."""

from __future__ import annotations

import pytest

from bot.sandbox.emu_html import (
    HtmlParseError,
    detect_entities,
    entity_text,
    parse_html,
    strip_text,
    utf16_len,
)


def _spans(text: str, entities: list[dict[str, object]]) -> list[tuple[str, str]]:
    return [(str(e["type"]), entity_text(text, e)) for e in entities]


def test_utf16_length_counts_astral_characters_twice() -> None:
    assert utf16_len("律师") == 2
    assert utf16_len("😀") == 2
    assert utf16_len("a😀b") == 4


def test_nested_tags_and_offsets_after_emoji_and_chinese() -> None:
    text, ents = parse_html("😀 <b>学习<i>心得</i></b> 🎉<u>x</u>")
    assert text == "😀 学习心得 🎉x"
    assert ents == [
        {"type": "bold", "offset": 3, "length": 4},
        {"type": "italic", "offset": 5, "length": 2},
        {"type": "underline", "offset": 10, "length": 1},
    ]
    assert _spans(text, ents) == [("bold", "学习心得"), ("italic", "心得"), ("underline", "x")]


@pytest.mark.parametrize(
    ("tag", "kind"),
    [
        ("b", "bold"),
        ("strong", "bold"),
        ("i", "italic"),
        ("em", "italic"),
        ("u", "underline"),
        ("ins", "underline"),
        ("s", "strikethrough"),
        ("strike", "strikethrough"),
        ("del", "strikethrough"),
        ("tg-spoiler", "spoiler"),
        ("code", "code"),
        ("pre", "pre"),
        ("blockquote", "blockquote"),
    ],
)
def test_every_simple_tag(tag: str, kind: str) -> None:
    text, ents = parse_html(f"<{tag}>x</{tag}>")
    assert text == "x"
    assert ents == [{"type": kind, "offset": 0, "length": 1}]


def test_attribute_tags() -> None:
    src = (
        '<a href="https://example.com/?a=1&amp;b=2">链接</a> '
        '<span class="tg-spoiler">秘</span> '
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> '
        "<blockquote expandable>引用</blockquote> "
        '<pre><code class="language-python">print(1)</code></pre>'
    )
    text, ents = parse_html(src)
    assert text == "链接 秘 👍 引用 print(1)"
    assert ents[0] == {
        "type": "text_link",
        "offset": 0,
        "length": 2,
        "url": "https://example.com/?a=1&b=2",
    }
    assert ents[1]["type"] == "spoiler"
    assert ents[2]["type"] == "custom_emoji"
    assert ents[2]["custom_emoji_id"] == "5368324170671202286"
    assert ents[3]["type"] == "expandable_blockquote"
    assert ents[4] == {"type": "pre", "offset": 11, "length": 8, "language": "python"}


def test_user_links_become_text_mentions_for_known_users() -> None:
    known = {"id": 7, "is_bot": False, "first_name": "王"}
    _, ents = parse_html(
        '<a href="tg://user?id=7">王</a> <a href="tg://user?id=8">?</a>',
        resolve_user=lambda uid: known if uid == 7 else None,
    )
    assert ents[0] == {"type": "text_mention", "offset": 0, "length": 1, "user": known}
    assert ents[1] == {"type": "text_link", "offset": 2, "length": 1, "url": "tg://user?id=8"}


def test_html_entities_decode() -> None:
    text, ents = parse_html("&lt;b&gt; &amp; &quot;x&quot; &#20320;&#x597D; &#128512;")
    assert text == '<b> & "x" 你好 😀'
    assert ents == []


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("<p>段落</p>", 'Unsupported start tag "p"'),
        ("<b>未闭合", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag"),
        ("<b", "Unclosed start tag"),
        ('<a href="x>y</a>', "Unclosed start tag"),
        ("AT&T", 'unescaped "&" at byte offset 2'),
        ("&nbsp;", "at byte offset 0"),
        ("<span>x</span>", 'must have class "tg-spoiler"'),
        ("<tg-emoji>x</tg-emoji>", 'must have attribute "emoji-id"'),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "can't be nested"),
        ("律<b/>", "self-closing"),
    ],
)
def test_malformed_html_is_rejected(src: str, message: str) -> None:
    with pytest.raises(HtmlParseError, match=None) as info:
        parse_html(src)
    assert message in str(info.value)


def test_byte_offsets_count_utf8_bytes() -> None:
    with pytest.raises(HtmlParseError) as info:
        parse_html("律师<x>")
    assert "byte offset 6" in str(info.value)


def test_lenient_ampersand_mode_keeps_literal_ampersand() -> None:
    assert parse_html("AT&T", strict_ampersand=False) == ("AT&T", [])


def test_tags_are_case_insensitive() -> None:
    assert parse_html("<B>x</b>") == ("x", [{"type": "bold", "offset": 0, "length": 1}])


def test_strip_text_trims_whitespace_and_shifts_entities() -> None:
    text, ents = parse_html("\n  <b> 加粗 </b>\n\n")
    text, ents = strip_text(text, ents)
    assert text == "加粗"
    assert ents == [{"type": "bold", "offset": 0, "length": 2}]


def test_detect_commands_mentions_links_hashtags() -> None:
    text = "/help@firmbot_test_bot 请 @wang_wei 看 https://example.com/a. #学习 和 /start"
    found = _spans(text, detect_entities(text))
    assert ("bot_command", "/help@firmbot_test_bot") in found
    assert ("bot_command", "/start") in found
    assert ("mention", "@wang_wei") in found
    assert ("url", "https://example.com/a") in found
    assert ("hashtag", "#学习") in found


def test_detection_skips_code_and_links() -> None:
    text = "/help and /quiz"
    existing = [{"type": "code", "offset": 0, "length": 5}]
    assert _spans(text, detect_entities(text, existing)) == [("bot_command", "/quiz")]
