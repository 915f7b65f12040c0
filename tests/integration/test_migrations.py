"""Alembic's migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from bot.config import DatabaseConfig
from bot.db import Database, alembic_config
from bot.db.models import Base


def _diff(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    db = Database(DatabaseConfig(url=database_url))
    try:
        await db.upgrade()  # idempotent on an up-to-date database
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(_diff)
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await db.dispose()
    assert diff == []
    assert set(Base.metadata.tables) <= tables


def test_revisions_form_one_history_without_stray_heads() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    revisions = list(script.walk_revisions())
    assert revisions, "no migrations"
    # Every revision descends from the first one.
    assert script.get_bases() == ["0001_core"]
    # Feature branches are merged: one head, so `alembic upgrade head` works too.
    assert len(script.get_heads()) == 1
