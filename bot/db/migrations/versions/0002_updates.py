"""updates: webhook updates claimed once across processes

Revision ID: 0002_updates
Revises: 0001_core
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.base

revision: str = "0002_updates"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def _utc() -> bot.db.base.UTCDateTime:
    return bot.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "processed_updates",
        sa.Column("update_id", BIGINT, autoincrement=False, nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", _utc(), nullable=False),
        sa.Column("done_at", _utc(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_processed_updates")),
    )
    with op.batch_alter_table("processed_updates", schema=None) as batch_op:
        batch_op.create_index("ix_processed_updates_claimed_at", ["claimed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("processed_updates", schema=None) as batch_op:
        batch_op.drop_index("ix_processed_updates_claimed_at")
    op.drop_table("processed_updates")
