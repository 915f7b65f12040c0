"""SQLite on the event loop's own thread, for SQLAlchemy's asyncio engine.

SQLAlchemy's ``sqlite+aiosqlite`` driver hands every cursor call (open, execute, fetch,
close) and every commit to aiosqlite's thread and waits for the answer: four or five
trips between threads for one statement. A statement on a local SQLite file takes a
few microseconds, the trips about a hundred each (the benchmark's ``bench/updates``
measured 0.61 ms of CPU for a one-query transaction through aiosqlite, 0.13 ms calling
``sqlite3`` directly). This dialect calls ``sqlite3`` directly instead.

The one thing a thread gave for free is waiting for a lock. In WAL mode readers never
wait, but a writer waits for the writer before it; SQLite's own ``busy_timeout`` would
wait by blocking, which on the event loop's thread blocks every other task too —
including the one whose transaction holds the lock, so two of FirmBot's own sessions
could deadlock for the whole timeout. So connections are opened with no busy timeout;
a statement or commit answered ``SQLITE_BUSY`` is tried again after an ``asyncio``
sleep (1 ms, doubling to 50 ms) until the configured timeout (the ``timeout`` connect
argument, as with ``sqlite3``), and only then fails with "database is locked" as
before. A statement that failed with ``SQLITE_BUSY`` had no effect, so trying it again
is what SQLite's own busy handler does. ``SQLITE_BUSY_SNAPSHOT`` (a read transaction
that can no longer become a write one) cannot succeed by waiting and fails at once.

The cost: a long query holds the event loop for its duration instead of running beside
it. FirmBot's queries on SQLite are short (the scale benchmark's scheduler tick over
100,000 ledger items is one of the longest); a large deployment runs on PostgreSQL.

Used for every ``sqlite+aiosqlite`` URL by ``bot.db.Database`` (the configured scheme
stays the same); registered as ``sqlite+firmbot``.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Generator, Iterator
from typing import Any, TypeVar

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL, AdaptedConnection, make_url
from sqlalchemy.util.concurrency import await_

T = TypeVar("T")
logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0  # sqlite3's default
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.05
_BUSY_SNAPSHOT = 517  # SQLITE_BUSY | (2 << 8)
# Commits wait for fsync here while the disk syncs slowly (threads start when needed).
_COMMITS = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="sqlite-commit")


class CommitPlace:
    """Where a commit that wrote runs: on the loop's thread while the disk syncs fast, on a
    thread of ``_COMMITS`` while it does not.

    A commit waits for fsync of the WAL file. On a disk that syncs in a fraction of a
    millisecond that wait is shorter than the hand-over to a thread and back, which under
    load costs about a millisecond of CPU per commit (the two threads take turns holding
    the GIL; bench/updates measured it). On a slow disk the loop must not stop for each
    sync. So the average commit time (over about the last ten) decides: above ``slow``
    commits move to the thread; there, below ``fast``, they come back.
    """

    def __init__(self, slow: float = 0.002, fast: float = 0.0005) -> None:
        self.slow = slow
        self.fast = fast
        self.average = 0.0
        self.inline = True

    def note(self, seconds: float) -> None:
        self.average += (seconds - self.average) * 0.1
        if self.inline and self.average > self.slow:
            self.inline = False
            logger.info("SQLite commits are slow (%.1f ms): now on a thread", self.average * 1e3)
        elif not self.inline and self.average < self.fast:
            self.inline = True
            logger.info("SQLite commits are fast (%.2f ms): now in-line", self.average * 1e3)


class _Done(Awaitable[None]):
    """An awaitable that completes at once.

    SQLAlchemy's ``AsyncConnection.execute`` checks that the driver awaited something
    (a synchronous driver used by mistake would block the loop); every statement passes
    through one such trivial await, a greenlet switch and back.
    """

    def __await__(self) -> Generator[Any, None, None]:
        return (yield from ())


_DONE = _Done()


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(code, int):  # not from the SQLite library itself
        return False
    return code & 0xFF == sqlite3.SQLITE_BUSY and code != _BUSY_SNAPSHOT


class InlineCursor:
    """A ``sqlite3`` cursor whose execute and executemany wait for locks without blocking.

    As with SQLAlchemy's aiosqlite adapter, a result is read whole when the statement
    runs (so no statement stays open between awaits), unless the cursor is "server side"
    (``stream()``): then rows are stepped through as they are fetched.
    """

    __slots__ = ("_connection", "_cursor", "_rows", "_server_side")

    def __init__(self, connection: InlineConnection, server_side: bool) -> None:
        self._connection = connection
        self._cursor: sqlite3.Cursor = connection.raw.cursor()
        self._rows: collections.deque[Any] | None = None
        self._server_side = server_side

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    def execute(self, operation: str, parameters: Any = None) -> InlineCursor:
        await_(_DONE)
        if parameters is None:
            self._connection.patiently(self._cursor.execute, operation)
        else:
            self._connection.patiently(self._cursor.execute, operation, parameters)
        self._buffer()
        return self

    def executemany(self, operation: str, seq_of_parameters: Any) -> InlineCursor:
        await_(_DONE)
        self._connection.patiently(self._cursor.executemany, operation, seq_of_parameters)
        self._buffer()
        return self

    def _buffer(self) -> None:
        if self._server_side or self._cursor.description is None:
            self._rows = None
        else:
            self._rows = collections.deque(self._cursor.fetchall())

    def fetchone(self) -> Any:
        if self._rows is None:
            return self._cursor.fetchone()
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        if size is None:
            size = self._cursor.arraysize
        if self._rows is None:
            return self._cursor.fetchmany(size)
        rows = self._rows
        return [rows.popleft() for _ in range(min(size, len(rows)))]

    def fetchall(self) -> list[Any]:
        if self._rows is None:
            return self._cursor.fetchall()
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __iter__(self) -> Iterator[Any]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        if self._rows is not None:
            self._rows.clear()
        self._cursor.close()

    async def _async_soft_close(self) -> None:
        """Called by SQLAlchemy before a result leaves the greenlet: rows are buffered."""

    def setinputsizes(self, *sizes: Any) -> None:
        pass

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        pass


class InlineConnection(AdaptedConnection):
    """A ``sqlite3`` connection for the asyncio engine (DBAPI interface, called in-line)."""

    __slots__ = ("busy_timeout", "dbapi", "raw")

    def __init__(self, dbapi: InlineDBAPI, connection: sqlite3.Connection, busy_timeout: float):
        self.dbapi = dbapi
        self.raw = connection
        self._connection = connection  # type: ignore[assignment]  # AdaptedConnection's
        self.busy_timeout = busy_timeout

    def patiently(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``; while SQLite answers "busy", try again after an asyncio sleep."""
        pause = _FIRST_PAUSE
        deadline: float | None = None
        while True:
            try:
                return fn(*args)
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.busy_timeout
                if now + pause > deadline:
                    raise
            await_(asyncio.sleep(pause))
            pause = min(pause * 2, _LONGEST_PAUSE)

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self.raw.isolation_level = value  # type: ignore[assignment]  # as SQLAlchemy sets it

    def cursor(self, server_side: bool = False) -> InlineCursor:
        return InlineCursor(self, server_side)

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.raw.create_function(*args, **kwargs)

    def commit(self) -> None:
        if not self.raw.in_transaction:  # nothing written: sqlite3's commit is a no-op
            return
        if self.dbapi.commits.inline:
            self.patiently(self._timed_commit)
        else:
            self.patiently(self._commit_on_thread)

    def _timed_commit(self) -> None:
        started = time.perf_counter()
        try:
            self.raw.commit()
        finally:
            self.dbapi.commits.note(time.perf_counter() - started)

    def _commit_on_thread(self) -> None:
        # The connection is not used by anything else meanwhile: its session is waiting
        # for this commit.
        job = _COMMITS.submit(self._timed_commit)
        try:
            await_(asyncio.wrap_future(job))
        except asyncio.CancelledError:
            # A thread cannot be stopped: the commit finishes (or fails) before the
            # session's clean-up touches the connection from this thread.
            concurrent.futures.wait([job])
            raise

    def rollback(self) -> None:
        self.raw.rollback()

    def close(self) -> None:
        self.raw.close()

    def terminate(self) -> None:
        """What the aiosqlite dialect calls to drop a connection that failed: a close."""
        self.raw.close()


