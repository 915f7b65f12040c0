"""content/quiz/bank.yaml: the quiz bank, and the schema that keeps it within Telegram's limits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.content.errors import ContentError
from bot.content.quizbank import BLANK, KINDS, Question, load_bank
from tests.unit.test_content_notice import (
    BANK,
    PAGE_NOISE,
    SEED_GARBLES,
    notice_text,
    paragraph_of,
    questions,
    requirements,
)

# The one question that must quote a garble: it asks for the symposium's date, which the
# notice prints only as "2023630日" (2023年6月30日).
GARBLE_ALLOWED = {"q008"}


def _body(question: Question) -> str:
    """The quoted part of a which_requirement or fill_blank question: after the first "："."""
    prompt, sep, body = question.question.partition("：")
    assert sep and prompt, question.id
    return body


def test_counts() -> None:
    loaded = questions()
    assert len(loaded) >= 80
    per_requirement = Counter(q.requirement for q in loaded)
    for number in range(1, 6):
        assert per_requirement[number] >= 10, number
    per_kind = Counter(q.kind for q in loaded)
    assert set(per_kind) == set(KINDS)
    assert per_kind["which_requirement"] >= 4 * 5
    assert per_kind["fill_blank"] >= 10
    assert per_kind["true_false"] >= 10
    assert per_kind["single"] >= 20
    assert {q.difficulty for q in loaded} == {1, 2, 3}


def test_ids_are_sequential() -> None:
    assert [q.id for q in questions()] == [f"q{i:03d}" for i in range(1, len(questions()) + 1)]


def test_sources_are_verbatim() -> None:
    text = notice_text()
    for question in questions():
        assert question.source in text, question.id
        for bad in PAGE_NOISE:
            assert bad not in question.source, question.id
        if question.id not in GARBLE_ALLOWED:
            for bad in SEED_GARBLES:
                assert bad not in question.source, (question.id, bad)


def test_telegram_limits_hold() -> None:
    for question in questions():
        assert 1 <= len(question.question) <= 300, question.id
        assert 2 <= len(question.options) <= 4, question.id
        assert all(1 <= len(o) <= 100 for o in question.options), question.id
        assert len(question.explanation) <= 200, question.id
        assert question.explanation.count("\n") <= 2, question.id
        assert question.correct_option == question.options[question.answer]


def test_explanations_cite_the_notice() -> None:
    for question in questions():
        cites = ("通知", "原文", "希望")
        assert any(c in question.explanation for c in cites), question.id


def test_which_requirement_answers_match_the_paragraph_of_the_quote() -> None:
    short_names = {r.number: r.short_name for r in requirements()}
    for question in questions():
        if question.kind != "which_requirement":
            continue
        assert _body(question) == question.source, question.id
        number = paragraph_of(question.source)
        assert number is not None, f"{question.id}: quote is in no requirement paragraph"
        assert question.requirement == number, question.id
        assert short_names[number] in question.correct_option, question.id
        named = [[n for n, s in short_names.items() if s in o] for o in question.options]
        assert all(len(hits) == 1 for hits in named), question.id
        assert len({hits[0] for hits in named}) == len(named), question.id


def test_fill_blanks_have_exactly_one_answer_that_fits_the_notice() -> None:
    text = notice_text()
    for question in questions():
        if question.kind != "fill_blank":
            continue
        body = _body(question)
        assert body.count(BLANK) == 1, question.id
        for index, option in enumerate(question.options):
            fits = body.replace(BLANK, option) in text
            assert fits == (index == question.answer), (question.id, option)
        assert body.replace(BLANK, question.correct_option) in question.source, question.id


def test_true_false_uses_both_answers() -> None:
    answers = Counter(q.correct_option for q in questions() if q.kind == "true_false")
    assert answers["正确"] >= 5 and answers["错误"] >= 5


def test_requirement_questions_quote_their_own_paragraph() -> None:
    """A question filed under requirement n quotes requirement n's paragraph (or, for the
    definition of "两拥护", the sentence of the notice that spells it out)."""
    defined_elsewhere = {"q038"}
    for question in questions():
        if question.requirement == "general":
            assert paragraph_of(question.source) is None, question.id
        elif question.id not in defined_elsewhere:
            assert paragraph_of(question.source) == question.requirement, question.id


def test_correct_answers_are_spread_over_positions() -> None:
    for kind in ("single", "which_requirement", "fill_blank"):
        positions = Counter(q.answer for q in questions() if q.kind == kind)
        total = sum(positions.values())
        assert max(positions.values()) <= total * 0.45, (kind, positions)


def test_questions_and_options_are_distinct() -> None:
    texts = [q.question for q in questions()]
    assert len(texts) == len(set(texts))
    for question in questions():
        assert len(set(question.options)) == len(question.options), question.id


# --- the schema rejects broken files ------------------------------------------------


def _question(**change: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "f001",
        "kind": "single",
        "requirement": 5,
        "difficulty": 2,
        "question": "本所规定律师费由谁收取？",
        "options": ["律师事务所统一收取", "承办律师个人收取", "当事人直接交给法院"],
        "answer": 0,
        "explanation": "本所收费制度。",
        "source": "私自收费",
    }
    entry.update(change)
    return entry


def _write(tmp_path: Path, entries: Any, name: str = "firm.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"questions": entries}, allow_unicode=True), encoding="utf-8")
    return path


def _error(tmp_path: Path, entries: Any) -> tuple[Path, ContentError]:
    path = _write(tmp_path, entries)
    with pytest.raises(ContentError) as info:
        load_bank([path], requirements())
    assert info.value.file == str(path)
    assert str(path) in str(info.value)
    return path, info.value


def test_a_valid_firm_question_loads_after_the_bank(tmp_path: Path) -> None:
    path = _write(tmp_path, [_question()])
    loaded = load_bank([BANK, path], requirements())
    assert loaded[-1].id == "f001"
    assert loaded[-1].correct_option == "律师事务所统一收取"
    assert len(loaded) == len(questions()) + 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"options": ["律" * 101, "承办律师个人收取", "当事人直接交给法院"]},
            "options.0: String should have at most 100 characters",
        ),
        ({"explanation": "第一行\n第二行\n第三行\n第四行"}, "explanation: has 3 line breaks"),
        ({"explanation": "说" * 201}, "explanation: String should have at most 200 characters"),
        ({"question": "问" * 301}, "question: String should have at most 300 characters"),
        ({"question": ""}, "question: String should have at least 1 character"),
        ({"answer": 3}, "answer 3 is out of range: there are 3 options"),
        ({"answer": -1}, "answer: Input should be greater than or equal to 0"),
        ({"answer": True}, "answer: Input should be a valid integer"),
        ({"difficulty": 4}, "difficulty: Input should be less than or equal to 3"),
        ({"kind": "multiple"}, "kind: Input should be 'single', 'true_false'"),
        ({"options": ["甲", "乙", "甲"]}, "the same option appears twice"),
        ({"options": ["甲"]}, "options: Tuple should have at least 2 items"),
        ({"options": ["甲", "乙", "丙", "丁", "戊"]}, "options: Tuple should have at most 4 items"),
        ({"options": ["甲", "乙"]}, "a single question needs 3 or 4 options"),
        ({"kind": "true_false", "options": ["对", "错"]}, 'exactly ["正确", "错误"]'),
        ({"kind": "fill_blank", "question": "没有空格的句子"}, "needs exactly one gap '____'"),
        ({"kind": "which_requirement", "requirement": "general"}, 'cannot be "general"'),
        ({"requirement": 9}, "requirement 9 does not exist (known: 1, 2, 3, 4, 5, general)"),
        ({"requirement": "五"}, 'requirement: must be a requirement number (1-5) or "general"'),
        ({"source": ""}, "source: String should have at least 1 character"),
        ({"hint": "x"}, "hint: unknown field"),
    ],
)
def test_bad_questions_name_file_entry_and_reason(
    tmp_path: Path, change: dict[str, Any], reason: str
) -> None:
    _, error = _error(tmp_path, [_question(**change)])
    assert error.entry == "f001"
    assert reason in error.reason
    assert "f001" in str(error)
    assert "pydantic.dev" not in str(error)


def test_duplicate_id_is_rejected(tmp_path: Path) -> None:
    first = _question()
    second = _question(question="另一个问题？")
    _, error = _error(tmp_path, [first, second])
    assert error.entry == "f001"
    assert "duplicate id 'f001'" in error.reason


def test_duplicate_id_across_files_names_the_second_file(tmp_path: Path) -> None:
    path = _write(tmp_path, [_question(id="q001", question="另一个问题？")])
    with pytest.raises(ContentError) as info:
        load_bank([BANK, path], requirements())
    assert info.value.file == str(path)
    assert info.value.entry == "q001"
    assert str(BANK) in info.value.reason


def test_duplicate_question_text_is_rejected(tmp_path: Path) -> None:
    # Same text up to whitespace, under another id.
    second = _question(id="f002", question="本所规定律师费 由谁收取？")
    _, error = _error(tmp_path, [_question(), second])
    assert error.entry == "f002"
    assert "duplicate question: same text as f001" in error.reason


def test_duplicate_of_a_shipped_question_is_rejected(tmp_path: Path) -> None:
    shipped = questions()[0]
    path = _write(tmp_path, [_question(question=shipped.question)])
    with pytest.raises(ContentError, match="same text as q001"):
        load_bank([BANK, path], requirements())


def test_entry_without_a_usable_id_is_named_by_position(tmp_path: Path) -> None:
    broken = _question()
    del broken["id"]
    _, error = _error(tmp_path, [_question(id="f000", question="问？"), broken])
    assert error.entry == "questions[1]"
    assert "id: required field is missing" in error.reason


@pytest.mark.parametrize(
    ("options", "answer", "reason"),
    [
        (
            ["做行业清风正气的守护者", "做高质量发展的推动者", "第三种说法"],
            0,
            "options[2] must name",
        ),
        (["做行业清风正气的守护者", "守护者", "做高质量发展的推动者"], 0, "two options name"),
        (
            ["做高质量发展的推动者", "做行业清风正气的守护者", "做人民群众合法权益的维护者"],
            0,
            "answer names requirement 4",
        ),
    ],
)
def test_which_requirement_options_are_cross_checked(
    tmp_path: Path, options: list[str], answer: int, reason: str
) -> None:
    entry = _question(kind="which_requirement", options=options, answer=answer)
    _, error = _error(tmp_path, [entry])
    assert error.entry == "f001"
    assert reason in error.reason


def test_source_not_in_the_notice_is_rejected_when_the_notice_is_given(tmp_path: Path) -> None:
    path = _write(tmp_path, [_question(source="律师应当诚实守信，勤勉尽责。")])
    assert len(load_bank([path], requirements())) == 1
    with pytest.raises(ContentError) as info:
        load_bank([path], requirements(), notice_text=notice_text())
    assert info.value.entry == "f001"
    assert "source is not quoted verbatim" in info.value.reason


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        'questions:\n  - id: f001\n    question: "未闭合的引号\n    answer: 0\n', encoding="utf-8"
    )
    with pytest.raises(ContentError) as info:
        load_bank([BANK, path], requirements())
    assert info.value.file == str(path)
    assert info.value.entry is None
    assert info.value.reason.startswith("YAML syntax error at line")
