"""Regenerate content/fonts/wqy-microhei-gb2312.ttf (the CJK font charts are drawn with).

The shipped file is WenQuanYi Micro Hei (Apache-2.0, see content/fonts/LICENSE.txt) cut
down to ASCII, common punctuation and the 7,445 characters of GB 2312, so a chart shows
Chinese labels on a machine with no CJK font installed, at a quarter of the full 5 MB.
Needs fontTools and the Debian package fonts-wqy-microhei:

    pip install fonttools && python scripts/make_font_subset.py
"""

from __future__ import annotations

from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

SOURCE = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
TARGET = Path(__file__).resolve().parent.parent / "content" / "fonts" / "wqy-microhei-gb2312.ttf"


def gb2312() -> str:
    chars = {chr(c) for c in range(0x20, 0x7F)}
    # General punctuation (— … ‘’ “”), CJK symbols, full-width forms.
    for first, last in ((0x2010, 0x2027), (0x3000, 0x303F), (0xFF01, 0xFF5E)):
        chars.update(chr(c) for c in range(first, last + 1))
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(sorted(chars))


def main() -> None:
    font = TTCollection(str(SOURCE)).fonts[0]
    options = subset.Options()
    options.hinting = False
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=gb2312())
    subsetter.subset(font)
    font.save(str(TARGET))
    print(f"{TARGET}: {TARGET.stat().st_size} bytes")


if __name__ == "__main__":
    main()
