"""quiz: rounds, polls, answers; practice sets, practice answers, review queue

Revision ID: 0002_quiz
Revises: 0001_core
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.db.base

revision: str = "0002_quiz"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _utc() -> bot.db.base.UTCDateTime:
    return bot.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "quiz_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", BIGINT, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("slot_at", _utc(), nullable=True),
        sa.Column("started_by", BIGINT, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("question_ids", JSON, nullable=False),
        sa.Column("open_seconds", sa.Integer(), nullable=False),
        sa.Column("intro_message_id", BIGINT, nullable=True),
        sa.Column("opened_at", _utc(), nullable=False),
        sa.Column("closes_at", _utc(), nullable=False),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.Column("result_message_id", BIGINT, nullable=True),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_quiz_rounds_chat_id_chats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_rounds")),
        sa.UniqueConstraint("chat_id", "slot_at", name=op.f("uq_quiz_rounds_chat_id_slot_at")),
    )
    op.create_table(
        "quiz_polls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.String(length=64), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", BIGINT, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("message_id", BIGINT, nullable=False),
        sa.Column("question_id", sa.String(length=32), nullable=False),
        sa.Column("requirement", sa.String(length=8), nullable=False),
        sa.Column("correct_option", sa.Integer(), nullable=False),
        sa.Column("sent_at", _utc(), nullable=False),
        sa.Column("closes_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["quiz_rounds.id"],
            name=op.f("fk_quiz_polls_round_id_quiz_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_polls")),
        sa.UniqueConstraint("poll_id", name=op.f("uq_quiz_polls_poll_id")),
        sa.UniqueConstraint("round_id", "position", name=op.f("uq_quiz_polls_round_id_position")),
    )
    with op.batch_alter_table("quiz_polls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quiz_polls_chat_id"), ["chat_id"], unique=False)

    op.create_table(
        "quiz_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.String(length=64), nullable=False),
        sa.Column("chat_id", BIGINT, nullable=False),
        sa.Column("user_id", BIGINT, nullable=False),
        sa.Column("option", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("answered_at", _utc(), nullable=False),
        sa.Column("retracted_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["quiz_polls.poll_id"],
            name=op.f("fk_quiz_answers_poll_id_quiz_polls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_answers")),
        sa.UniqueConstraint("poll_id", "user_id", name=op.f("uq_quiz_answers_poll_id_user_id")),
    )
    with op.batch_alter_table("quiz_answers", schema=None) as batch_op:
        batch_op.create_index("ix_quiz_answers_board", ["chat_id", "answered_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_quiz_answers_user_id"), ["user_id"], unique=False)

    op.create_table(
        "quiz_practice_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", BIGINT, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("requirement", sa.String(length=8), nullable=True),
        sa.Column("question_ids", JSON, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_practice_sets")),
    )
    with op.batch_alter_table("quiz_practice_sets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quiz_practice_sets_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "quiz_practice_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("set_id", sa.Integer(), nullable=False),
        sa.Column("user_id", BIGINT, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.String(length=32), nullable=False),
        sa.Column("requirement", sa.String(length=8), nullable=False),
        sa.Column("option", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("answered_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["quiz_practice_sets.id"],
            name=op.f("fk_quiz_practice_answers_set_id_quiz_practice_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_practice_answers")),
        sa.UniqueConstraint(
            "set_id", "position", name=op.f("uq_quiz_practice_answers_set_id_position")
        ),
    )
    with op.batch_alter_table("quiz_practice_answers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quiz_practice_answers_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "quiz_reviews",
        sa.Column("user_id", BIGINT, autoincrement=False, nullable=False),
        sa.Column("question_id", sa.String(length=32), nullable=False),
        sa.Column("box", sa.Integer(), nullable=False),
        sa.Column("due_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "question_id", name=op.f("pk_quiz_reviews")),
    )


def downgrade() -> None:
    op.drop_table("quiz_reviews")
    with op.batch_alter_table("quiz_practice_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quiz_practice_answers_user_id"))
    op.drop_table("quiz_practice_answers")
    with op.batch_alter_table("quiz_practice_sets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quiz_practice_sets_user_id"))
    op.drop_table("quiz_practice_sets")
    with op.batch_alter_table("quiz_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quiz_answers_user_id"))
        batch_op.drop_index("ix_quiz_answers_board")
    op.drop_table("quiz_answers")
    with op.batch_alter_table("quiz_polls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quiz_polls_chat_id"))
    op.drop_table("quiz_polls")
    op.drop_table("quiz_rounds")
