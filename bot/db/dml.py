"""Statements the ORM has no word for: insert-or-ignore and upsert, on both databases."""

from __future__ import annotations

import functools
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
    statement = _insert_ignore(dialect, model.__table__, tuple(conflict))
    result = await session.execute(statement, dict(values))
    return bool(getattr(result, "rowcount", 0))


async def upsert(
    session: AsyncSession,
    model: type[Base],
    values: Mapping[str, Any],
    conflict: Sequence[str],
    update: Sequence[str],
) -> None:
    """INSERT ... ON CONFLICT (conflict) DO UPDATE SET the ``update`` columns to ``values``."""
    dialect = session.get_bind().dialect.name
    statement = _upsert(dialect, model.__table__, tuple(conflict), tuple(update))
    await session.execute(statement, dict(values))


# The statements are built once per shape, and the values go in as parameters: a
# statement rebuilt with its values inside costs SQLAlchemy a cache key over them on
# every call (these run on every check-in and poll answer).


@functools.cache
def _insert_ignore(dialect: str, table: Any, conflict: tuple[str, ...]) -> Any:
    return insert_builder(dialect)(table).on_conflict_do_nothing(index_elements=conflict)


@functools.cache
def _upsert(
    dialect: str,
    table: Any,
    conflict: tuple[str, ...],
    update: tuple[str, ...],
) -> Any:
    statement = insert_builder(dialect)(table)
    return statement.on_conflict_do_update(
        index_elements=conflict, set_={name: statement.excluded[name] for name in update}
    )


def insert_builder(dialect: str) -> Any:
    """The dialect's ``insert`` (the one with ``on_conflict_*``)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
