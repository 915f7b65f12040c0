"""An index on slot_claims.slot_at: finished claims are deleted after a retention period.

Revision ID: 0005_claims_slot_at
Revises: 0004_running_claims
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_claims_slot_at"
down_revision: str | Sequence[str] | None = "0004_running_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_slot_claims_slot_at", "slot_claims", ["slot_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_slot_claims_slot_at", table_name="slot_claims")
