"""Every model, imported so that ``Base.metadata`` knows all tables (Alembic, chat migration)."""

from __future__ import annotations

from bot.db.base import Base
from bot.db.models.core import (
    Chat,
    Member,
    OutboxMessage,
    ProcessedUpdate,
    Schedule,
    SlotClaim,
    User,
)

# Feature modules add their import here, one line each.
from bot.db.models.ledger import LedgerItem as LedgerItem  # and the other ledger tables
from bot.db.models.notices import Notice as Notice
from bot.db.models.quiz import QuizRound as QuizRound  # and the other quiz tables
from bot.db.models.study import StudyPost as StudyPost  # and the other study tables

__all__ = [
    "Base",
    "Chat",
    "Member",
    "OutboxMessage",
    "ProcessedUpdate",
    "Schedule",
    "SlotClaim",
    "User",
]