class InlineDBAPI:
    """The DBAPI "module" the dialect sees: ``sqlite3``'s, connecting without a busy timeout."""

    paramstyle = "qmark"
    apilevel = "2.0"
    threadsafety = 1
    has_stop = False  # read by the aiosqlite dialect's constructor: no terminate()

    def __init__(self) -> None:
        self.sqlite = sqlite3
        self.commits = CommitPlace()  # one per engine: its database file's disk
        for name in (
            "DatabaseError",
            "Error",
            "IntegrityError",
            "InterfaceError",
            "InternalError",
            "DataError",
            "NotSupportedError",
            "OperationalError",
            "ProgrammingError",
            "Warning",
            "sqlite_version",
            "sqlite_version_info",
            "PARSE_COLNAMES",
            "PARSE_DECLTYPES",
            "Binary",
        ):
            setattr(self, name, getattr(sqlite3, name))

    def connect(self, *args: Any, **kwargs: Any) -> InlineConnection:
        kwargs.pop("async_creator_fn", None)
        busy_timeout = float(kwargs.pop("timeout", DEFAULT_TIMEOUT))
        database = args[0] if args else kwargs.pop("database")
        # No busy timeout: waits are asyncio sleeps (``patiently``). Another thread may
        # use the connection: ``commit`` runs on one, and pool clean-up after garbage
        # collection may close it from one; never two threads at the same moment.
        kwargs.update(timeout=0, check_same_thread=False)
        connection: sqlite3.Connection = sqlite3.connect(database, *args[1:], **kwargs)
        return InlineConnection(self, connection, busy_timeout)


class InlineSQLiteDialect(SQLiteDialect_aiosqlite):
    """``sqlite+firmbot``: the pysqlite dialect, asynchronous, with ``sqlite3`` in-line."""

    driver = "firmbot"
    supports_statement_cache = True
    is_async = True
    has_terminate = False

    @classmethod
    def import_dbapi(cls) -> Any:
        return InlineDBAPI()

    def retrieve_dbapi_version(self, dbapi: Any) -> Any:
        return sqlite3.sqlite_version_info


def inline_url(url: str | URL) -> URL:
    """The same SQLite database through this dialect."""
    return make_url(url).set(drivername="sqlite+firmbot")


registry.register("sqlite.firmbot", __name__, "InlineSQLiteDialect")

__all__ = ("InlineSQLiteDialect", "inline_url")
