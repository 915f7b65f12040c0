"""Merge the feature branches; chats remember which feature hooks derived their schedules.

Revision ID: 0003_merge
Revises: 0002_ledger, 0002_notices, 0002_quiz, 0002_study, 0002_updates
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_merge"
down_revision: str | Sequence[str] | None = (
    "0002_ledger",
    "0002_notices",
    "0002_quiz",
    "0002_study",
    "0002_updates",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hooks_version", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.drop_column("hooks_version")
