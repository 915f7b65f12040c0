"""The Chinese input grammar (``content/grammar/zh.yaml``): schema, loader, regex helpers.

The parsers (typed deadlines, settings values, ledger fields, notices) build their
regular expressions from these word lists once, at import, through :func:`grammar`.
A missing or malformed key stops the import with a ContentError naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.content.errors import ContentError, read_mapping
from bot.content.paths import default_content_dir

Word = Annotated[str, Field(min_length=1, max_length=20)]
Char = Annotated[str, Field(min_length=1, max_length=1)]
Words = Annotated[tuple[Word, ...], Field(min_length=1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Numerals(_Frozen):
    digits: Annotated[tuple[Char, ...], Field(min_length=10, max_length=10)]
    zero_variants: tuple[Char, ...] = ()
    spoken_two: Char
    ten: Char
    twenty: Char
    thirty: Char

    @property
    def counting(self) -> str:
        """The numerals one to ten, which number sections and list items."""
        # 一二三四五六七八九十
        return "".join(self.digits[1:]) + self.ten


class DateMarks(_Frozen):
    year: Char
    month: Char
    day: Annotated[tuple[Char, ...], Field(min_length=1)]
    end: Annotated[tuple[Char, ...], Field(min_length=1)]


class AfterUnits(_Frozen):
    days: Words
    weeks: Words
    months: Words


class Dates(_Frozen):
    examples: Words
    relative_days: dict[Word, int]
    this_month_end: Words
    next_month_end: Words
    year_end: Words
    after_units: AfterUnits
    after: Words
    this_week: Words
    next_week: Words
    week_after_next: Words
    week_words: Words


class TimeOfDay(_Frozen):
    morning: Words
    noon: Words
    evening: Words
    hour: Annotated[tuple[Char, ...], Field(min_length=1)]
    half: Char
    minute: Char


class Settings(_Frozen):
    on: Words
    off: Words
    daily: Words
    workdays: Words
    weekday_prefixes: Words
    locale_zh: Words
    locale_en: Words


LedgerField = Literal["problem", "requirement", "goal", "measures", "owner", "deadline", "note"]


class Ledger(_Frozen):
    field_aliases: dict[LedgerField, Words]
    requirement_prefixes: Words
    requirement_suffixes: Words


class GuardedWord(_Frozen):
    word: Word
    not_after: str = ""
    not_before: str = ""


class Notices(_Frozen):
    vertical_bar: Char
    weekday_word: Word
    doc_number_prefix: Char
    doc_number_suffix: Char
    title_words: Words
    red_head_suffix: Word
    attachment: Word
    trailing_chrome: Words
    closing_lines: Words
    request_words: Words
    guarded_request_words: tuple[GuardedWord, ...] = ()
    deadline_day_parts: Words
    deadline_after: Words
    deadline_before_word: Word
    deadline_not_before: str
    deadline_before: Words
    range_words: Words
    range_actions: Words


class Grammar(_Frozen):
    """Everything in ``zh.yaml``; see that file for what each list means."""

    numerals: Numerals
    date_marks: DateMarks
    dates: Dates
    weekdays: dict[Char, Annotated[int, Field(ge=1, le=7)]]
    time_of_day: TimeOfDay
    settings: Settings
    ledger: Ledger
    ordinal_suffix: Char
    notices: Notices


def default_grammar_path() -> Path:
    """``grammar/zh.yaml`` of the shipped content (checkout or installed wheel)."""
    return default_content_dir() / "grammar" / "zh.yaml"


def load_grammar(path: Path | None = None) -> Grammar:
    """Read and validate a grammar file; a broken one raises ContentError."""
    path = path or default_grammar_path()
    file = str(path)
    raw = read_mapping(path)
    try:
        return Grammar.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        entry = ".".join(str(part) for part in first["loc"]) or None
        raise ContentError(file, entry, first["msg"]) from exc


@lru_cache(maxsize=1)
def grammar() -> Grammar:
    """The shipped grammar, read once per process."""
    return load_grammar()


def alternation(words: Iterable[str]) -> str:
    """A regex alternation of literal words that tries longer words first."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


def char_class(chars: Iterable[str]) -> str:
    """The body of a regex character class holding exactly these characters."""
    return "".join(re.escape(ch) for ch in dict.fromkeys("".join(chars)))
