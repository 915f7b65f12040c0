"""study: prompts sent, copies, check-ins, reflections, collective sessions, attendance

Revision ID: 0002_study
Revises: 0001_core
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.db.base

revision: str = "0002_study"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _utc() -> bot.db.base.UTCDateTime:
    return bot.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "study_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", BIGINT, nullable=False),
        sa.Column("prompt_id", sa.String(length=32), nullable=False),
        sa.Column("day_number", sa.Integer(), nullable=False),
        sa.Column("total_days", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("slot_date", sa.Date(), nullable=False),
        sa.Column("slot_at", _utc(), nullable=False),
        sa.Column("message_id", BIGINT, nullable=True),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_study_posts_chat_id_chats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_posts")),
        sa.UniqueConstraint(
            "chat_id", "message_id", name=op.f("uq_study_posts_chat_id_message_id")
        ),
        sa.UniqueConstraint("chat_id", "slot_date", name=op.f("uq_study_posts_chat_id_slot_date")),
    )
    op.create_table(
        "study_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", BIGINT, nullable=False),
        sa.Column("message_id", BIGINT, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["study_posts.id"],
            name=op.f("fk_study_copies_post_id_study_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_copies")),
        sa.UniqueConstraint(
            "chat_id", "message_id", name=op.f("uq_study_copies_chat_id_message_id")
        ),
    )
    with op.batch_alter_table("study_copies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_study_copies_post_id"), ["post_id"], unique=False)

    op.create_table(
        "study_checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", BIGINT, nullable=False),
        sa.Column("user_id", BIGINT, nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("checked_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["study_posts.id"],
            name=op.f("fk_study_checkins_post_id_study_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_checkins")),
        sa.UniqueConstraint("post_id", "user_id", name=op.f("uq_study_checkins_post_id_user_id")),
    )
    with op.batch_alter_table("study_checkins", schema=None) as batch_op:
        batch_op.create_index("ix_study_checkins_chat_user", ["chat_id", "user_id"], unique=False)

    op.create_table(
        "study_reflections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", BIGINT, nullable=False),
        sa.Column("user_id", BIGINT, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("parts", JSON, nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("excellent_at", _utc(), nullable=True),
        sa.Column("excellent_by", BIGINT, nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["study_posts.id"],
            name=op.f("fk_study_reflections_post_id_study_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_reflections")),
        sa.UniqueConstraint(
            "post_id", "user_id", name=op.f("uq_study_reflections_post_id_user_id")
        ),
    )
    with op.batch_alter_table("study_reflections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_study_reflections_chat_user", ["chat_id", "user_id"], unique=False
        )

    op.create_table(
        "study_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", BIGINT, nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("starts_at", _utc(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", BIGINT, nullable=True),
        sa.Column("announce_message_id", BIGINT, nullable=True),
        sa.Column("open_message_id", BIGINT, nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("opened_at", _utc(), nullable=True),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["chats.id"],
            name=op.f("fk_study_sessions_chat_id_chats"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_sessions")),
    )
    with op.batch_alter_table("study_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_study_sessions_chat_starts", ["chat_id", "starts_at"], unique=False
        )

    op.create_table(
        "study_attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", BIGINT, nullable=False),
        sa.Column("user_id", BIGINT, nullable=False),
        sa.Column("attended_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["study_sessions.id"],
            name=op.f("fk_study_attendance_session_id_study_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_attendance")),
        sa.UniqueConstraint(
            "session_id", "user_id", name=op.f("uq_study_attendance_session_id_user_id")
        ),
    )
    with op.batch_alter_table("study_attendance", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_study_attendance_chat_id"), ["chat_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("study_attendance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_attendance_chat_id"))
    op.drop_table("study_attendance")
    with op.batch_alter_table("study_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_study_sessions_chat_starts")
    op.drop_table("study_sessions")
    with op.batch_alter_table("study_reflections", schema=None) as batch_op:
        batch_op.drop_index("ix_study_reflections_chat_user")
    op.drop_table("study_reflections")
    with op.batch_alter_table("study_checkins", schema=None) as batch_op:
        batch_op.drop_index("ix_study_checkins_chat_user")
    op.drop_table("study_checkins")
    with op.batch_alter_table("study_copies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_copies_post_id"))
    op.drop_table("study_copies")
    op.drop_table("study_posts")
