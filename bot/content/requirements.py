"""The notice's five requirements (the "five roles"): schema and loader.

This module also holds the small helpers the other content loaders share
(reading a YAML list of entries, naming an entry, turning a pydantic error into
one readable sentence), so every content file fails in the same way: a
:class:`~bot.content.errors.ContentError` naming the file, the entry and the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.content.errors import ContentError, read_yaml
from bot.content.grammar import grammar

# 一是 .. 五是
ORDINALS: tuple[str, ...] = tuple(
    digit + grammar().ordinal_suffix for digit in grammar().numerals.digits[1:6]
)
"""The notice's ordinals; ``ORDINALS[n - 1]`` belongs to requirement ``n``."""

GENERAL: Literal["general"] = "general"
"""The requirement value of an entry about the notice as a whole, not one requirement."""

EntryId = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9_-]{1,32}$")]
"""An entry id: ASCII so that it fits into Telegram callback data (64 bytes)."""

RequirementRef = Annotated[int, Field(strict=True)] | Literal["general"]
"""A requirement number (checked against the loaded requirements) or ``"general"``."""


Sentence = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=300)]


class Requirement(BaseModel):
    """One of the five requirements, quoted from the notice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: Annotated[int, Field(strict=True, ge=1, le=5)]
    ordinal: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=4)]
    headline: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=100)]
    short_name: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=10)]
    key_sentences: Annotated[tuple[Sentence, ...], Field(min_length=3, max_length=6)]

    @model_validator(mode="after")
    def _consistent(self) -> Requirement:
        expected = ORDINALS[self.number - 1]
        if self.ordinal != expected:
            raise ValueError(f"ordinal of requirement {self.number} must be {expected!r}")
        if self.short_name not in self.headline:
            raise ValueError(f"short_name {self.short_name!r} does not occur in the headline")
        if len(set(self.key_sentences)) != len(self.key_sentences):
            raise ValueError("key_sentences contains the same sentence twice")
        return self


def load_requirements(path: Path, *, notice_text: str | None = None) -> tuple[Requirement, ...]:
    """Load and validate ``requirements.yaml``: numbers 1..5, each exactly once.

    The result is ordered by number. When ``notice_text`` is given, every headline and
    key sentence must occur in it verbatim.
    """
    file = str(path)
    loaded: list[Requirement] = []
    by_number: dict[int, str] = {}
    for label, raw in iter_entries(path, "requirements"):
        req = validate_entry(Requirement, raw, file, label)
        if req.number in by_number:
            raise ContentError(
                file, label, f"number {req.number} is already used by {by_number[req.number]}"
            )
        by_number[req.number] = label
        for other in loaded:
            if other.short_name == req.short_name:
                raise ContentError(file, label, f"short_name {req.short_name!r} is used twice")
        if notice_text is not None:
            check_quotes(file, label, notice_text, {"headline": [req.headline]})
            check_quotes(file, label, notice_text, {"key_sentences": req.key_sentences})
        loaded.append(req)
    missing = sorted(set(range(1, 6)) - set(by_number))
    if missing:
        names = ", ".join(str(n) for n in missing)
        raise ContentError(file, None, f"requirement number(s) {names} missing: need 1..5")
    return tuple(sorted(loaded, key=lambda r: r.number))


# --- helpers shared by the content loaders -------------------------------------------

ModelT = TypeVar("ModelT", bound=BaseModel)


def iter_entries(path: Path, key: str) -> Iterator[tuple[str, Any]]:
    """Yield ``(label, raw entry)`` for the list under ``key``, the file's only top-level key.

    The label is the entry's ``id`` when it has a usable one, else ``"<key>[<index>]"``.
    """
    file = str(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(file, None, f"the file must be a mapping with the key {key!r}")
    unknown = sorted(str(k) for k in data if k != key)
    if unknown:
        raise ContentError(
            file, None, f"unknown top-level key(s) {', '.join(unknown)}; expected only {key!r}"
        )
    if key not in data:
        raise ContentError(file, None, f"the top-level key {key!r} is missing")
    entries = data[key]
    if entries is None:
        return
    if not isinstance(entries, list):
        raise ContentError(file, key, "must be a list of entries")
    for index, raw in enumerate(entries):
        label = f"{key}[{index}]"
        if isinstance(raw, dict):
            entry_id = raw.get("id")
            if isinstance(entry_id, str) and entry_id.strip():
                label = entry_id
        yield label, raw


def describe_validation_error(exc: ValidationError) -> str:
    """One readable line per problem: ``field: message`` (no input dump, no URLs)."""
    parts: list[str] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def validate_entry(model: type[ModelT], raw: Any, file: str, label: str) -> ModelT:
    """Validate one raw entry against ``model`` or raise a readable ContentError."""
    if not isinstance(raw, dict):
        raise ContentError(file, label, "each entry must be a mapping of fields")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ContentError(file, label, describe_validation_error(exc)) from None


def check_requirement_ref(
    file: str, label: str, ref: int | str, requirements: Iterable[Requirement]
) -> None:
    """The entry's requirement must be one of the loaded requirements or ``"general"``."""
    if ref == GENERAL:
        return
    known = sorted(r.number for r in requirements)
    if ref not in known:
        names = ", ".join(str(n) for n in known)
        raise ContentError(
            file, label, f"requirement {ref!r} does not exist (known: {names}, general)"
        )


def normalise_notice(notice_text: str) -> str:
    """Line endings only: quotes are compared with the notice character for character."""
    return notice_text.replace("\r\n", "\n").replace("\r", "\n")


def check_quotes(file: str, label: str, notice_text: str, quotes: dict[str, Sequence[str]]) -> None:
    """Every quote must be a contiguous substring of the notice."""
    notice = normalise_notice(notice_text)
    for field, values in quotes.items():
        for value in values:
            if value not in notice:
                raise ContentError(
                    file, label, f"{field} is not quoted verbatim from the notice: {value[:40]!r}"
                )


class RequirementRefMixin(BaseModel):
    """Gives ``requirement`` a clear error message instead of pydantic's union dump."""

    @field_validator("requirement", mode="before", check_fields=False)
    @classmethod
    def _requirement_shape(cls, value: Any) -> Any:
        if value == GENERAL and isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError('must be a requirement number (1-5) or "general"')
