"""Quiz tables: group rounds, their polls and answers; private practice and the review queue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigInt, JSONType, UTCDateTime


class QuizRound(Base):
    """One round of quiz polls in a group: the daily one (per slot) or an admin's extra one."""

    __tablename__ = "quiz_rounds"
    # NULL slot_at (extra rounds) never conflicts; a daily slot opens one round only.
    __table_args__ = (UniqueConstraint("chat_id", "slot_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInt, ForeignKey("chats.id", ondelete="CASCADE"))
    # daily | extra
    kind: Mapped[str] = mapped_column(String(16))
    slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_by: Mapped[int | None] = mapped_column(BigInt)
    # open | closed
    status: Mapped[str] = mapped_column(String(16), default="open")
    # The plan, fixed when the round opens, so a resumed round sends the same questions.
    question_ids: Mapped[list[str]] = mapped_column(JSONType)
    open_seconds: Mapped[int] = mapped_column(Integer)
    intro_message_id: Mapped[int | None] = mapped_column(BigInt)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result_message_id: Mapped[int | None] = mapped_column(BigInt)


class QuizPoll(Base):
    """A native quiz poll the bot sent for one question of a round."""

    __tablename__ = "quiz_polls"
    __table_args__ = (UniqueConstraint("round_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Telegram's poll id: poll_answer updates carry nothing else to find the chat by.
    poll_id: Mapped[str] = mapped_column(String(64), unique=True)
    round_id: Mapped[int] = mapped_column(Integer, ForeignKey("quiz_rounds.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInt, index=True)
    position: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[int] = mapped_column(BigInt)
    question_id: Mapped[str] = mapped_column(String(32))
    # "1".."5" or "general", kept so statistics survive changes to the bank.
    requirement: Mapped[str] = mapped_column(String(8))
    correct_option: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QuizAnswer(Base):
    """A member's first answer to a round's poll (later votes never replace it)."""

    __tablename__ = "quiz_answers"
    __table_args__ = (
        UniqueConstraint("poll_id", "user_id"),
        Index("ix_quiz_answers_board", "chat_id", "answered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    poll_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("quiz_polls.poll_id", ondelete="CASCADE")
    )
    chat_id: Mapped[int] = mapped_column(BigInt)
    user_id: Mapped[int] = mapped_column(BigInt, index=True)
    option: Mapped[int] = mapped_column(Integer)
    correct: Mapped[bool] = mapped_column(Boolean)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A retracted vote scores nothing and counts nowhere; the member already saw the answer.
    retracted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PracticeSet(Base):
    """A member's private practice set (or review session): questions answered by buttons."""

    __tablename__ = "quiz_practice_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInt, index=True)
    # practice | review
    kind: Mapped[str] = mapped_column(String(16))
    # "1".."5" for /quiz 3, None for a mixed set.
    requirement: Mapped[str | None] = mapped_column(String(8))
    question_ids: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PracticeAnswer(Base):
    """One answered question of a practice set; the unique key makes double taps harmless."""

    __tablename__ = "quiz_practice_answers"
    __table_args__ = (UniqueConstraint("set_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("quiz_practice_sets.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(BigInt, index=True)
    position: Mapped[int] = mapped_column(Integer)
    question_id: Mapped[str] = mapped_column(String(32))
    requirement: Mapped[str] = mapped_column(String(8))
    option: Mapped[int] = mapped_column(Integer)
    correct: Mapped[bool] = mapped_column(Boolean)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewItem(Base):
    """A question in a member's review queue (Leitner box 1-5, due from ``due_at``)."""

    __tablename__ = "quiz_reviews"

    user_id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=False)
    question_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    box: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
