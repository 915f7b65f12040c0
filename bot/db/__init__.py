"""Async engine, session factory and migrations."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from bot.config import DatabaseConfig
from bot.db.sqlite_inline import inline_url

logger = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class DatabaseUnavailable(Exception):
    """The database cannot be reached; the message says which and why (no password)."""


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Database:
    """The engine and the session factory; one session per update or job."""

    def __init__(self, config: DatabaseConfig) -> None:
        self.url = config.url
        kwargs: dict[str, Any] = {"echo": config.echo}
        url: str | URL = config.url
        if config.is_sqlite:
            # sqlite3 called on the event loop's thread (bot/db/sqlite_inline.py); writers
            # wait for each other, without blocking the loop, up to 30 s before failing
            # with "database is locked".
            url = inline_url(config.url)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=config.pool_size, max_overflow=config.pool_size)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if config.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            event.listen(self.engine.sync_engine, "checkin", _note_checkin)
            event.listen(self.engine.sync_engine, "checkout", _ping_if_idle)
        # A session class of this database's own, so that session events (``listen``)
        # reach its sessions only, not those of another Database in the same process.
        self._session_class: type[Session] = type("FirmBotSession", (Session,), {})
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=self._session_class
        )
        # Reading and standalone sessions: on PostgreSQL without a transaction, so a read
        # (or a single write) is one round trip instead of BEGIN, the statement and COMMIT.
        # On SQLite they are ordinary sessions (a standalone one is committed at its end).
        self._autocommit = (
            self.sessions
            if config.is_sqlite
            else async_sessionmaker(
                self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
                sync_session_class=self._session_class,
            )
        )

    def listen(self, name: str, fn: Callable[..., Any]) -> None:
        """A SQLAlchemy session event (``after_flush``, ``after_commit`` ...) of this database."""
        event.listen(self._session_class, name, fn)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session committed when the block ends normally, rolled back otherwise."""
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads: each statement sees what was committed when it ran
        (no snapshot across statements on PostgreSQL). Changing an object in it is a bug."""
        async with self._unpaired("read", "reading", writes=False) as session:
            yield session

    @asynccontextmanager
    async def standalone(self) -> AsyncIterator[AsyncSession]:
        """A session whose statements each stand alone: on PostgreSQL every statement
        commits as it runs (no BEGIN and COMMIT round trips), so use it only for work
        that is one writing statement, with reads around it. Core statements only:
        changing an ORM object in it is a bug (its flush would not be atomic)."""
        async with self._unpaired("standalone", "standalone", writes=True) as session:
            yield session

    @asynccontextmanager
    async def _unpaired(
        self, method: str, label: str, *, writes: bool
    ) -> AsyncIterator[AsyncSession]:
        """A session without BEGIN/COMMIT on PostgreSQL; on SQLite an ordinary one, committed
        at its end if it ``writes``. ORM changes in it raise."""
        async with self._autocommit() as session:
            try:
                yield session
                if session.new or session.dirty or session.deleted:
                    raise RuntimeError(f"a {label} session (Database.{method}) was given changes")
                if writes and self.dialect == "sqlite":
                    await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (OSError, DBAPIError, OperationalError) as exc:
            reason = str(getattr(exc, "orig", exc) or exc).splitlines()[0]
            raise DatabaseUnavailable(
                f"database {safe_url(self.url)} is unreachable: {reason}"
            ) from None

    async def upgrade(self) -> None:
        """Apply every Alembic migration (all heads) over this engine's connection."""
        await self.ping()
        async with self.engine.begin() as conn:
            await conn.run_sync(_run_upgrade, self.url)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _run_upgrade(connection: Connection, url: str) -> None:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "heads")


# A pooled connection idle for longer than this is tried (a round trip) before it is
# handed out; one in use moments ago is trusted. SQLAlchemy's pool_pre_ping tries every
# checkout: a round trip per transaction, a tenth of an update's CPU on PostgreSQL.
# The rare stale connection that gets through (the server restarted within this second)
# fails its statement as a disconnect; SQLAlchemy then replaces every connection of the
# pool, and a webhook update is answered 503 and delivered again.
IDLE_PING_SECONDS = 1.0


def _note_checkin(dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    idle_since = record.info.get("checked_in_at")
    if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
        return  # a new connection, or one in use moments ago
    try:
        dbapi_connection.ping()
    except Exception as exc:
        # The pool drops this connection and checks out another (a new one if need be).
        raise DisconnectionError(f"a pooled connection failed its ping: {exc!r}") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
