"""Core tables: chats, users, members, schedules, slot claims and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigInt, JSONType, UTCDateTime, utcnow


class Chat(Base):
    """A Telegram chat the bot knows: a firm group, or a member's private chat."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(64))
    # None: the config's default.
    locale: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    bot_is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Per-chat overrides of the config's defaults, keyed like "study.time".
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Which feature hooks last derived this chat's schedules (see app.sync_chat_hooks):
    # a chat registered before a feature shipped gets that feature's schedules at start.
    hooks_version: Mapped[str | None] = mapped_column(String(255))


class User(Base):
    """A Telegram user the bot has seen."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=False)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    first_name: Mapped[str] = mapped_column(String(255), default="")
    last_name: Mapped[str | None] = mapped_column(String(255))
    language_code: Mapped[str | None] = mapped_column(String(16))
    # Telegram lets a bot write to a user in private only after they started it.
    private_chat_open: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def display_name(self) -> str:
        return display_name(self.first_name, self.last_name, self.username, self.id)


def display_name(first: str | None, last: str | None, username: str | None, uid: int) -> str:
    """A user's name as the bot shows it: first and last name, else username, else the id.

    A function of plain columns too, for queries that select them without the model.
    """
    return " ".join(part for part in (first, last) if part) or (username or str(uid))


class Member(Base):
    """A user's membership of a group chat."""

    __tablename__ = "members"

    chat_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # creator | administrator | member | left | kicked, as Telegram last told us.
    status: Mapped[str] = mapped_column(String(16), default="member")
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Schedule(Base):
    """A recurring or one-off action for a chat; the DB is the truth, the JobQueue a wake-up."""

    __tablename__ = "schedules"
    __table_args__ = (
        UniqueConstraint("chat_id", "kind", "ref"),
        Index("ix_schedules_due", "enabled", "next_due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInt, ForeignKey("chats.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    # Distinguishes several schedules of one kind in a chat (e.g. a ledger item id).
    ref: Mapped[str] = mapped_column(String(64), default="")
    # daily | workdays | weekdays:1,3,5 | once
    days: Mapped[str] = mapped_column(String(32))
    time_of_day: Mapped[str | None] = mapped_column(String(5))
    # For days == "once": the moment to run, UTC.
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SlotClaim(Base):
    """One slot of one schedule: claimed once, then done, failed or recorded as missed."""

    __tablename__ = "slot_claims"
    __table_args__ = (
        UniqueConstraint("chat_id", "kind", "ref", "slot_at"),
        # The tick looks for running claims whose lease ran out; a partial index keeps that
        # cheap however much history the table holds (~28,000 rows a day for 10,000 groups).
        Index(
            "ix_slot_claims_running",
            "lease_until",
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
        # Finished claims are deleted after CLAIM_RETENTION (bot/scheduling.py), oldest first.
        Index("ix_slot_claims_slot_at", "slot_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInt, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(64), default="")
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # running | done | failed | missed
    status: Mapped[str] = mapped_column(String(16))
    claimed_by: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Base):
    """A message to deliver in the background, e.g. one row per (notice, chat) of a broadcast."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("kind", "ref", "chat_id"),
        Index("ix_outbox_status", "status", "not_before"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[int] = mapped_column(BigInt, index=True)
    # {"text": html, "buttons": [[{"text":..., "data":...}]]} or a list of such parts.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # pending | sending | sent | failed | skipped
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(BigInt)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProcessedUpdate(Base):
    """A webhook update claimed by one process before it is handled, so that a delivery
    Telegram repeats (a retry reaching another process) is handled once."""

    __tablename__ = "processed_updates"
    __table_args__ = (Index("ix_processed_updates_claimed_at", "claimed_at"),)

    update_id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=False)
    # None: released after a failed attempt; the next delivery may claim it.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Attempts that failed for an infrastructure reason (database down...), and the last one.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200))
