"""Imported notices: read a file or page once, store it once, find it again.

A notice is the same notice when its cleaned text hashes the same (another page or
encoding of it) or when its title and date match an imported one; importing it again
changes nothing and says which notice it is.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.notices import Notice
from bot.notices.clean import clean
from bot.notices.model import Deadline, ParsedNotice, Point, Section, Subsection
from bot.notices.parse import parse_notice
from bot.notices.patterns import default_patterns
from bot.notices.text import decode_bytes, html_to_text, looks_like_html

Sameness = Literal["content", "title_date"]

# Charsets a server may declare that are worth believing (others, like a default
# ISO-8859-1, would turn Chinese into mojibake, so the bytes decide instead).
_GB = frozenset({"gb2312", "gbk", "gb18030", "cp936", "x-gbk", "euc-cn"})
_TRUSTED = frozenset({"utf-8", "big5", "big5hkscs", "cp950"}) | _GB


def decode_document(data: bytes, declared: str | None = None) -> str:
    """Bytes of a notice as text: a trusted declared charset, else detection."""
    if declared:
        name = declared.strip().lower()
        if name in _GB:
            name = "gb18030"  # a superset; pages that say gb2312 often use GBK characters
        try:
            canonical = codecs.lookup(name).name
        except LookupError:
            canonical = ""
        if canonical in _TRUSTED:
            try:
                text = data.decode(name)
            except UnicodeDecodeError:
                pass
            else:
                return text[1:] if text.startswith("\ufeff") else text
    return decode_bytes(data)


@dataclass(frozen=True)
class ReadNotice:
    """A notice read from bytes or text: its structure, cleaned text and content hash."""

    parsed: ParsedNotice
    text: str
    content_hash: str


def read_notice(data: bytes | str, *, declared_charset: str | None = None) -> ReadNotice:
    """Decode (UTF-8, GB18030, a page's charset), clean and parse a notice."""
    text = decode_document(data, declared_charset) if isinstance(data, bytes) else data
    text = text.replace("\x00", "")  # PostgreSQL text and JSONB refuse NUL; it means nothing
    patterns = default_patterns()
    parsed = parse_notice(text, patterns=patterns)
    plain = html_to_text(text) if looks_like_html(text) else text
    cleaned = "\n".join(line for line in clean(plain, patterns=patterns).lines if line)
    digest = hashlib.sha256(cleaned.encode("utf-8")).hexdigest()
    return ReadNotice(parsed=parsed, text=cleaned, content_hash=digest)


@dataclass(frozen=True)
class ImportResult:
    """``created`` False: the notice was there already (``same`` says how it matched)."""

    notice: Notice
    created: bool
    same: Sameness | None = None


async def find_same(session: AsyncSession, read: ReadNotice) -> tuple[Notice, Sameness] | None:
    """An imported notice with the same content, or the same title and date."""
    by_hash = await session.scalar(select(Notice).where(Notice.content_hash == read.content_hash))
    if by_hash is not None:
        return by_hash, "content"
    published = read.parsed.published
    query = select(Notice).where(Notice.title == read.parsed.title)
    query = query.where(
        Notice.published.is_(None) if published is None else Notice.published == published
    )
    by_title = await session.scalar(query.order_by(Notice.id).limit(1))
    if by_title is not None:
        return by_title, "title_date"
    return None


async def import_notice(
    session: AsyncSession,
    read: ReadNotice,
    *,
    source: str | None,
    imported_by: str | None,
    now: datetime,
) -> ImportResult:
    """Store a notice unless it is there already (then nothing changes).

    Callers refuse a notice without a title first (the CLI says the file holds none).
    """
    found = await find_same(session, read)
    if found is not None:
        return ImportResult(found[0], created=False, same=found[1])
    parsed = read.parsed
    notice = Notice(
        title=parsed.title,
        published=parsed.published,
        doc_number=parsed.doc_number,
        issuer=parsed.issuer,
        content_hash=read.content_hash,
        parsed=parsed.to_json_dict(),
        text=read.text,
        source=source,
        imported_by=imported_by,
        imported_at=now,
    )
    try:
        # A savepoint: losing a race with a concurrent import of the same notice
        # must not undo the caller's transaction.
        async with session.begin_nested():
            session.add(notice)
    except IntegrityError:
        found = await find_same(session, read)
        if found is None:
            raise
        return ImportResult(found[0], created=False, same=found[1])
    return ImportResult(notice, created=True)


async def get_notice(session: AsyncSession, notice_id: int) -> Notice | None:
    if not 0 < notice_id < 2**31:  # a typed number the id column cannot hold: none such
        return None
    return await session.get(Notice, notice_id)


async def latest_notices(session: AsyncSession, limit: int = 10) -> Sequence[Notice]:
    """The most recently imported notices, newest first."""
    rows = await session.scalars(select(Notice).order_by(Notice.id.desc()).limit(limit))
    return rows.all()


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def parsed_of(notice: Notice) -> ParsedNotice:
    """The stored JSON back as a ParsedNotice (the inverse of ``to_json_dict``)."""
    data = notice.parsed
    return ParsedNotice(
        title=str(data.get("title") or notice.title),
        doc_number=data.get("doc_number"),
        published=_day(data.get("published")),
        issuer=data.get("issuer"),
        addressees=data.get("addressees"),
        sections=tuple(
            Section(
                number=str(s["number"]),
                heading=str(s["heading"]),
                body=str(s.get("body", "")),
                subsections=tuple(
                    Subsection(str(u["number"]), str(u["heading"]), str(u.get("body", "")))
                    for u in s.get("subsections", [])
                ),
            )
            for s in data.get("sections", [])
        ),
        points=tuple(Point(int(p["ordinal"]), str(p["text"])) for p in data.get("points", [])),
        deadlines=tuple(
            Deadline(date.fromisoformat(d["date"]), str(d["text"]))
            for d in data.get("deadlines", [])
        ),
        attachments=tuple(str(a) for a in data.get("attachments", [])),
        removed=tuple(str(r) for r in data.get("removed", [])),
        summary=str(data.get("summary", "")),
    )
