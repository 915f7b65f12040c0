"""Every model, imported so that ``Base.metadata`` knows all tables (Alembic, chat migration)."""

from __future__ import annotations

from bot.db.base import Base
from bot.db.models.core import Chat, Member, OutboxMessage, Schedule, SlotClaim, User

# Feature modules add their import here, one line each.

__all__ = ["Base", "Chat", "Member", "OutboxMessage", "Schedule", "SlotClaim", "User"]
