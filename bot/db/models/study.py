"""Daily study tables: prompts sent, check-ins, reflections, collective sessions, attendance."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigInt, JSONType, UTCDateTime, utcnow


class StudyPost(Base):
    """One daily prompt sent to a group: replies and check-ins find their prompt through it."""

    __tablename__ = "study_posts"
    __table_args__ = (
        # One prompt per chat and local day, also when two slots (a changed time) or two
        # processes race for it.
        UniqueConstraint("chat_id", "slot_date"),
        UniqueConstraint("chat_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInt, ForeignKey("chats.id", ondelete="CASCADE"))
    prompt_id: Mapped[str] = mapped_column(String(32))
    # Day N of M as shown in the message; M is the curriculum's length when sent.
    day_number: Mapped[int] = mapped_column(Integer)
    total_days: Mapped[int] = mapped_column(Integer)
    # 1 for the first pass through the curriculum, 2 after it started over, ...
    cycle: Mapped[int] = mapped_column(Integer, default=1)
    slot_date: Mapped[date] = mapped_column(Date)
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # None while the message is being sent (a reservation).
    message_id: Mapped[int | None] = mapped_column(BigInt)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StudyCopy(Base):
    """A prompt shown again (/study in the group or in private): replies to it count too."""

    __tablename__ = "study_copies"
    __table_args__ = (UniqueConstraint("chat_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("study_posts.id", ondelete="CASCADE"), index=True
    )
    # The group or the member's private chat the copy was sent to.
    chat_id: Mapped[int] = mapped_column(BigInt)
    message_id: Mapped[int] = mapped_column(BigInt)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StudyCheckin(Base):
    """A member studied a prompt: by the button or by replying to it. Once per member."""

    __tablename__ = "study_checkins"
    __table_args__ = (
        UniqueConstraint("post_id", "user_id"),
        Index("ix_study_checkins_chat_user", "chat_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(Integer, ForeignKey("study_posts.id", ondelete="CASCADE"))
    # The group of the prompt.
    chat_id: Mapped[int] = mapped_column(BigInt)
    user_id: Mapped[int] = mapped_column(BigInt)
    # button | reply
    source: Mapped[str] = mapped_column(String(8))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StudyReflection(Base):
    """A member's reflection on one prompt: every reply of theirs to it, in order."""

    __tablename__ = "study_reflections"
    __table_args__ = (
        UniqueConstraint("post_id", "user_id"),
        Index("ix_study_reflections_chat_user", "chat_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(Integer, ForeignKey("study_posts.id", ondelete="CASCADE"))
    # The group of the prompt (replies may also come from a private chat).
    chat_id: Mapped[int] = mapped_column(BigInt)
    user_id: Mapped[int] = mapped_column(BigInt)
    # The stored text: the parts joined, at most the reflection limit.
    text: Mapped[str] = mapped_column(Text)
    # [{"chat": chat id, "message": message id, "text": str}], one per reply (edits replace).
    parts: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # Long enough to count as a reflection (short replies are kept, not counted).
    counted: Mapped[bool] = mapped_column(Boolean, default=False)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    excellent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    excellent_by: Mapped[int | None] = mapped_column(BigInt)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StudySession(Base):
    """A collective study session an admin scheduled."""

    __tablename__ = "study_sessions"
    __table_args__ = (Index("ix_study_sessions_chat_starts", "chat_id", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInt, ForeignKey("chats.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    minutes: Mapped[int] = mapped_column(Integer)
    # scheduled | open | closed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    created_by: Mapped[int | None] = mapped_column(BigInt)
    announce_message_id: Mapped[int | None] = mapped_column(BigInt)
    open_message_id: Mapped[int | None] = mapped_column(BigInt)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StudyAttendance(Base):
    """A member signed in to a collective session (once)."""

    __tablename__ = "study_attendance"
    __table_args__ = (UniqueConstraint("session_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("study_sessions.id", ondelete="CASCADE")
    )
    chat_id: Mapped[int] = mapped_column(BigInt, index=True)
    user_id: Mapped[int] = mapped_column(BigInt)
    attended_at: Mapped[datetime] = mapped_column(UTCDateTime)
