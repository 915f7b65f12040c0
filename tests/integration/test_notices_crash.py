"""Kill the bot process mid-broadcast to 500 groups, start it again: each gets one copy.

The bot runs as a real process (``firmbot run``) against the emulator in this test. When
about half the groups have the notice, the emulator holds the sends that reach it, the
bot's record catches up with what was delivered, and the process is killed with SIGKILL
while sends are in flight (their rows still "sending"). Those held calls never reach
"Telegram" (their client is gone), so after the restart the rows of the dead process are
queued again at once and delivered exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from bot import outbox
from bot.clock import Clock
from bot.content.loader import Content
from bot.db import Database
from bot.db.models import OutboxMessage
from bot.notices import delivery
from bot.sandbox.driver import harness_config
from bot.sandbox.emulator import Emulator
from tests.integration.test_notices_delivery import SEED, TITLE, import_notice, many_groups

GROUPS = 500
LATENCY = 0.05

pytestmark = pytest.mark.timeout(90)


def bot_config(emulator: Emulator, database_url: str, path: Path) -> Path:
    data: dict[str, Any] = {
        "telegram": {"base_url": emulator.base_url, "poll_timeout": 1},
        "database": {"url": database_url},
        "scheduling": {"tick_seconds": 3600, "lease_seconds": 30},
        "sender": {"global_per_second": 150},
        "log_level": "WARNING",
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


async def start_bot(config: Path, token: str, log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "-c",
        str(config),
        "run",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log.open("ab"),
        env={**os.environ, "FIRMBOT_TOKEN": token, "FIRMBOT_DATABASE_URL": ""},
    )


async def sent_rows(db: Database, notice_id: int, status: str) -> int:
    async with db.session() as session:
        query = select(func.count()).where(
            OutboxMessage.kind == delivery.KIND,
            OutboxMessage.ref == str(notice_id),
            OutboxMessage.status == status,
        )
        return int(await session.scalar(query) or 0)


async def test_kill_mid_broadcast_and_restart_every_group_gets_exactly_one_copy(
    emulator: Emulator, database_url: str, content: Content, tmp_path: Path
) -> None:
    config = harness_config(emulator, database_url)
    db = Database(config.database)
    log = tmp_path / "bot.log"
    try:
        now = Clock().now()
        groups = await many_groups(emulator, db, GROUPS, now)
        number = await import_notice(db, content.texts, config, SEED, now)

        def copies() -> list[int]:
            return [
                sum(1 for m in emulator.messages(g) if m.text.startswith(TITLE)) for g in groups
            ]

        emulator.latency = LATENCY
        path = bot_config(emulator, database_url, tmp_path / "bot.yaml")
        bot = await start_bot(path, emulator.token, log)
        try:
            await emulator.wait_for(lambda: sum(copies()) >= GROUPS // 2, timeout=40)
            # Hold what reaches the emulator from now on; once the bot has recorded every
            # delivered message and its next sends are held (in flight), kill it.
            emulator.hold()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while not (
                emulator.held > 0 and await sent_rows(db, number, outbox.SENT) == sum(copies())
            ):
                assert loop.time() < deadline, "the bot did not settle under the hold"
                await asyncio.sleep(0.01)
            await asyncio.sleep(LATENCY * 2)  # every send already on its way is held too
            bot.send_signal(signal.SIGKILL)
            await bot.wait()
        finally:
            if bot.returncode is None:
                bot.kill()
                await bot.wait()
        delivered_before = sum(copies())
        in_flight = await sent_rows(db, number, outbox.SENDING)
        assert 0 < delivered_before < GROUPS
        assert in_flight > 0  # the kill left sends in flight
        await asyncio.sleep(LATENCY * 2)
        emulator.release()
        await asyncio.sleep(LATENCY)
        dropped = [c for c in emulator.calls("sendMessage") if c.status == 499]
        assert dropped, "no send was in flight at the kill"
        assert sum(copies()) == delivered_before  # held calls of a dead client never arrive

        bot = await start_bot(path, emulator.token, log)
        try:
            await emulator.wait_for(lambda: sum(copies()) >= GROUPS, timeout=40)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while await sent_rows(db, number, outbox.SENT) < GROUPS:
                assert loop.time() < deadline, "the restarted bot did not record every send"
                await asyncio.sleep(0.05)
        finally:
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 30)
        assert copies() == [1] * GROUPS, log.read_text(encoding="utf-8")[-3000:]
        assert await sent_rows(db, number, outbox.SENT) == GROUPS
    finally:
        await db.dispose()
