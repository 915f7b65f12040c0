"""The message catalog: every key used in code exists in every locale; escaping; fallback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.content.errors import ContentError
from bot.content.paths import default_content_dir
from bot.texts import LOCALES, Html, Texts, locale_for

ROOT = Path(__file__).resolve().parents[2]
# t("key"...), .t("key"...), plain("key"...), and texts keys handed around as KEY = "..."
KEY_CALL = re.compile(r"""\b(?:t|plain|raw|has)\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")
KEY_MARK = re.compile(r"""#\s*text-key:\s*([a-z0-9_.]+)""")


def keys_used_in_code() -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for folder in ("bot", "handlers"):
        for path in (ROOT / folder).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            for pattern in (KEY_CALL, KEY_MARK):
                for match in pattern.finditer(source):
                    used.setdefault(match.group(1), []).append(str(path.relative_to(ROOT)))
    return used


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts.load(default_content_dir() / "locales")


def test_every_key_used_in_code_exists_in_every_locale(texts: Texts) -> None:
    used = keys_used_in_code()
    assert "help.text" in used  # the scan finds real calls
    missing = [
        f"{key} ({locale}) used in {', '.join(sorted(set(files)))}"
        for key, files in sorted(used.items())
        for locale in LOCALES
        if not texts.has(key, locale)
    ]
    assert missing == []


def test_every_locale_has_the_same_keys(texts: Texts) -> None:
    zh = set(texts.catalogs["zh_CN"])
    en = set(texts.catalogs["en"])
    assert sorted(zh - en) == []
    assert sorted(en - zh) == []


def test_variables_are_escaped_but_safe_fragments_are_not(texts: Texts) -> None:
    out = texts.t("errors.unknown_command", "zh_CN", command="<script>&")
    assert "&lt;script&gt;&amp;" in out
    assert texts.t("help.text", "zh_CN", commands=Html("<b>x</b>")).count("<b>x</b>") == 1


def test_fallback_to_chinese_and_language_codes() -> None:
    texts = Texts({"zh_CN": {"a.b": "中文"}, "en": {}})
    assert texts.t("a.b", "en") == "中文"
    assert texts.t("missing.key", "en") == "missing.key"
    assert locale_for("en-GB") == "en"
    assert locale_for("zh-hans") == "zh_CN"
    assert locale_for("zh-hans", "en") == "en"  # the chat chose English
    assert locale_for(None, "en") == "en"
    assert locale_for("de", "zh_CN") == "zh_CN"


def test_broken_locale_files_name_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "zh_CN.yaml").write_text("a:\n  b: 1\n", encoding="utf-8")
    (tmp_path / "en.yaml").write_text("a: {b: x}\n", encoding="utf-8")
    with pytest.raises(ContentError, match=r"zh_CN.yaml: a.b: expected text"):
        Texts.load(tmp_path)
    (tmp_path / "zh_CN.yaml").write_text("a: {b: '{unclosed'}\n", encoding="utf-8")
    with pytest.raises(ContentError, match="bad placeholder"):
        Texts.load(tmp_path)
    (tmp_path / "zh_CN.yaml").write_text("a: [\n", encoding="utf-8")
    with pytest.raises(ContentError, match="invalid YAML"):
        Texts.load(tmp_path)
