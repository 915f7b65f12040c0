"""The parsed notice: plain frozen data with a JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

HighlightKind = Literal["purpose", "heading", "subheading", "lead", "point", "deadline"]


@dataclass(frozen=True)
class Subsection:
    """A numbered subsection inside a section: ``heading`` is its first sentence."""

    # (一) inside a section: number "一".
    number: str
    heading: str
    body: str

    def to_json_dict(self) -> dict[str, Any]:
        return {"number": self.number, "heading": self.heading, "body": self.body}


@dataclass(frozen=True)
class Section:
    """A numbered section of the notice: ``body`` is the text before its first subsection."""

    # 一、 of the notice: number "一".
    number: str
    heading: str
    body: str
    subsections: tuple[Subsection, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "heading": self.heading,
            "body": self.body,
            "subsections": [sub.to_json_dict() for sub in self.subsections],
        }


@dataclass(frozen=True)
class Point:
    """One enumerated requirement: its headline sentence."""

    # Enumerated as 一是…, 1. or (一).
    ordinal: int
    text: str

    def to_json_dict(self) -> dict[str, Any]:
        return {"ordinal": self.ordinal, "text": self.text}


@dataclass(frozen=True)
class Deadline:
    """An action with a due date."""

    date: date
    text: str

    def to_json_dict(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "text": self.text}


@dataclass(frozen=True)
class ParsedNotice:
    """What FirmBot knows about a notice; ``to_json_dict`` is the CLI's JSON schema."""

    title: str
    doc_number: str | None
    published: date | None
    issuer: str | None
    addressees: str | None
    sections: tuple[Section, ...]
    points: tuple[Point, ...]
    deadlines: tuple[Deadline, ...]
    attachments: tuple[str, ...]
    removed: tuple[str, ...]
    summary: str

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "doc_number": self.doc_number,
            "published": self.published.isoformat() if self.published else None,
            "issuer": self.issuer,
            "addressees": self.addressees,
            "sections": [section.to_json_dict() for section in self.sections],
            "points": [point.to_json_dict() for point in self.points],
            "deadlines": [deadline.to_json_dict() for deadline in self.deadlines],
            "attachments": list(self.attachments),
            "removed": list(self.removed),
            "summary": self.summary,
        }


@dataclass(frozen=True)
class Highlight:
    """A whole sentence (or heading) of the notice that a summary may quote.

    ``label`` is the structural marker shown before it (a section or subsection
    number), empty when the marker is part of ``text`` already.
    """

    kind: HighlightKind
    text: str
    # "一、", "(一)"
    label: str = ""


@dataclass(frozen=True)
class NoticeDocument:
    """The full analysis of a notice, from which ParsedNotice and its summary are made.

    ``highlights`` are in the notice's reading order.
    """

    title: str
    doc_number: str | None
    published: date | None
    issuer: str | None
    addressees: str | None
    addressee_line: str | None
    intro: tuple[str, ...]
    sections: tuple[Section, ...]
    points: tuple[Point, ...]
    deadlines: tuple[Deadline, ...]
    attachments: tuple[str, ...]
    removed: tuple[str, ...]
    highlights: tuple[Highlight, ...]
    metadata: dict[str, str] = field(default_factory=dict)
