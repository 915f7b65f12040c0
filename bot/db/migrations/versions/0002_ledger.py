"""ledger: items, their history, per-chat number counters

Revision ID: 0002_ledger
Revises: 0001_core
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.base

revision: str = "0002_ledger"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def _utc() -> bot.db.base.UTCDateTime:
    return bot.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ledger_counters",
        sa.Column("chat_id", BIGINT, nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_ledger_counters_chat_id_chats"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chat_id", "year", name=op.f("pk_ledger_counters")),
    )
    op.create_table(
        "ledger_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", BIGINT, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("requirement", sa.Integer(), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("owner_user_id", BIGINT, nullable=True),
        sa.Column("owner_username", sa.String(length=64), nullable=True),
        sa.Column("owner_name", sa.String(length=255), nullable=False),
        sa.Column("deadline_date", sa.Date(), nullable=False),
        sa.Column("deadline_time", sa.String(length=5), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("evidence_kind", sa.String(length=16), nullable=True),
        sa.Column("evidence_text", sa.Text(), nullable=True),
        sa.Column("evidence_file_id", sa.String(length=255), nullable=True),
        sa.Column("evidence_file_name", sa.String(length=255), nullable=True),
        sa.Column("submitted_at", _utc(), nullable=True),
        sa.Column("submitted_by", BIGINT, nullable=True),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.Column("closed_by", BIGINT, nullable=True),
        sa.Column("closed_by_name", sa.String(length=255), nullable=True),
        sa.Column("snoozed_until", _utc(), nullable=True),
        sa.Column("snoozed_on", sa.Date(), nullable=True),
        sa.Column("reminded_on", sa.Date(), nullable=True),
        sa.Column("escalated_at", _utc(), nullable=True),
        sa.Column("created_by", BIGINT, nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_ledger_items_chat_id_chats"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_items")),
        sa.UniqueConstraint(
            "chat_id", "year", "seq", name=op.f("uq_ledger_items_chat_id_year_seq")
        ),
    )
    with op.batch_alter_table("ledger_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_items_chat_status", ["chat_id", "status", "deadline_date"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_items_owner_user_id"), ["owner_user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_items_owner_username"), ["owner_username"], unique=False
        )
    op.create_table(
        "ledger_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor_id", BIGINT, nullable=True),
        sa.Column("actor_name", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=True),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["ledger_items.id"], name=op.f("fk_ledger_events_item_id_ledger_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_events")),
    )
    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_events_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_events_item_id"))
    op.drop_table("ledger_events")
    with op.batch_alter_table("ledger_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_items_owner_username"))
        batch_op.drop_index(batch_op.f("ix_ledger_items_owner_user_id"))
        batch_op.drop_index("ix_ledger_items_chat_status")
    op.drop_table("ledger_items")
    op.drop_table("ledger_counters")
