"""Bytes to text, HTML to text, and the per-line normalisation every later step relies on."""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from html.parser import HTMLParser

import charset_normalizer
import opencc

from bot.content.grammar import char_class, grammar

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
"""Character-class body of the CJK ideographs."""

CJK_PUNCT = "“”‘’《》〈〉()【】〔〕、。,:;!?…—"
_CJK_CONTEXT = re.compile(f"[{CJK}{CJK_PUNCT}]")
_HAS_CJK = re.compile(f"[{CJK}]")

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"\x84\x31\x95\x33", "gb18030"),
)
_DECLARED = re.compile(rb"""(?:charset|encoding)\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.IGNORECASE)
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "cp936", "x-gbk", "gb_2312-80", "euc-cn", "hz-gb-2312"}


def decode_bytes(data: bytes) -> str:
    """Decode a scraped file: BOM first, then UTF-8, the declared charset, GB18030.

    UTF-8 with a few broken bytes (a truncated download) stays UTF-8; text that
    is neither UTF-8 nor GB18030 is left to charset detection.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    loose = data.decode("utf-8", errors="replace")
    if loose.count("\ufffd") <= 2 + len(data) // 2000:
        return loose
    declared = _declared_charset(data)
    if declared is not None and declared not in _GB_FAMILY:
        try:
            return data.decode(declared)
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    if best is not None:
        return str(best)
    return data.decode("gb18030", errors="replace")


def _declared_charset(data: bytes) -> str | None:
    match = _DECLARED.search(data[:4096])
    if match is None:
        return None
    name = match.group(1).decode("ascii").lower()
    try:
        return codecs.lookup(name).name if name not in _GB_FAMILY else name
    except LookupError:
        return None


# --- HTML ---------------------------------------------------------------------

_SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "head",
        "title",
        "nav",
        "aside",
        "iframe",
        "svg",
        "canvas",
        "object",
        "button",
        "select",
        "textarea",
        "map",
    }
)
_SKIP_CLASS_TOKENS = frozenset({"nav", "navbar", "menu", "mainmenu", "topmenu", "sidebar"})
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "tr",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "blockquote",
        "pre",
        "hr",
        "title",
        "form",
        "center",
        "address",
        "figure",
        "figcaption",
        "caption",
        "body",
        "html",
    }
)
_CELL_TAGS = frozenset({"td", "th"})
_PARAGRAPH = "\x00P"
_LINEBREAK = "\x00L"
_CLASS_SPLIT = re.compile(r"[\s_\-]+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_tag: str | None = None
        self._skip_depth = 0

    def _skips(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if tag in _SKIP_TAGS:
            return True
        for name, value in attrs:
            if name in ("class", "id") and value:
                tokens = {t.lower() for t in _CLASS_SPLIT.split(value) if t}
                if tokens & _SKIP_CLASS_TOKENS:
                    return True
        return False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth += 1
            return
        if tag not in _VOID_TAGS and self._skips(tag, attrs):
            self._skip_tag, self._skip_depth = tag, 1
            return
        if tag == "br":
            self.parts.append(_LINEBREAK)
        elif tag in _BLOCK_TAGS:
            self.parts.append(_PARAGRAPH)
        elif tag in _CELL_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is None and tag == "br":
            self.parts.append(_LINEBREAK)
        elif self._skip_tag is None and tag in _BLOCK_TAGS:
            self.parts.append(_PARAGRAPH)

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag in _BLOCK_TAGS:
            self.parts.append(_PARAGRAPH)
        elif tag in _CELL_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if self._skip_tag is None:
            self.parts.append(data)


_SOURCE_BREAK_BETWEEN_CJK = re.compile(
    f"(?<=[{CJK}{CJK_PUNCT}])[ \t\r\f\v]*\n\\s*(?=[{CJK}{CJK_PUNCT}])"
)
_WHITESPACE_RUN = re.compile(r"[ \t\r\n\f\v]+")


def html_to_text(html: str) -> str:
    """The visible text of an HTML page, one block per paragraph (blank-line separated).

    ``<br>`` gives a line break; script, style, head, nav, aside and menus are dropped.
    """
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    raw = "".join(extractor.parts)
    # A line break in the page's source between two Chinese characters is no space.
    raw = _SOURCE_BREAK_BETWEEN_CJK.sub("", raw)
    raw = _WHITESPACE_RUN.sub(" ", raw)
    paragraphs: list[str] = []
    for block in raw.split(_PARAGRAPH):
        lines = [line.strip() for line in block.split(_LINEBREAK)]
        text = "\n".join(line for line in lines if line)
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs)


_HTML_HINT = re.compile(
    r"<(?:!doctype|html|body|head|div|p|br|span|table|h[1-6]|article|section)\b", re.IGNORECASE
)


def looks_like_html(text: str) -> bool:
    """True when the text is an HTML page or fragment rather than plain text."""
    return _HTML_HINT.search(text[:5000]) is not None


# --- normalisation --------------------------------------------------------------

_CHAR_MAP: dict[int, str | None] = {
    **{cp: chr(cp - 0xFEE0) for cp in range(0xFF10, 0xFF1A)},  # full-width digits
    **{cp: chr(cp - 0xFEE0) for cp in range(0xFF21, 0xFF3B)},  # full-width A-Z
    **{cp: chr(cp - 0xFEE0) for cp in range(0xFF41, 0xFF5B)},  # full-width a-z
    0xFF0E: ".",
    0xFF0D: "-",
    0xFF0F: "/",
    0xFF05: "%",
    0xFF0B: "+",
    0xFF1D: "=",
    0xFF3B: "［",
    0xFF3D: "］",
    0x300C: "“",
    0x300D: "”",
    0x300E: "‘",
    0x300F: "’",
    0xFE5D: "〔",
    0xFE5E: "〕",
    0x2236: ":",  # ratio sign used as a colon
    0xFE30: ":",
    0x3000: " ",
    0x00A0: " ",
    0x202F: " ",
    0x205F: " ",
    **{cp: " " for cp in range(0x2002, 0x200B)},
    0x200B: None,
    0x200C: None,
    0x200D: None,
    0x2060: None,
    0xFEFF: None,
    0x00AD: None,
    0x0009: " ",
}

_ASCII_PUNCT = re.compile(r"\s*([,:;?!])\s*")
_FULL = {",": ",", ":": ":", ";": ";", "?": "?", "!": "!"}
_PARENS = re.compile(r"\(([^()]{0,60})\)")
_PERIOD = re.compile(f"(?<=[{CJK}”’)》])\\.(?=\\s|$|[{CJK}“‘(《])")
_MARKER_DOT = re.compile(
    rf"^([{char_class(grammar().numerals.counting)}]{{1,3}})\s*[.．,,]\s*(?=\S)"
)
_SPACES = re.compile(r" {2,}")
_SPACE_NEAR_PUNCT = re.compile(f"\\s*([{CJK_PUNCT}])\\s*")
_SPACED_OUT = re.compile(f"^[{CJK}](?: {{1,3}}[{CJK}])+$")
_QUOTES = re.compile(r'"([^"]*)"')


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s.json")


def to_simplified(text: str) -> str:
    """Traditional to simplified characters (OpenCC ``t2s``); simplified text is unchanged."""
    return _t2s().convert(text) if _HAS_CJK.search(text) else text


def normalise_line(line: str) -> str:
    """One line in the form the parser reads and the output shows.

    Simplified characters, ASCII digits and letters, full-width Chinese
    punctuation (an ASCII comma or colon next to Chinese text becomes , :),
    “” quotes, single spaces, no zero-width characters.
    """
    text = line.translate(_CHAR_MAP).strip()
    if not text:
        return ""
    text = to_simplified(text)
    if _HAS_CJK.search(text):
        text = _QUOTES.sub(lambda m: f"“{m.group(1)}”", text) if text.count('"') % 2 == 0 else text
        text = _MARKER_DOT.sub(lambda m: f"{m.group(1)}、", text)
        text = _ASCII_PUNCT.sub(_full_punct, text)
        text = _PARENS.sub(_full_parens, text)
        text = _PERIOD.sub("。", text)
        text = _SPACE_NEAR_PUNCT.sub(r"\1", text)
    text = _SPACES.sub(" ", text).strip()
    if _SPACED_OUT.match(text):
        text = text.replace(" ", "")
    return text


def _full_punct(match: re.Match[str]) -> str:
    mark, text = match.group(1), match.string
    before = text[: match.start()].rstrip()[-1:]
    after = text[match.end() :].lstrip()[:1]
    near_chinese = _CJK_CONTEXT.match(before or " ") or _CJK_CONTEXT.match(after or " ")
    if (before.isdigit() and after.isdigit()) or not near_chinese:
        return match.group(0)
    if mark in "?!" and not _CJK_CONTEXT.match(before or " "):
        return match.group(0)
    return _FULL[mark]


def _full_parens(match: re.Match[str]) -> str:
    inner = match.group(1)
    string = match.string
    before = string[: match.start()][-1:]
    after = string[match.end() :][:1]
    if _HAS_CJK.search(inner) or _HAS_CJK.match(before or " ") or _HAS_CJK.match(after or " "):
        return f"({inner})"
    return match.group(0)
