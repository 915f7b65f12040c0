"""SQLite called on the event loop's thread (bot/db/sqlite_inline.py).

Without aiosqlite's thread, a writer that finds the database locked must not wait by
blocking: the transaction holding the lock may belong to another task of the same loop,
which could then never commit. These tests hold the write lock in a session of the same
process and in a connection of "another process", and check that the waiting writer
lets the loop run, gets its turn as soon as the lock is free, and fails as before
("database is locked") only when the lock outlives the timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from bot.config import DatabaseConfig
from bot.db import Database
from bot.db.sqlite_inline import CommitPlace, InlineSQLiteDialect, inline_url


class Beat:
    """Counts how often the event loop got to it: proof the loop was not blocked."""

    def __init__(self) -> None:
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            self.count += 1

    def __enter__(self) -> Beat:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "inline.db"


@pytest.fixture
async def db(path: Path) -> AsyncIterator[Database]:
    database = Database(DatabaseConfig(url=f"sqlite+aiosqlite:///{path}"))
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    yield database
    await database.dispose()


@pytest.fixture
async def quick(path: Path, db: Database) -> AsyncIterator[AsyncEngine]:
    """An engine on the same file that gives up on a lock after 0.3 s."""
    engine = create_async_engine(inline_url(f"sqlite:///{path}"), connect_args={"timeout": 0.3})
    yield engine
    await engine.dispose()


async def notes(db: Database) -> list[str]:
    async with db.session() as session:
        return list((await session.scalars(text("SELECT body FROM notes ORDER BY id"))).all())


async def test_the_database_uses_sqlite_in_line_whatever_the_configured_driver(
    db: Database,
) -> None:
    assert isinstance(db.engine.dialect, InlineSQLiteDialect)
    assert db.url.startswith("sqlite+aiosqlite://")  # what the admin configured, unchanged
    async with db.session() as session:
        await session.execute(text("INSERT INTO notes (body) VALUES ('一')"))
    # Rows are read whole before the result leaves the session's greenlet.
    async with db.engine.connect() as conn:
        result = await conn.execute(text("SELECT body FROM notes"))
    assert result.scalars().all() == ["一"]
    async with db.engine.connect() as conn:
        streamed = await conn.stream(text("SELECT body FROM notes"))
        assert [row async for row in streamed.scalars()] == ["一"]


async def test_two_sessions_of_one_process_take_turns_without_blocking_the_loop(
    db: Database,
) -> None:
    first_wrote = asyncio.Event()
    may_commit = asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with db.session() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES ('first')"))
            first_wrote.set()  # this session now holds the write lock
            await may_commit.wait()
        order.append("first committed")

    async def second() -> None:
        await first_wrote.wait()
        async with db.session() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES ('second')"))
        order.append("second committed")

    with Beat() as beat:
        tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
        await first_wrote.wait()
        await asyncio.sleep(0.3)  # the second writer is waiting for the lock all this time
        beats_while_waiting = beat.count
        assert order == []
        may_commit.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
    # A blocking wait would have stopped the loop (no beats) and the first session with it.
    assert beats_while_waiting >= 10
    assert order == ["first committed", "second committed"]
    assert await notes(db) == ["first", "second"]


async def test_a_writer_of_another_process_is_waited_for_then_the_write_goes_through(
    db: Database, path: Path
) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the write lock, as another process holds it
    other.execute("INSERT INTO notes (body) VALUES ('other')")
    asyncio.get_running_loop().call_later(0.2, other.execute, "COMMIT")
    started = time.monotonic()
    with Beat() as beat:
        async with db.session() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES ('ours')"))
    waited = time.monotonic() - started
    other.close()
    assert 0.15 <= waited < 2.0
    assert beat.count >= 5
    assert await notes(db) == ["other", "ours"]


async def test_a_lock_held_past_the_timeout_fails_as_database_is_locked(
    db: Database, path: Path, quick: AsyncEngine
) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    sessions = async_sessionmaker(quick)
    started = time.monotonic()
    try:
        with Beat() as beat, pytest.raises(OperationalError, match="database is locked"):
            async with sessions() as session:
                await session.execute(text("INSERT INTO notes (body) VALUES ('late')"))
        waited = time.monotonic() - started
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert 0.25 <= waited < 2.0
    assert beat.count >= 10
    # Nothing of the failed write remains, and the next one succeeds.
    async with sessions() as session, session.begin():
        await session.execute(text("INSERT INTO notes (body) VALUES ('on time')"))
    assert await notes(db) == ["on time"]


async def test_a_statement_that_is_wrong_fails_at_once_without_waiting(db: Database) -> None:
    started = time.monotonic()
    with pytest.raises(OperationalError, match="no such table"):
        async with db.session() as session:
            await session.execute(text("INSERT INTO missing (body) VALUES ('x')"))
    assert time.monotonic() - started < 0.5


def test_commits_move_to_a_thread_when_the_disk_syncs_slowly_and_back_when_it_is_fast() -> None:
    place = CommitPlace(slow=0.002, fast=0.0005)
    for _ in range(20):
        place.note(0.0002)  # a fast disk
    assert place.inline
    moved = 0
    while place.inline:
        place.note(0.010)  # the disk got slow: 10 ms a sync
        moved += 1
    assert moved <= 3  # a few slow commits are enough to move
    place.note(0.0001)
    assert not place.inline  # one fast commit is not
    for _ in range(40):
        place.note(0.0001)
    assert place.inline


async def test_commits_on_the_thread_of_a_slow_disk_are_written_like_the_others(
    db: Database,
) -> None:
    commits: CommitPlace = db.engine.dialect.dbapi.commits  # type: ignore[attr-defined]
    threads: list[str] = []
    note = commits.note

    def spy(seconds: float) -> None:
        threads.append(threading.current_thread().name)
        note(seconds)

    commits.note = spy  # type: ignore[method-assign]
    commits.slow = commits.fast = -1.0  # every disk is slow now
    for n in range(5):
        async with db.session() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES (:n)"), {"n": str(n)})
    assert await notes(db) == ["0", "1", "2", "3", "4"]
    assert threads[0] == threading.current_thread().name  # the first in-line, then moved
    assert all(name.startswith("sqlite-commit") for name in threads[1:]), threads
