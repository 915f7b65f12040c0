# The rectification ledger is the notice's 整改台账.
"""The rectification ledger: items, their history, and per-chat number counters."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigInt, UTCDateTime, utcnow

# Item statuses: open -> submitted -> closed, or cancelled; closed can be reopened.
OPEN = "open"
SUBMITTED = "submitted"
CLOSED = "closed"
CANCELLED = "cancelled"
STATUSES = (OPEN, SUBMITTED, CLOSED, CANCELLED)
ACTIVE_STATUSES = (OPEN, SUBMITTED)


class LedgerCounter(Base):
    """The last number given in a chat and year; locked while a new item takes the next."""

    __tablename__ = "ledger_counters"

    chat_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class LedgerItem(Base):
    """One concrete problem to fix, numbered per chat and year (shown as 2023-007)."""

    __tablename__ = "ledger_items"
    __table_args__ = (
        UniqueConstraint("chat_id", "year", "seq"),
        Index("ix_ledger_items_chat_status", "chat_id", "status", "deadline_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInt, ForeignKey("chats.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    problem: Mapped[str] = mapped_column(Text)
    # 1-5: which of the notice's five requirements the problem falls short of.
    requirement: Mapped[int] = mapped_column(Integer)
    goal: Mapped[str] = mapped_column(Text, default="")
    measures: Mapped[str] = mapped_column(Text)
    # A known owner has a user id; one given by @username before the bot saw them has
    # only the (lower-case) username until they first speak.
    owner_user_id: Mapped[int | None] = mapped_column(BigInt, index=True)
    owner_username: Mapped[str | None] = mapped_column(String(64), index=True)
    owner_name: Mapped[str] = mapped_column(String(255), default="")
    # The deadline as the chat sees it: a local date and, optionally, a local time.
    deadline_date: Mapped[date] = mapped_column(Date)
    deadline_time: Mapped[str | None] = mapped_column(String(5))
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    note: Mapped[str] = mapped_column(Text, default="")
    # text | photo | document
    evidence_kind: Mapped[str | None] = mapped_column(String(16))
    evidence_text: Mapped[str | None] = mapped_column(Text)
    evidence_file_id: Mapped[str | None] = mapped_column(String(255))
    evidence_file_name: Mapped[str | None] = mapped_column(String(255))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_by: Mapped[int | None] = mapped_column(BigInt)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(BigInt)
    closed_by_name: Mapped[str | None] = mapped_column(String(255))
    # Reminders before this moment are held back (the owner pressed "snooze").
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The chat-local day of the last snooze: at most one a day.
    snoozed_on: Mapped[date | None] = mapped_column(Date)
    # The chat-local day of the last ladder reminder (a retaken slot does not repeat it).
    reminded_on: Mapped[date | None] = mapped_column(Date)
    # When the admins were told that the item is overdue (once per deadline).
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(BigInt)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def number(self) -> str:
        return format_number(self.year, self.seq)


def format_number(year: int, seq: int) -> str:
    """2023, 7 -> "2023-007" (more digits past 999)."""
    return f"{year}-{seq:03d}"


class LedgerEvent(Base):
    """One change of an item: who, when, what (field, old and new value)."""

    __tablename__ = "ledger_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ledger_items.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(BigInt)
    actor_name: Mapped[str] = mapped_column(String(255), default="")
    # created | edited | submitted | closed | reopened | cancelled | snoozed | linked | imported
    action: Mapped[str] = mapped_column(String(32))
    field: Mapped[str | None] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
