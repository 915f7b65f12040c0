"""The quiz bank: schema and loader.

Questions are sent as Telegram quiz polls, so the limits are Telegram's: a question of
1-300 characters, 2-4 options (our choice; Telegram allows more) of 1-100 characters
each, an explanation of at most 200 characters with at most 2 line feeds.

Kinds:

- ``single``: one correct answer among 3-4 options.
- ``true_false``: options exactly the catalog's true/false labels (``content.true_false``
  in content/locales/zh_CN.yaml, the language of the bank).
- ``which_requirement``: the question quotes a sentence of the notice and asks which
  of the five requirements it belongs to; every option names one requirement (by its
  short name, as in content/requirements.yaml), and the answer names the entry's own.
- ``fill_blank``: a sentence of the notice with one gap ``____``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from bot.content.errors import ContentError
from bot.content.requirements import (
    GENERAL,
    EntryId,
    Requirement,
    RequirementRef,
    RequirementRefMixin,
    check_quotes,
    check_requirement_ref,
    iter_entries,
    validate_entry,
)

QUESTION_MAX = 300
OPTION_MAX = 100
EXPLANATION_MAX = 200
EXPLANATION_MAX_LINE_FEEDS = 2
MIN_OPTIONS = 2
MAX_OPTIONS = 4


@functools.cache
def true_false_options() -> tuple[str, str]:
    """The two options of a true/false question, from the shipped zh_CN catalog."""
    from bot.content.paths import default_content_dir
    from bot.texts import Texts

    texts = Texts.load(default_content_dir() / "locales", ("zh_CN",))
    return texts.plain("content.true_false.true"), texts.plain("content.true_false.false")


BLANK = "____"

QuestionKind = Literal["single", "true_false", "which_requirement", "fill_blank"]
KINDS: tuple[QuestionKind, ...] = ("single", "true_false", "which_requirement", "fill_blank")

Option = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=OPTION_MAX)]


class Question(RequirementRefMixin):
    """One quiz question."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: EntryId
    kind: QuestionKind
    requirement: RequirementRef
    difficulty: Annotated[int, Field(strict=True, ge=1, le=3)]
    question: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=QUESTION_MAX)]
    options: Annotated[tuple[Option, ...], Field(min_length=MIN_OPTIONS, max_length=MAX_OPTIONS)]
    answer: Annotated[int, Field(strict=True, ge=0)]
    explanation: Annotated[
        str, StringConstraints(strict=True, min_length=1, max_length=EXPLANATION_MAX)
    ]
    source: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=300)]

    @property
    def correct_option(self) -> str:
        """The text of the one correct option."""
        return self.options[self.answer]

    @model_validator(mode="after")
    def _consistent(self) -> Question:
        if self.answer >= len(self.options):
            raise ValueError(
                f"answer {self.answer} is out of range: there are {len(self.options)} "
                f"options, numbered from 0"
            )
        stripped = [o.strip() for o in self.options]
        if any(not o for o in stripped):
            raise ValueError("options: an option is blank")
        if len(set(stripped)) != len(stripped):
            raise ValueError("options: the same option appears twice")
        if not self.question.strip():
            raise ValueError("question: is blank")
        line_feeds = self.explanation.count("\n")
        if line_feeds > EXPLANATION_MAX_LINE_FEEDS:
            raise ValueError(
                f"explanation: has {line_feeds} line breaks, Telegram allows at most "
                f"{EXPLANATION_MAX_LINE_FEEDS}"
            )
        if self.kind == "true_false" and self.options != true_false_options():
            yes, no = true_false_options()
            raise ValueError(f'options: a true_false question must have exactly ["{yes}", "{no}"]')
        if self.kind == "single" and len(self.options) < 3:
            raise ValueError("options: a single question needs 3 or 4 options")
        if self.kind == "fill_blank" and self.question.count(BLANK) != 1:
            raise ValueError(f"question: a fill_blank question needs exactly one gap {BLANK!r}")
        if self.kind == "which_requirement" and self.requirement == GENERAL:
            raise ValueError('requirement: a which_requirement question cannot be "general"')
        return self


def _check_which_requirement(
    file: str, label: str, question: Question, reqs: tuple[Requirement, ...]
) -> None:
    """Each option names exactly one requirement, all different; the answer names ours."""
    named: list[int] = []
    for index, option in enumerate(question.options):
        hits = [r.number for r in reqs if r.short_name in option]
        if len(hits) != 1:
            raise ContentError(
                file,
                label,
                f"options[{index}] must name exactly one requirement by its short name "
                f"({', '.join(r.short_name for r in reqs)})",
            )
        named.append(hits[0])
    if len(set(named)) != len(named):
        raise ContentError(file, label, "options: two options name the same requirement")
    if named[question.answer] != question.requirement:
        raise ContentError(
            file,
            label,
            f"answer names requirement {named[question.answer]}, "
            f"but the question belongs to requirement {question.requirement}",
        )


def load_bank(
    paths: list[Path],
    requirements: Iterable[Requirement],
    *,
    notice_text: str | None = None,
) -> tuple[Question, ...]:
    """Load the questions of every file in ``paths``, concatenated in order.

    Ids and question texts must be unique across all files; every requirement must
    exist. When ``notice_text`` is given, every ``source`` must occur in it verbatim.
    """
    reqs = tuple(requirements)
    questions: list[Question] = []
    ids: dict[str, str] = {}
    texts: dict[str, str] = {}
    for path in paths:
        file = str(path)
        for label, raw in iter_entries(path, "questions"):
            question = validate_entry(Question, raw, file, label)
            if question.id in ids:
                first = ids[question.id]
                raise ContentError(
                    file, label, f"duplicate id {question.id!r} (first defined in {first})"
                )
            ids[question.id] = file
            text_key = "".join(question.question.split())
            if text_key in texts:
                raise ContentError(
                    file, label, f"duplicate question: same text as {texts[text_key]}"
                )
            texts[text_key] = question.id
            check_requirement_ref(file, label, question.requirement, reqs)
            if question.kind == "which_requirement":
                _check_which_requirement(file, label, question, reqs)
            if notice_text is not None:
                check_quotes(file, label, notice_text, {"source": [question.source]})
            questions.append(question)
    return tuple(questions)
