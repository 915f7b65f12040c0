"""Statements the ORM has no word for: insert-or-ignore and upsert, on both databases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.base import Base


async def insert_ignore(
    session: AsyncSession,
    model: type[Base],
    values: Mapping[str, Any],
    conflict: Sequence[str],
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True if the row was inserted.

    Atomic on both databases, so two processes (or a button press racing a reply)
    cannot both insert, and the surrounding transaction stays usable either way.
    """
    dialect = session.get_bind().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = builder(model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


async def upsert(
    session: AsyncSession,
    model: type[Base],
    values: Mapping[str, Any],
    conflict: Sequence[str],
    update: Mapping[str, Any],
) -> None:
    """INSERT ... ON CONFLICT (conflict) DO UPDATE SET update: one statement, race-free."""
    dialect = session.get_bind().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = builder(model).values(**values)
    await session.execute(statement.on_conflict_do_update(index_elements=conflict, set_=update))
