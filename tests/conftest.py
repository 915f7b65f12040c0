"""Fixtures: config, a throwaway database (SQLite and PostgreSQL), the emulator, a running bot.

PostgreSQL tests need ``FIRMBOT_TEST_PG`` (an asyncpg URL to a server where we may create
databases); ``make test`` and ``.ci/run`` start a throwaway server and set it. Without it
the PostgreSQL variants are skipped, loudly.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FakeClock
from bot.config import DatabaseConfig
from bot.content.loader import Content, load_content
from bot.content.paths import default_content_dir
from bot.db import Database
from bot.sandbox.driver import BotHarness, GroupChat, harness_config, make_group
from bot.sandbox.emulator import Emulator

# As the CLI does: PTB's timedelta fields instead of deprecation warnings.
os.environ.setdefault("PTB_TIMEDELTA", "1")

SHANGHAI = ZoneInfo("Asia/Shanghai")
PG_ENV = "FIRMBOT_TEST_PG"
# A Monday, workday, at 08:00 Shanghai time.
DEFAULT_START = datetime(2023, 7, 24, 8, 0, tzinfo=SHANGHAI)
# pytest-xdist's worker ("gw0", "gw1", ...; "main" in a serial run): part of every database
# name, so the workers sharing one server never meet and leftovers say whose they were.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def pytest_report_header(config: pytest.Config) -> str:
    pg = os.environ.get(PG_ENV)
    return f"PostgreSQL for tests: {pg}" if pg else f"PostgreSQL tests SKIPPED ({PG_ENV} not set)"


async def _migrate(url: str) -> None:
    db = Database(DatabaseConfig(url=url))
    try:
        await db.upgrade()
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def content() -> Content:
    """The shipped content, loaded once for the whole run."""
    return load_content(default_content_dir())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


def _pg_admin_dsn() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        return None
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _with_database(dsn: str, name: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{name}"


async def _pg_exec(dsn: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A migrated PostgreSQL database used as the TEMPLATE of each test's database."""
    dsn = _pg_admin_dsn()
    if dsn is None:
        yield None
        return
    name = f"firmbot_tpl_{WORKER}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_exec(dsn, f'CREATE DATABASE "{name}"'))
    asyncio.run(
        _migrate(_with_database(dsn, name).replace("postgresql://", "postgresql+asyncpg://"))
    )
    yield name
    asyncio.run(_pg_exec(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_template: str | None
) -> AsyncIterator[str]:
    """A fresh, migrated database for one test, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "firmbot.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    dsn = _pg_admin_dsn()
    if dsn is None or pg_template is None:
        pytest.skip(f"PostgreSQL not configured ({PG_ENV})")
    name = f"firmbot_t_{WORKER}_{uuid.uuid4().hex[:10]}"
    await _pg_exec(dsn, f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield _with_database(dsn, name).replace("postgresql://", "postgresql+asyncpg://")
    finally:
        await _pg_exec(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    from bot.sandbox.emulator import Emulator

    async with Emulator() as emu:
        yield emu


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(DEFAULT_START)


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """Override in a test module to change the bot's config for its tests."""
    return {}


@pytest.fixture
async def harness(
    emulator: Emulator,
    database_url: str,
    clock: FakeClock,
    content: Content,
    config_overrides: dict[str, Any],
) -> AsyncIterator[BotHarness]:
    """FirmBot running (long polling) against the emulator on a fresh database."""
    from bot.sandbox.driver import BotHarness

    config = harness_config(emulator, database_url, **config_overrides)
    bot = BotHarness(emulator, config, clock, content=content)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


@pytest.fixture
async def firm(harness: BotHarness) -> GroupChat:
    """A firm's group with the bot as admin: 张三 (creator), 王律师 (admin), 李四 (member)."""

    return await make_group(
        harness, "示范律师事务所", ["张三", "王律师", "李四"], admins=("王律师",)
    )
