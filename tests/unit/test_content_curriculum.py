"""content/study/curriculum.yaml: the daily study prompts."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.content.curriculum import Prompt, load_curriculum
from bot.content.errors import ContentError
from tests.unit.test_content_notice import (
    CURRICULUM,
    PAGE_NOISE,
    SEED_GARBLES,
    notice_text,
    paragraph_of,
    prompts,
    requirements,
)


def test_counts() -> None:
    loaded = prompts()
    assert len(loaded) >= 30
    per_requirement = Counter(p.requirement for p in loaded)
    for number in range(1, 6):
        assert per_requirement[number] >= 4, number
    assert per_requirement["general"] >= 10


def test_ids_are_sequential() -> None:
    assert [p.id for p in prompts()] == [f"s{i:02d}" for i in range(1, len(prompts()) + 1)]


def test_excerpts_are_verbatim_and_in_the_notices_order() -> None:
    text = notice_text()
    positions = []
    for prompt in prompts():
        assert prompt.excerpt in text, prompt.id
        assert len(prompt.excerpt) <= 300, prompt.id
        positions.append(text.index(prompt.excerpt))
    assert positions == sorted(positions), "prompts should follow the notice's order"


def test_excerpts_of_a_requirement_come_from_its_paragraph() -> None:
    for prompt in prompts():
        expected = None if prompt.requirement == "general" else prompt.requirement
        assert paragraph_of(prompt.excerpt) == expected, prompt.id


def test_excerpts_avoid_the_seeds_garbles_and_page_noise() -> None:
    for prompt in prompts():
        for bad in SEED_GARBLES + PAGE_NOISE:
            assert bad not in prompt.excerpt, (prompt.id, bad)


def test_editorial_lengths() -> None:
    for prompt in prompts():
        assert 60 <= len(prompt.explanation) <= 200, (prompt.id, len(prompt.explanation))
        assert len(prompt.title) <= 16, prompt.id
        # A question, or a request ("请……"), in full-width punctuation.
        assert prompt.question.endswith(("？", "。")), prompt.id
        assert "？" in prompt.question or "请" in prompt.question, prompt.id
        assert 20 <= len(prompt.question) <= 120, prompt.id
        assert "\n" not in prompt.explanation + prompt.question + prompt.title, prompt.id


def test_texts_are_unique() -> None:
    for field in ("title", "excerpt", "explanation", "question"):
        values = [getattr(p, field) for p in prompts()]
        assert len(values) == len(set(values)), field


@pytest.mark.parametrize(
    "topic",
    [
        "67.7万人",
        "重大意义",
        "贺荣",
        "第三十五次集体学习",
        "短板弱项",
        "学深学透",
        "集中学习",
        "带着问题学",
        "学习目标、改进措施、责任人和完成时限",
        "整改台账",
        "解决一个销号一个",
        "动态管理",
        "学习计划",
        "主任要带头学",
        "比学赶超",
        "理论联系实际",
        "3372万多件",
        "法律援助",
        "与司法人员接触交往",
        "私自收费",
        "涉外",
    ],
)
def test_the_notices_parts_are_covered(topic: str) -> None:
    assert any(topic in p.excerpt or topic in p.explanation for p in prompts()), topic


# --- several files, and the schema rejecting broken ones -----------------------------


def _prompt(**change: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "f01",
        "requirement": 3,
        "title": "本所的公益服务",
        "excerpt": "要从思想观念上解决好“为谁执业、为谁服务”的问题",
        "explanation": "本所自己的学习材料。" * 7,
        "question": "你今年参加了几次法律援助？",
    }
    entry.update(change)
    return entry


def _write(tmp_path: Path, entries: Any, name: str = "firm.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"prompts": entries}, allow_unicode=True), encoding="utf-8")
    return path


def test_a_firms_file_is_appended_in_order(tmp_path: Path) -> None:
    extra = _write(tmp_path, [_prompt(), _prompt(id="f02", requirement="general")])
    loaded = load_curriculum([CURRICULUM, extra], requirements(), notice_text=notice_text())
    assert loaded[: len(prompts())] == prompts()
    assert [p.id for p in loaded[-2:]] == ["f01", "f02"]
    assert isinstance(loaded[-1], Prompt)
    assert loaded[-1].requirement == "general"


def test_an_empty_file_adds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("prompts:\n", encoding="utf-8")
    assert load_curriculum([path], requirements()) == ()


def test_duplicate_id_across_files_names_the_second_file(tmp_path: Path) -> None:
    extra = _write(tmp_path, [_prompt(id="s05")])
    with pytest.raises(ContentError) as info:
        load_curriculum([CURRICULUM, extra], requirements())
    assert info.value.file == str(extra)
    assert info.value.entry == "s05"
    assert "duplicate id 's05'" in info.value.reason
    assert str(CURRICULUM) in info.value.reason


@pytest.mark.parametrize(
    ("change", "entry", "reason"),
    [
        ({"requirement": 7}, "f01", "requirement 7 does not exist"),
        (
            {"requirement": "all"},
            "f01",
            'requirement: must be a requirement number (1-5) or "general"',
        ),
        ({"requirement": True}, "f01", "requirement: must be a requirement number"),
        ({"excerpt": "律" * 301}, "f01", "excerpt: String should have at most 300 characters"),
        ({"question": ""}, "f01", "question: String should have at least 1 character"),
        ({"id": "第一条"}, "第一条", "id: String should match pattern"),
        ({"title": None}, "f01", "title: Input should be a valid string"),
        ({"extra": 1}, "f01", "extra: unknown field"),
    ],
)
def test_bad_prompts_name_file_entry_and_reason(
    tmp_path: Path, change: dict[str, Any], entry: str, reason: str
) -> None:
    path = _write(tmp_path, [_prompt(**change)])
    with pytest.raises(ContentError) as info:
        load_curriculum([path], requirements())
    assert info.value.file == str(path)
    assert info.value.entry == entry
    assert reason in info.value.reason
    assert str(path) in str(info.value) and entry in str(info.value)


def test_missing_field_is_named(tmp_path: Path) -> None:
    entry = _prompt()
    del entry["excerpt"]
    path = _write(tmp_path, [entry])
    with pytest.raises(ContentError, match=re.escape("excerpt: required field is missing")):
        load_curriculum([path], requirements())


def test_excerpt_not_in_the_notice_is_rejected_when_the_notice_is_given(tmp_path: Path) -> None:
    path = _write(tmp_path, [_prompt(excerpt="律师应当勤勉尽责。")])
    assert len(load_curriculum([path], requirements())) == 1
    with pytest.raises(ContentError) as info:
        load_curriculum([path], requirements(), notice_text=notice_text())
    assert info.value.entry == "f01"
    assert "excerpt is not quoted verbatim" in info.value.reason


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("prompts:\n  - id: f01\n   title: 缩进错误\n", encoding="utf-8")
    with pytest.raises(ContentError) as info:
        load_curriculum([CURRICULUM, path], requirements())
    assert info.value.file == str(path)
    assert "YAML syntax error at line 3" in info.value.reason
