"""Notices the association imported: the parsed structure, the cleaned text, where from."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, JSONType, UTCDateTime, utcnow


class Notice(Base):
    """One imported notice. Its number in chats (/notice 3) and the CLI is ``id``.

    A notice is imported once: the same content (``content_hash``) or the same
    title and date again is recognised and changes nothing.
    """

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("content_hash"),
        Index("ix_notices_published", "published"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    published: Mapped[date | None] = mapped_column(Date)
    doc_number: Mapped[str | None] = mapped_column(String(128))
    issuer: Mapped[str | None] = mapped_column(String(255))
    # sha256 of the cleaned text: the same notice from another page or encoding matches.
    content_hash: Mapped[str] = mapped_column(String(64))
    # ParsedNotice.to_json_dict(): what the summary and the section buttons are made from.
    parsed: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # The cleaned text, one line per paragraph (shown in full when there are no sections).
    text: Mapped[str] = mapped_column(Text)
    # The file name or URL it was imported from.
    source: Mapped[str | None] = mapped_column(Text)
    imported_by: Mapped[str | None] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
