"""The daily study prompts: schema and loader.

A prompt quotes a passage of the notice, explains it in plain words and asks a
reflection question. The shipped file is ``content/study/curriculum.yaml``; a firm
may add its own files, which are appended in the order given.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import ConfigDict, StringConstraints

from bot.content.errors import ContentError
from bot.content.requirements import (
    EntryId,
    Requirement,
    RequirementRef,
    RequirementRefMixin,
    check_quotes,
    check_requirement_ref,
    iter_entries,
    validate_entry,
)

# Hard limits: what still renders well as one chat message. Editorial targets
# (e.g. explanations of 60-200 characters) are checked by the content tests.
TITLE_MAX = 30
EXCERPT_MAX = 300
EXPLANATION_MAX = 300
QUESTION_MAX = 300


class Prompt(RequirementRefMixin):
    """One daily study prompt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: EntryId
    requirement: RequirementRef
    title: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=TITLE_MAX)]
    excerpt: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=EXCERPT_MAX)]
    explanation: Annotated[
        str, StringConstraints(strict=True, min_length=1, max_length=EXPLANATION_MAX)
    ]
    question: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=QUESTION_MAX)]


def load_curriculum(
    paths: list[Path],
    requirements: Iterable[Requirement],
    *,
    notice_text: str | None = None,
) -> tuple[Prompt, ...]:
    """Load the prompts of every file in ``paths``, concatenated in order.

    Ids must be unique across all files and every prompt's requirement must be one of
    ``requirements`` or ``"general"``. When ``notice_text`` is given, every excerpt
    must occur in it verbatim.
    """
    reqs = tuple(requirements)
    prompts: list[Prompt] = []
    seen: dict[str, str] = {}
    for path in paths:
        file = str(path)
        for label, raw in iter_entries(path, "prompts"):
            prompt = validate_entry(Prompt, raw, file, label)
            if prompt.id in seen:
                raise ContentError(
                    file, label, f"duplicate id {prompt.id!r} (first defined in {seen[prompt.id]})"
                )
            seen[prompt.id] = file
            check_requirement_ref(file, label, prompt.requirement, reqs)
            if notice_text is not None:
                check_quotes(file, label, notice_text, {"excerpt": [prompt.excerpt]})
            prompts.append(prompt)
    return tuple(prompts)
