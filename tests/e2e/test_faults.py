"""Faults on PostgreSQL: the database restarts, the Bot API fails; secrets stay secret.

Two `firmbot run` processes behind nginx (tests/e2e/cluster.py) while PostgreSQL is
stopped and started again, or while the emulator answers 5xx, stalls past the client's
timeout and answers 429 in bursts: every update and every message arrives, once.
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot import outbox
from bot.config import DatabaseConfig
from bot.db import Database
from bot.sandbox.emulator import Emulator, EmuUser
from tests.e2e.cluster import (
    PYTHON,
    ROOT,
    SECRET,
    TOKEN,
    Cluster,
    cluster,
    emulator_for_cluster,
    free_port,
    leak_check,
    require_postgresql,
    wait_until,
)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with emulator_for_cluster() as emulator:
        yield emulator


def silent_groups(emu: Emulator, count: int) -> list[int]:
    ids = []
    for index in range(count):
        chat = emu.create_group(f"律所{index}")
        emu.set_member(chat.id, emu.bot_user, "administrator")
        ids.append(chat.id)
    return ids


def firm_groups(emu: Emulator, count: int, members: int) -> list[tuple[int, list[EmuUser]]]:
    """Groups that add the bot (registered, greeted), each with its own members."""
    firms = []
    for index in range(count):
        chat = emu.create_group(f"示范律师事务所{index}")
        people = [emu.create_user(f"律师{index}-{n}") for n in range(members)]
        emu.set_member(chat.id, people[0], "creator")
        for person in people[1:]:
            emu.set_member(chat.id, person)
        emu.add_bot(chat.id, people[0], as_admin=True)
        firms.append((chat.id, people))
    return firms


def help_replies(emu: Emulator, chat_id: int) -> int:
    return sum("可用命令" in m.text for m in emu.messages(chat_id))


async def enqueue(database_url: str, ref: str, chat_ids: list[int]) -> None:
    db = Database(DatabaseConfig(url=database_url))
    try:
        async with db.session() as session:
            await outbox.enqueue(
                session,
                kind="e2e",
                ref=ref,
                chat_ids=chat_ids,
                payload={"text": f"<b>通知</b> {ref}"},
                now=datetime.now(UTC),
            )
    finally:
        await db.dispose()


async def all_health(running: Cluster) -> list[tuple[int, dict[str, object]]]:
    return [await bot.health() for bot in running.bots]


# --- PostgreSQL restarts ---


@dataclass
class OwnPostgres:
    """A throwaway cluster (scripts/pg.sh) this test may stop and start."""

    dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def bindir() -> Path | None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        return Path(found[-1]).parent if found else None

    @classmethod
    async def create(cls) -> OwnPostgres:
        if cls.bindir() is None:
            pytest.skip("PostgreSQL server binaries are not installed")
        # Under /tmp, not pytest's private tmp_path: the server runs as postgres.
        directory = Path(tempfile.mkdtemp(prefix="firmbot-pg-restart-"))
        out = await cls._run("bash", str(ROOT / "scripts" / "pg.sh"), "start", str(directory))
        match = re.search(r":(\d+)/postgres", out)
        assert match, out
        return cls(directory, int(match.group(1)))

    @staticmethod
    async def _run(*command: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode()
        return out.decode()

    async def _pg_ctl(self, *args: str) -> None:
        bindir = self.bindir()
        assert bindir is not None
        command = [str(bindir / "pg_ctl"), "-D", str(self.dir / "data"), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        await self._run(*command)

    async def stop_server(self) -> None:
        await self._pg_ctl("-m", "fast", "-w", "stop")

    async def start_server(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=400"
        )
        await self._pg_ctl(
            "-l", str(self.dir / "server.log"), "-w", "-t", "60", "-o", options, "start"
        )

    async def destroy(self) -> None:
        await self._run("bash", str(ROOT / "scripts" / "pg.sh"), "stop", str(self.dir))


@pytest.mark.slow
async def test_postgresql_restart_while_the_bots_run(emu: Emulator, tmp_path: Path) -> None:
    pg = await OwnPostgres.create()
    try:
        # A fresh database: both processes start together and migrate one at a time.
        async with cluster(emu, pg.url, tmp_path) as running:
            firms = firm_groups(emu, 3, 3)
            await emu.wait_delivered(emu.last_update_id, timeout=30)

            stopped_at = time.monotonic()
            await pg.stop_server()

            async def all_unhealthy() -> bool:
                return all(
                    status == 503 and body.get("database") != "ok"
                    for status, body in await all_health(running)
                )

            await wait_until(all_unhealthy, 15, "both report unhealthy")
            metrics = await running.bots[0].metrics()
            assert metrics["firmbot_database_up"] == 0
            asked = [
                emu.send_message(chat_id, person, "/help")
                for chat_id, people in firms
                for person in people[1:]
            ]
            # Telegram (the emulator) is told to try again, and does; one chat's updates
            # wait for its first one.
            firsts = asked[:: len(firms[0][1]) - 1]
            await wait_until(
                lambda: all(len(emu.webhook_attempts(u["update_id"])) >= 2 for u in firsts),
                20,
                "retried deliveries",
            )
            await asyncio.sleep(3)  # a few seconds of outage: more retries, a lost leader
            assert all(help_replies(emu, chat_id) == 0 for chat_id, _ in firms)
            assert all(len(emu.webhook_attempts(u["update_id"])) >= 3 for u in firsts)
            statuses = {a.status for u in asked for a in emu.webhook_attempts(u["update_id"])}
            assert statuses <= {502, 503}, statuses

            await pg.start_server()
            down_for = time.monotonic() - stopped_at
            restarted_at = time.monotonic()
            await running.wait_healthy(timeout=60)
            healthy_after = time.monotonic() - restarted_at
            await emu.wait_delivered(emu.last_update_id, timeout=60)
            delivered_after = time.monotonic() - restarted_at
            for chat_id, people in firms:
                assert help_replies(emu, chat_id) == len(people) - 1

            # Background work resumed: the leader lost its lock with the old server; there is
            # one again, and a broadcast goes out once.
            assert "no longer the leader: lock connection lost" in running.logs()
            await running.leader()
            audience = silent_groups(emu, 20)
            await enqueue(pg.url, "after-restart", audience)
            await wait_until(
                lambda: all(emu.messages(chat_id) for chat_id in audience), 30, "broadcast"
            )
            assert all(len(emu.messages(chat_id)) == 1 for chat_id in audience)
            leak_check(running.logs())
            print(
                f"\nPostgreSQL down {down_for:.1f} s; healthy {healthy_after:.1f} s after the "
                f"restart; retried updates handled {delivered_after:.1f} s after it"
            )
    finally:
        await pg.destroy()


# --- the Bot API fails ---


@pytest.mark.slow
async def test_bot_api_5xx_timeouts_and_429_bursts_lose_nothing_and_repeat_nothing(
    emu: Emulator, database_url: str, tmp_path: Path
) -> None:
    require_postgresql(database_url)
    overrides = {
        "log_level": "DEBUG",
        # The production lease: an outbox row retried for longer than its lease is claimed
        # again by the worker's next batch (see the report), and these faults keep some
        # rows in flight for over 10 s.
        "scheduling": {"lease_seconds": 300},
        # These faults are dense: one message may meet two 429 bursts, a timeout and 5xx
        # answers, and the sender's default budget (5, shared by 429s and errors) gives up.
        "sender": {"max_retries": 8},
    }
    async with cluster(emu, database_url, tmp_path, overrides=overrides) as running:
        firms = firm_groups(emu, 4, 6)
        await emu.wait_delivered(emu.last_update_id, timeout=30)
        audience = silent_groups(emu, 150)

        emu.seed = 8
        emu.error_rate_5xx = 0.05
        # Beyond the client's 5 s read timeout: the bot gives up on these and retries.
        emu.stall_next("sendMessage", seconds=6, count=3)
        emu.fail_next("sendMessage", status=429, retry_after=1, count=5)
        await enqueue(database_url, "faults", audience)
        for chat_id, people in firms:
            for person in people[1:]:
                emu.send_message(chat_id, person, "/help")
        await wait_until(
            lambda: sum(bool(emu.messages(c)) for c in audience) >= 60, 60, "half the broadcast"
        )
        emu.fail_next(None, status=429, retry_after=1, count=8)

        await wait_until(
            lambda: all(emu.messages(c) for c in audience), 120, "every chat of the broadcast"
        )
        await emu.wait_delivered(emu.last_update_id, timeout=60)
        emu.error_rate_5xx = 0.0
        assert [c for c in audience if len(emu.messages(c)) != 1] == []
        for chat_id, people in firms:
            assert help_replies(emu, chat_id) == len(people) - 1
        answers = [c.status for c in emu.calls("sendMessage")]
        assert 500 in answers and 429 in answers and 504 in answers

        logs = running.logs()
        assert "DEBUG" in logs and "sendMessage" in logs  # a verbose run was captured
        leak_check(logs)
        for bot in running.bots:
            leak_check(await bot.metrics_text())
            leak_check(str(await bot.health()))


# --- secrets in errors ---


async def _run_once(config: dict[str, object], tmp_path: Path, *args: str) -> tuple[int, str]:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "bot.cli",
        "-c",
        str(path),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={
            **os.environ,
            "FIRMBOT_TOKEN": TOKEN,
            "FIRMBOT_DATABASE_URL": "",
            "FIRMBOT_WEBHOOK_SECRET": "",
            "FIRMBOT_WEBHOOK_PORT": "",
        },
        cwd=str(ROOT),
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_secrets_never_appear_in_errors(emu: Emulator, tmp_path: Path) -> None:
    base: dict[str, object] = {
        "telegram": {"mode": "webhook", "base_url": emu.base_url},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"},
        "log_level": "DEBUG",
    }
    # Telegram refuses the webhook (plain http to another machine): one line, no secret.
    webhook = {"url": "http://firm.example/telegram", "secret_token": SECRET, "port": free_port()}
    refused = {**base, "webhook": webhook}
    code, out = await _run_once(refused, tmp_path, "run")
    assert code == 1, out
    assert "firmbot: Telegram refused to start the bot: Bad webhook" in out
    assert "Traceback" not in out
    leak_check(out)

    # A secret Telegram would refuse is named by its key, never shown.
    bad = SECRET + "!中文"
    config = {**base, "webhook": {"url": "https://x/y", "secret_token": bad}}
    code, out = await _run_once(config, tmp_path, "check-config")
    assert code == 1 and "webhook.secret_token: must be 1-256 characters" in out
    assert bad not in out and SECRET not in out
    code, out = await _run_once({**base, "webhook": {"url": "https://x/y"}}, tmp_path, "run")
    assert code == 1 and "webhook.secret_token: required when telegram.mode is webhook" in out
