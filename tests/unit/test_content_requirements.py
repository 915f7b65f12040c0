"""content/requirements.yaml: the five requirements, quoted from the notice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bot.content.errors import ContentError
from bot.content.requirements import Requirement, load_requirements
from tests.unit.test_content_notice import (
    REQUIREMENTS,
    SEED_GARBLES,
    notice_text,
    paragraph_of,
    requirements,
)


def test_five_requirements_in_order() -> None:
    reqs = requirements()
    assert [r.number for r in reqs] == [1, 2, 3, 4, 5]
    assert [r.ordinal for r in reqs] == ["一是", "二是", "三是", "四是", "五是"]
    assert [r.short_name for r in reqs] == ["践行者", "奋斗者", "维护者", "推动者", "守护者"]


def test_headlines_are_the_notices_own_characters() -> None:
    first = requirements()[0]
    # ASCII comma and curly quotes, exactly as the notice prints them.
    assert first.headline == "坚定正确政治方向,做“两拥护”从业基本要求的践行者"
    assert requirements()[4].headline == "依法诚信规范执业,做行业清风正气的守护者"


def test_key_sentences_are_quoted_from_their_own_paragraph() -> None:
    text = notice_text()
    for req in requirements():
        assert 3 <= len(req.key_sentences) <= 6
        for sentence in req.key_sentences:
            assert sentence in text, sentence
            assert paragraph_of(sentence) == req.number, sentence
            assert not any(g in sentence for g in SEED_GARBLES), sentence


def test_models_are_frozen() -> None:
    req = requirements()[0]
    with pytest.raises(ValidationError):
        req.number = 2  # type: ignore[misc]


# --- the schema rejects broken files ------------------------------------------------


def _good() -> list[dict[str, Any]]:
    data = yaml.safe_load(REQUIREMENTS.read_text(encoding="utf-8"))
    entries: list[dict[str, Any]] = data["requirements"]
    return entries


def _write(tmp_path: Path, entries: Any) -> Path:
    path = tmp_path / "requirements.yaml"
    path.write_text(yaml.safe_dump({"requirements": entries}, allow_unicode=True), encoding="utf-8")
    return path


def test_a_copy_of_the_shipped_file_loads(tmp_path: Path) -> None:
    loaded = load_requirements(_write(tmp_path, _good()))
    assert all(isinstance(r, Requirement) for r in loaded)
    assert loaded == requirements()


def test_missing_number_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, _good()[:4])
    with pytest.raises(ContentError) as info:
        load_requirements(path)
    assert info.value.file == str(path)
    assert "5" in info.value.reason and "missing" in info.value.reason


def test_duplicate_number_is_rejected(tmp_path: Path) -> None:
    entries = _good()
    entries[4] = {**entries[3], "short_name": "推动者"}
    path = _write(tmp_path, entries)
    with pytest.raises(ContentError) as info:
        load_requirements(path)
    assert info.value.entry == "requirements[4]"
    assert "number 4 is already used" in info.value.reason
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ordinal": "二是"}, "ordinal of requirement 1 must be '一是'"),
        ({"short_name": "奋斗者"}, "does not occur in the headline"),
        ({"number": 6}, "number: Input should be less than or equal to 5"),
        ({"number": "1"}, "number: Input should be a valid integer"),
        ({"key_sentences": ["只有一句。"]}, "key_sentences: Tuple should have at least 3 items"),
        ({"colour": "red"}, "colour: unknown field"),
    ],
)
def test_bad_fields_name_the_entry_and_the_reason(
    tmp_path: Path, change: dict[str, Any], reason: str
) -> None:
    entries = _good()
    entries[0] = {**entries[0], **change}
    path = _write(tmp_path, entries)
    with pytest.raises(ContentError) as info:
        load_requirements(path)
    assert info.value.entry == "requirements[0]"
    assert reason in info.value.reason
    assert "https://" not in str(info.value)


def test_a_quote_not_in_the_notice_is_rejected_when_the_notice_is_given(tmp_path: Path) -> None:
    entries = _good()
    # A full-width comma where the notice has an ASCII one: not verbatim.
    entries[1]["key_sentences"][0] = (
        "希望广大律师发扬爱国主义精神，牢固树立对国家、对民族的崇高使命感和强烈责任感"
    )
    path = _write(tmp_path, entries)
    load_requirements(path)  # without the notice, only the schema is checked
    with pytest.raises(ContentError) as info:
        load_requirements(path, notice_text=notice_text())
    assert info.value.entry == "requirements[1]"
    assert "not quoted verbatim" in info.value.reason


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "requirements.yaml"
    path.write_text("requirements:\n  - number: 1\n    headline: [unclosed\n", encoding="utf-8")
    with pytest.raises(ContentError) as info:
        load_requirements(path)
    assert info.value.file == str(path)
    assert "YAML syntax error" in info.value.reason
    assert "line" in info.value.reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("- 1\n- 2\n", "must be a mapping with the key 'requirements'"),
        ("reqs: []\n", "unknown top-level key(s) reqs"),
        ("requirements: 5\n", "must be a list of entries"),
        ("requirements:\n  - just a string\n", "each entry must be a mapping"),
    ],
)
def test_wrong_shapes_are_rejected(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "requirements.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as info:
        load_requirements(path)
    assert reason in info.value.reason


def test_missing_file_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="file not found"):
        load_requirements(tmp_path / "nope.yaml")
    path = tmp_path / "gbk.yaml"
    path.write_bytes("requirements: []\n# 五者\n".encode("gb18030"))
    with pytest.raises(ContentError, match="not valid UTF-8"):
        load_requirements(path)
