"""Several processes on one database: one leader drains the outbox and ticks, within budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot import coordination, outbox
from bot.clock import FakeClock
from bot.config import DatabaseConfig
from bot.content.loader import Content
from bot.db import Database
from bot.db.models import OutboxMessage
from bot.sandbox.driver import BotHarness, harness_config
from bot.sandbox.emulator import Emulator


@pytest.fixture(autouse=True)
def quick_elections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coordination, "CHECK_SECONDS", 0.1)


@pytest.fixture
async def pair(
    emulator: Emulator, database_url: str, clock: FakeClock, content: Content
) -> AsyncIterator[tuple[BotHarness, BotHarness]]:
    """Two applications sharing the database (neither takes updates: no polling conflict)."""
    bots = [
        BotHarness(
            emulator,
            harness_config(emulator, database_url),
            clock,
            content=content,
            polling=False,
            jobs=True,
        )
        for _ in range(2)
    ]
    for bot in bots:
        await bot.start()
    try:
        yield bots[0], bots[1]
    finally:
        for bot in bots:
            await bot.stop()


def leaders(*bots: BotHarness) -> list[bool]:
    return [coordination.get(b.services.extras).is_leader for b in bots]


async def test_one_leader_on_postgresql_and_every_process_leads_alone_on_sqlite(
    pair: tuple[BotHarness, BotHarness], database_url: str, emulator: Emulator
) -> None:
    first, second = pair
    if database_url.startswith("sqlite"):
        assert leaders(first, second) == [True, True]  # one process per SQLite file
        return
    assert leaders(first, second) == [True, False]
    await first.stop()
    await emulator.wait_for(lambda: leaders(second) == [True], timeout=5)


async def test_a_broadcast_is_drained_by_one_process_within_the_rate_budget(
    pair: tuple[BotHarness, BotHarness], emulator: Emulator, clock: FakeClock, database_url: str
) -> None:
    first, second = pair
    # Over 35 a second is refused: one limiter's jitter never gets there, two drainers do.
    emulator.enforce_rate_limits(global_per_second=35, per_group_per_minute=20)
    groups = [emulator.create_group(f"律所{i}") for i in range(90)]
    for group in groups:
        emulator.set_member(group.id, emulator.bot_user, "member")
    started = time.monotonic()
    async with first.services.db.session() as session:
        await outbox.enqueue(
            session,
            kind="test",
            ref="budget",
            chat_ids=[g.id for g in groups],
            payload={"text": "通知"},
            now=clock.now(),
        )
    for bot in (first, second):
        bot.services.outbox.wake()
    await emulator.wait_for(lambda: all(emulator.messages(g.id) for g in groups), timeout=20)
    elapsed = time.monotonic() - started
    assert all(len(emulator.messages(g.id)) == 1 for g in groups)
    refused = [c for c in emulator.calls("sendMessage") if c.status == 429]
    if database_url.startswith("postgresql"):
        assert refused == []  # one drainer at a time
        assert elapsed >= 90 / 30 - 0.5
        async with first.services.db.session() as session:
            owners = set((await session.scalars(select(OutboxMessage.claimed_by))).all())
        assert owners == {first.services.scheduler.owner}


async def test_processes_starting_together_migrate_one_at_a_time(database_url: str) -> None:
    """Holding the migration lock makes a second migrator wait (PostgreSQL)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one process")
    db = Database(DatabaseConfig(url=database_url))
    other = Database(DatabaseConfig(url=database_url))
    try:
        async with coordination.migration_lock(db):
            waiting = asyncio.create_task(_migrate_under_lock(other))
            await asyncio.sleep(0.3)
            assert not waiting.done()
        await asyncio.wait_for(waiting, 10)
    finally:
        await db.dispose()
        await other.dispose()


async def _migrate_under_lock(db: Database) -> None:
    async with coordination.migration_lock(db):
        await db.upgrade()
