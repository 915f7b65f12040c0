"""Sessions and pooled connections (bot/db).

PostgreSQL's pooled connections are tried before use only after being idle.

A connection the server dropped is replaced without the caller noticing when it had been
idle; one in use a moment ago is trusted, and if the server dropped it the caller sees
the disconnect once and the pool renews every connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import insert as sa_insert
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.exc import DBAPIError

import bot.db as db_module
from bot.config import DatabaseConfig
from bot.db import Database
from bot.db.models import Chat


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every ping of a pooled connection, and whether it answered."""
    seen: list[str] = []
    original = AsyncAdapt_asyncpg_connection.ping

    def ping(self: Any) -> None:
        try:
            original(self)
        except Exception:
            seen.append("failed")
            raise
        seen.append("ok")

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", ping)
    yield seen


async def _drop_connections(url: str) -> int:
    """The server ends every other session of this database (as a restart would)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return len(rows)
    finally:
        await conn.close()


async def _select_one(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(text("SELECT 1"))).scalar_one())


async def test_a_connection_dropped_while_idle_is_replaced_unnoticed(
    database_url: str, monkeypatch: pytest.MonkeyPatch, pings: list[str]
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's pool (SQLite has no server to lose)")
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)  # any pause counts as idle
    db = Database(DatabaseConfig(url=database_url))
    try:
        assert await _select_one(db) == 1
        assert pings == []  # a new connection is not tried
        assert await _drop_connections(database_url) == 1
        assert await _select_one(db) == 1  # the ping failed; a new connection answered
        assert pings == ["failed"]
        assert await _select_one(db) == 1
        assert pings == ["failed", "ok"]
    finally:
        await db.dispose()


async def test_a_connection_in_use_moments_ago_is_trusted_and_a_drop_is_seen_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch, pings: list[str]
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's pool (SQLite has no server to lose)")
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 3600.0)
    db = Database(DatabaseConfig(url=database_url))
    try:
        for _ in range(5):
            assert await _select_one(db) == 1
        assert pings == []  # no round trip before each transaction
        assert await _drop_connections(database_url) == 1
        with pytest.raises(DBAPIError) as caught:
            await _select_one(db)
        assert caught.value.connection_invalidated
        assert await _select_one(db) == 1  # the pool was renewed
        assert pings == []
    finally:
        await db.dispose()


# --- reading sessions (Database.read) ---


async def test_a_reading_session_takes_no_transaction_on_postgresql(database_url: str) -> None:
    """Each statement of a reading session is its own transaction on PostgreSQL (no BEGIN
    and COMMIT round trips); a normal session's statements share one."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite reads go through the normal session")
    db = Database(DatabaseConfig(url=database_url))
    now = text("SELECT now()")  # the start of the current transaction
    try:
        async with db.read() as session:
            first = (await session.execute(now)).scalar_one()
            await asyncio.sleep(0.01)
            second = (await session.execute(now)).scalar_one()
        assert second > first
        async with db.session() as session:
            first = (await session.execute(now)).scalar_one()
            await asyncio.sleep(0.01)
            second = (await session.execute(now)).scalar_one()
        assert second == first
    finally:
        await db.dispose()


@pytest.mark.parametrize("kind", ["read", "standalone"])
async def test_changing_an_object_in_a_reading_or_standalone_session_is_refused(
    database_url: str, kind: str
) -> None:
    """Their statements commit one by one on PostgreSQL: an ORM flush there would not be
    atomic, so changing objects is refused, and nothing is written."""
    db = Database(DatabaseConfig(url=database_url))
    label = "reading" if kind == "read" else "standalone"
    try:
        with pytest.raises(RuntimeError, match=f"a {label} session"):
            async with getattr(db, kind)() as session:
                session.add(Chat(id=-100, type="group", title="示范律师事务所"))
        async with db.read() as session:
            assert await session.get(Chat, -100) is None
    finally:
        await db.dispose()


# --- standalone sessions (Database.standalone) ---


async def test_a_standalone_write_commits_as_it_runs_on_postgresql_and_at_the_end_on_sqlite(
    database_url: str,
) -> None:
    """On PostgreSQL each statement is its own transaction: a write is stored the moment
    it runs, even if the block fails afterwards. On SQLite the block commits at its end."""
    db = Database(DatabaseConfig(url=database_url))
    insert = sa_insert(Chat).values(type="group")  # a Core statement (column defaults apply)
    try:
        with pytest.raises(LookupError):
            async with db.standalone() as session:
                await session.execute(insert, {"id": -201, "title": "示范律师事务所"})
                raise LookupError("the block fails after the write")
        async with db.read() as session:
            kept = await session.get(Chat, -201)
        assert (kept is not None) == database_url.startswith("postgresql")
        async with db.standalone() as session:
            await session.execute(insert, {"id": -202, "title": "另一家律师事务所"})
        async with db.read() as session:
            stored = await session.get(Chat, -202)
        assert stored is not None and stored.title == "另一家律师事务所"
    finally:
        await db.dispose()
