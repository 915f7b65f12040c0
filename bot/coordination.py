"""Several processes on one PostgreSQL: who does the background work, and is it alive.

Updates are handled by every process (a webhook delivery reaches any of them), but the
bulk senders, the scheduler tick and the outbox drain, run in one process at a time: the
one holding a PostgreSQL advisory lock on a connection of its own. Each process has its
own rate limiter, so two bulk senders would together exceed Telegram's ~30 messages a
second; one leader keeps a broadcast or a busy morning within the bot's budget. A leader
that dies loses its connection and with it the lock; another process takes over within
a few seconds, and the database claims (slots, outbox rows) say what is left to do.

On SQLite there is one process and it is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db import Database

logger = logging.getLogger(__name__)

# pg_advisory_lock keys (bigint), one per purpose; "firmbot" in ASCII plus a number.
LEADER_LOCK = 0x6669726D626F7401
MIGRATION_LOCK = 0x6669726D626F7402
# How often a follower tries to become the leader, and the leader checks its connection.
CHECK_SECONDS = 2.0
# A leader whose lock connection does not answer within this is no longer the leader.
CHECK_TIMEOUT = 5.0
SERVICES_KEY = "firmbot.coordinator"
STOPPING = "stopping"

Callback = Callable[[], Awaitable[None]]


@asynccontextmanager
async def migration_lock(db: Database) -> AsyncIterator[None]:
    """Processes starting together on PostgreSQL migrate one after the other."""
    if db.dialect != "postgresql":
        yield
        return
    await db.ping()  # DatabaseUnavailable, with a clean message, if it is not there
    conn = await db.engine.connect()
    try:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        yield
    finally:
        # Closing the socket releases the lock however the block ended.
        await conn.invalidate()
        await conn.close()


class TickMonitor:
    """When the tick job last ran, in real (monotonic) time, for /healthz.

    The fake clock tests use for business time says nothing about whether the job runs,
    so this counts seconds of the machine's monotonic clock.
    """

    def __init__(self) -> None:
        self.enabled = False
        self.last_run: float | None = None
        self.running_since: float | None = None
        self.ticks = 0

    def job_ran(self) -> None:
        self.last_run = time.monotonic()

    @contextlib.contextmanager
    def ticking(self) -> Any:
        self.running_since = time.monotonic()
        try:
            yield
        finally:
            self.running_since = None
            self.ticks += 1
            self.last_run = time.monotonic()

    def age(self) -> float | None:
        """Seconds since the tick job last ran (None: never)."""
        if self.last_run is None:
            return None
        return time.monotonic() - self.last_run

    def state(self, tick_seconds: float) -> tuple[bool, str]:
        """(alive, description): the job ran within three intervals, or a tick is running."""
        if not self.enabled:
            return True, "off"
        if self.running_since is not None:
            return True, "ok"  # a long tick (a busy morning) is progress, not a stall
        age = self.age()
        if age is None:
            return False, "not started"
        if age > 3 * tick_seconds:
            return False, f"stalled: last tick {age:.0f} s ago"
        return True, "ok"


class Coordinator:
    """Leader election by advisory lock, re-checked every ``check_seconds``."""

    def __init__(self, db: Database, *, check_seconds: float | None = None) -> None:
        self.db = db
        self.check_seconds = CHECK_SECONDS if check_seconds is None else check_seconds
        self.is_leader = False
        self.ticks = TickMonitor()
        self.on_gain: list[Callback] = []
        self.on_loss: list[Callback] = []
        self._conn: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._warned = False

    @property
    def shared(self) -> bool:
        """Several processes may share the database (PostgreSQL)."""
        return self.db.dialect == "postgresql"

    async def start(self) -> None:
        """Try to lead at once (so a single process starts its workers right away)."""
        await self.check()
        if self.shared and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="leader-election")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._lose(STOPPING)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("leader check failed")

    async def check(self) -> None:
        """Become the leader if nobody is; notice a lost lock connection."""
        if not self.shared:
            if not self.is_leader:
                await self._gain()
            return
        if self._conn is not None:
            try:
                async with asyncio.timeout(CHECK_TIMEOUT):
                    await self._conn.execute(text("SELECT 1"))
            except Exception as exc:
                await self._lose(f"lock connection lost ({type(exc).__name__})")
            return
        conn: AsyncConnection | None = None
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                conn = await self.db.engine.connect()
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                got = (
                    await conn.execute(
                        text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK}
                    )
                ).scalar()
        except Exception as exc:
            if conn is not None:
                await _discard(conn)
            if not self._warned:
                logger.warning("cannot contend for leadership: %s", type(exc).__name__)
                self._warned = True
            return
        self._warned = False
        if not got:
            await conn.close()  # nothing held; back to the pool
            return
        self._conn = conn
        await self._gain()

    async def _gain(self) -> None:
        self.is_leader = True
        logger.info("this process now runs the scheduler and the outbox")
        for callback in self.on_gain:
            try:
                await callback()
            except Exception:
                logger.exception("leader start-up step failed")

    async def _lose(self, why: str) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await _discard(conn)
        if not self.is_leader:
            return
        self.is_leader = False
        logger.log(
            logging.INFO if why == STOPPING else logging.WARNING, "no longer the leader: %s", why
        )
        for callback in self.on_loss:
            try:
                await callback()
            except Exception:
                logger.exception("leader stop step failed")


async def _discard(conn: AsyncConnection) -> None:
    """Close a connection for good (not back to the pool): its session locks go with it."""
    with contextlib.suppress(Exception):
        await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()


def get(extras: dict[str, Any]) -> Coordinator:
    value = extras[SERVICES_KEY]
    assert isinstance(value, Coordinator)
    return value
