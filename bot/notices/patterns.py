"""The keyword lists of ``content/notices/patterns.yaml``, validated and compiled.

The lists are data (they grow as new sites are scraped); the structural regular
expressions (section markers, dates) live next to the code that uses them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.content.errors import ContentError, read_mapping
from bot.content.grammar import alternation, char_class, grammar
from bot.content.paths import default_content_dir

LABEL_KEYS: tuple[str, ...] = (
    "issuer",
    "published",
    "doc_number",
    "addressees",
    "points",
    "actions",
    "deadlines",
    "attachments",
    "separator",
)
"""The keys :func:`bot.notices.render.render_summary_html` takes from its ``labels``."""

Word = Annotated[str, Field(min_length=1, max_length=40)]


class _KeyGroup(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    strong: tuple[Word, ...] = ()
    weak: tuple[Word, ...] = ()


class _Spam(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    brands: tuple[Word, ...] = Field(min_length=1)
    cores: tuple[Word, ...] = Field(min_length=1)
    suffixes: tuple[Word, ...] = Field(min_length=1)
    strong_cores: tuple[Word, ...] = Field(min_length=1)
    commercial_suffixes: tuple[Word, ...] = Field(min_length=1)
    legit_context: tuple[Word, ...] = ()
    porn_regex: tuple[str, ...] = ()

    @field_validator("porn_regex")
    @classmethod
    def _compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            _check_regex(item)
        return value


class _PatternsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    breadcrumb_prefixes: tuple[Word, ...] = Field(min_length=1)
    breadcrumb_roots: tuple[Word, ...] = Field(min_length=1)
    metadata_keys: dict[str, _KeyGroup]
    issuer_placeholders: tuple[Word, ...] = ()
    chrome_words: tuple[Word, ...] = ()
    chrome_regex: tuple[str, ...] = ()
    attachment_headings: tuple[Word, ...] = Field(min_length=1)
    attachment_extensions: tuple[Word, ...] = Field(min_length=1)
    spam: _Spam
    closing_regex: str
    title_endings: tuple[Word, ...] = Field(min_length=1)
    org_endings: tuple[Word, ...] = Field(min_length=1)
    addressee_openers: tuple[Word, ...] = Field(min_length=1)
    purpose_regex: str
    labels: dict[str, str]

    @field_validator("chrome_regex")
    @classmethod
    def _chrome_compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            _check_regex(item)
        return value

    @field_validator("closing_regex", "purpose_regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        _check_regex(value)
        return value

    @field_validator("labels")
    @classmethod
    def _all_labels(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [key for key in LABEL_KEYS if not value.get(key)]
        if missing:
            raise ValueError(f"labels lacks {', '.join(missing)}")
        return value


def _check_regex(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc


@dataclass(frozen=True)
class NoticePatterns:
    """Compiled keyword lists; build one with :func:`load_patterns`."""

    breadcrumb: re.Pattern[str]
    metadata_key: re.Pattern[str]
    key_meaning: Mapping[str, str]
    weak_keys: frozenset[str]
    issuer_placeholders: frozenset[str]
    chrome_words: re.Pattern[str]
    chrome_regex: tuple[re.Pattern[str], ...]
    attachment_heading: re.Pattern[str]
    attachment_file: re.Pattern[str]
    spam_fragment: re.Pattern[str]
    spam_line: re.Pattern[str]
    spam_legit_context: re.Pattern[str] | None
    closing: re.Pattern[str]
    title_ending: re.Pattern[str]
    org_ending: re.Pattern[str]
    addressee_opener: re.Pattern[str]
    purpose: re.Pattern[str]
    labels: Mapping[str, str]


def compile_patterns(raw: Mapping[str, object], *, file: str = "<patterns>") -> NoticePatterns:
    """Validate the parsed YAML mapping and compile it."""
    try:
        data = _PatternsFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        entry = ".".join(str(part) for part in first["loc"]) or None
        raise ContentError(file, entry, first["msg"]) from exc

    key_meaning: dict[str, str] = {}
    weak: set[str] = set()
    for meaning, group in data.metadata_keys.items():
        for key in group.strong:
            key_meaning[key] = meaning
        for key in group.weak:
            key_meaning[key] = meaning
            weak.add(key)
    if not key_meaning:
        raise ContentError(file, "metadata_keys", "no metadata key is defined")
    # A key counts only at the start of the line or after a separator, so that
    # 资金来源: in a sentence is not read as 来源:.
    bar = re.escape(grammar().notices.vertical_bar)
    metadata_key = re.compile(
        rf"(?:^|(?<=[\s|{bar}/【\[\]】]))(" + alternation(tuple(key_meaning)) + r")\s*[::]"
    )

    spam = data.spam
    brand = f"(?:{alternation(spam.brands)})"
    core = f"(?:{alternation(spam.cores)})"
    suffix = f"(?:{alternation(spam.suffixes)})"
    strong = f"(?:{alternation(spam.strong_cores)})"
    commercial = f"(?:{alternation(spam.commercial_suffixes)})"
    # Bounded repetitions keep the scan linear on long lines.
    fragments = [
        f"{brand}{{1,3}}(?:{core}|{suffix}){{1,6}}",
        f"{core}{{0,3}}{strong}(?:{core}|{suffix}){{0,4}}{commercial}",
        *spam.porn_regex,
    ]
    spam_fragment = re.compile("|".join(f"(?:{f})" for f in fragments))
    spam_line = re.compile("|".join([f"(?:{brand}(?:{core}|{suffix}))", strong, *spam.porn_regex]))

    headings = alternation(data.attachment_headings)
    extensions = alternation(data.attachment_extensions)
    return NoticePatterns(
        breadcrumb=re.compile(
            r"^(?:" + alternation(data.breadcrumb_prefixes) + r")\s*[::>›»]"
            r"|^(?:" + alternation(data.breadcrumb_roots) + r")\s*[>›»/]"
        ),
        metadata_key=metadata_key,
        key_meaning=key_meaning,
        weak_keys=frozenset(weak),
        issuer_placeholders=frozenset(data.issuer_placeholders),
        chrome_words=re.compile(
            "(?:" + alternation(data.chrome_words) + rf"|[\s|{bar}/·:\uff1a\[\]])+"
        )
        if data.chrome_words
        else re.compile(rf"[\s|{bar}/·:\uff1a\[\]]+"),
        chrome_regex=tuple(re.compile(p, re.IGNORECASE) for p in data.chrome_regex),
        attachment_heading=re.compile(
            r"^(?:"
            + headings
            + rf")\s*(?:\d{{1,2}}|[{char_class(grammar().numerals.counting)}]{{1,3}})?\s*(?:[::]|$)"
        ),
        attachment_file=re.compile(r"\.(?:" + extensions + r")(?![A-Za-z0-9])", re.IGNORECASE),
        spam_fragment=spam_fragment,
        spam_line=spam_line,
        spam_legit_context=re.compile(alternation(spam.legit_context))
        if spam.legit_context
        else None,
        closing=re.compile(data.closing_regex),
        title_ending=re.compile("(?:" + alternation(data.title_endings) + r")$"),
        org_ending=re.compile("(?:" + alternation(data.org_endings) + r")$"),
        addressee_opener=re.compile("^(?:" + alternation(data.addressee_openers) + ")"),
        purpose=re.compile(data.purpose_regex),
        labels=dict(data.labels),
    )


def default_patterns_path() -> Path:
    """``notices/patterns.yaml`` of the shipped content (checkout or installed wheel)."""
    return default_content_dir() / "notices" / "patterns.yaml"


def load_patterns(path: Path | None = None) -> NoticePatterns:
    """Read, validate and compile ``patterns.yaml``; a broken file raises ContentError."""
    path = path or default_patterns_path()
    return compile_patterns(read_mapping(path), file=str(path))


@lru_cache(maxsize=1)
def default_patterns() -> NoticePatterns:
    """The patterns of the repository's ``content/notices/patterns.yaml`` (cached)."""
    return load_patterns()


def default_labels() -> Mapping[str, str]:
    """The zh_CN labels of the rendered summary, from ``patterns.yaml``."""
    return default_patterns().labels
