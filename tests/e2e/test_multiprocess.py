"""Two `firmbot run` processes behind nginx on one PostgreSQL: nothing lost, nothing twice.

Each test starts Debian's nginx with deploy/nginx's config in front of two bot processes
in webhook mode (tests/e2e/cluster.py); the emulator plays Telegram, delivering updates
through nginx with the secret header and retrying whatever is not answered 2xx.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import func, select, update

from bot import outbox
from bot.calendar import WorkCalendar
from bot.clock import Clock
from bot.config import DatabaseConfig, SchedulingConfig
from bot.db import Database
from bot.db.models import Chat, Member, OutboxMessage, ProcessedUpdate, Schedule, SlotClaim, User
from bot.sandbox.emulator import Emulator
from bot.scheduling import Scheduler, owner_host_and_pid
from bot.study import KIND as STUDY
from bot.web import SECRET_HEADER
from tests.e2e.cluster import (
    BUDGET_CHECK_PER_SECOND,
    JITTER_REFUSALS,
    SECRET,
    busiest_second,
    cluster,
    emulator_for_cluster,
    http_get,
    leak_check,
    one_at_a_time,
    require_postgresql,
    settles_to,
    wait_until,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with emulator_for_cluster() as emulator:
        yield emulator


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    require_postgresql(database_url)
    database = Database(DatabaseConfig(url=database_url))
    yield database
    await database.dispose()


def silent_groups(emu: Emulator, count: int, prefix: str) -> list[int]:
    """Groups the bot is already in (no updates): the audience of a broadcast."""
    ids = []
    for index in range(count):
        chat = emu.create_group(f"{prefix}{index}")
        emu.set_member(chat.id, emu.bot_user, "administrator")
        ids.append(chat.id)
    return ids


def copies(emu: Emulator, chat_ids: list[int]) -> dict[int, int]:
    return {chat_id: len(emu.messages(chat_id)) for chat_id in chat_ids}


async def test_every_update_is_handled_once_by_one_of_two_processes(
    emu: Emulator, database_url: str, db: Database, tmp_path: Path
) -> None:
    async with cluster(emu, database_url, tmp_path) as running:
        creator = emu.create_user("主任")
        lawyers = [emu.create_user(f"律师{i}") for i in range(10)]
        groups = []
        for index in range(20):
            chat = emu.create_group(f"律所{index}")
            emu.set_member(chat.id, creator, "creator")
            for lawyer in lawyers:
                emu.set_member(chat.id, lawyer)
            groups.append(chat.id)
        for chat_id in groups:
            emu.add_bot(chat_id, creator, as_admin=True)
        # Every lawyer speaks in every group at once: the same users are written by both
        # processes concurrently; one /help per group wants exactly one answer.
        await emu.wait_delivered(emu.last_update_id, timeout=60)
        first_update = emu.last_update_id + 1
        started = time.monotonic()
        for chat_id in groups:
            for lawyer in lawyers:
                emu.send_message(chat_id, lawyer, f"{lawyer.first_name}：今天学习了")
            emu.send_message(chat_id, lawyers[0], "/help")
        await emu.wait_delivered(emu.last_update_id, timeout=90)
        elapsed = time.monotonic() - started
        burst = emu.last_update_id - first_update + 1
        retried = collections.Counter(
            a.status for a in emu.webhook_deliveries if a.update_id >= first_update and not a.ok
        )
        for chat_id in groups:
            texts = [m.text for m in emu.messages(chat_id)]
            assert len(texts) == 2 and "可用命令" in texts[1], texts

        metrics = [await bot.metrics() for bot in running.bots]
        handled = [m["firmbot_updates_handled_total"] for m in metrics]
        assert sum(handled) == emu.last_update_id == 20 * 12
        assert all(n > 0 for n in handled), handled  # nginx spread them over both
        async with db.session() as session:
            done = await session.scalar(
                select(func.count()).where(ProcessedUpdate.done_at.is_not(None))
            )
            users = await session.scalar(select(func.count()).select_from(User))
            members = await session.scalar(select(func.count()).where(Member.chat_id.in_(groups)))
        assert done == emu.last_update_id
        assert users == 11 and members == 20 * 11

        # Refused without the secret, through nginx as from anywhere else.
        assert (await http_get(emu.webhook_url))[0] == 403  # nginx: POST only
        async with aiohttp.ClientSession() as session:
            for headers in ({}, {SECRET_HEADER: "guess"}):
                async with session.post(
                    emu.webhook_url, json={"update_id": 10**9}, headers=headers
                ) as response:
                    assert response.status == 403
        for bot in running.bots:
            leak_check(await bot.metrics_text())
        leak_check(running.logs())
        assert SECRET not in running.logs()
        # SIGTERM: both stop cleanly.
        assert [await bot.stop() for bot in running.bots] == [0, 0]
        print(
            f"\n{burst} concurrent updates (20 chats) through nginx to two processes in "
            f"{elapsed:.1f} s ({burst / elapsed:.0f}/s); answered non-2xx and delivered again: "
            f"{dict(retried)}; handled per process: {handled}"
        )


@pytest.mark.slow
async def test_kill_9_of_the_leader_in_the_middle_of_a_broadcast_to_1000_chats(
    emu: Emulator, database_url: str, db: Database, tmp_path: Path
) -> None:
    async with cluster(emu, database_url, tmp_path) as running:
        emu.enforce_rate_limits(global_per_second=BUDGET_CHECK_PER_SECOND, per_group_per_minute=20)
        chats = silent_groups(emu, 1000, "律所")
        leader = await running.leader()
        survivor = next(bot for bot in running.bots if bot is not leader)
        started = time.monotonic()
        async with db.session() as session:
            await outbox.enqueue(
                session,
                kind="e2e",
                ref="broadcast",
                chat_ids=chats,
                payload={"text": "<b>关于开展学习活动的通知</b>"},
                now=datetime.now(UTC),
            )
        await wait_until(lambda: sum(copies(emu, chats).values()) >= 300, 60, "300 sent")
        first_phase = time.monotonic() - started

        # Freeze Telegram mid-broadcast, so the leader has sends in flight that did not
        # arrive (see the report: a send Telegram accepted whose answer was never recorded
        # cannot be told from one that never arrived, by any Bot API client).
        emu.hold()
        await wait_until(lambda: emu.held > 0, 10, "sends in flight")
        await asyncio.sleep(0.5)  # answers already on their way are recorded
        in_flight = emu.held
        await leader.kill()
        await asyncio.sleep(0.3)  # the kernel has closed the dead process's connections
        emu.release()
        killed_at = time.monotonic()
        delivered_at_kill = sum(copies(emu, chats).values())

        await wait_until(lambda: all(copies(emu, chats).values()), 120, "every chat reached")
        finished = time.monotonic()
        per_chat = copies(emu, chats)
        assert set(per_chat.values()) == {1}, "a chat got no copy or two"
        refused = [c for c in emu.calls("sendMessage") if c.status == 429]
        assert len(refused) <= JITTER_REFUSALS, f"{len(refused)} sends over the budget"
        health = await survivor.health()
        assert health[0] == 200 and health[1]["leader"] is True

        async def statuses() -> dict[str, int]:
            async with db.session() as session:
                rows = await session.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                )
                return dict(rows.all())

        # The last copy arrives a moment before its row is marked sent.
        await settles_to(statuses, {outbox.SENT: 1000}, 10, "outbox rows")
        async with db.session() as session:
            sent = (
                await session.execute(select(OutboxMessage.claimed_by, OutboxMessage.sent_at))
            ).all()
        drainers = one_at_a_time(sent)
        pids = [owner_host_and_pid(owner)[1] for owner in drainers]
        assert survivor.proc is not None and leader.proc is not None
        assert pids == [leader.proc.pid, survivor.proc.pid], drainers
        print(
            f"\nbroadcast: 300 in {first_phase:.1f} s; {in_flight} sends held at the kill, "
            f"{delivered_at_kill} delivered by then; the survivor finished "
            f"{1000 - delivered_at_kill} in {finished - killed_at:.1f} s "
            f"({(1000 - delivered_at_kill) / (finished - killed_at):.1f}/s); "
            f"busiest second: {busiest_second(emu)} messages"
        )


async def _due_study_morning(db: Database, chat_ids: list[int]) -> datetime:
    """200 groups whose daily study prompt fell due a moment ago (as at 09:00)."""
    now = datetime.now(UTC)
    local = now.astimezone(SHANGHAI).replace(second=0, microsecond=0)
    slot = local.astimezone(UTC)
    scheduler = Scheduler(db, Clock(), SchedulingConfig(), WorkCalendar())
    async with db.session() as session:
        for chat_id in chat_ids:
            session.add(
                Chat(
                    id=chat_id,
                    type="group",
                    title=f"律所{chat_id}",
                    active=True,
                    bot_is_admin=True,
                    settings={},
                    created_at=now,
                    updated_at=now,
                )
            )
        await session.flush()
        for chat_id in chat_ids:
            await scheduler.upsert(
                session,
                chat_id=chat_id,
                kind=STUDY,
                days="daily",
                time_of_day=f"{local:%H:%M}",
                timezone="Asia/Shanghai",
            )
        # upsert schedules the next slot after now (tomorrow); the morning is today's.
        await session.execute(
            update(Schedule).where(Schedule.kind == STUDY).values(next_due_at=slot)
        )
    return slot


@pytest.mark.slow
async def test_kill_9_of_the_leader_in_the_middle_of_a_morning_of_200_study_prompts(
    emu: Emulator, database_url: str, db: Database, tmp_path: Path
) -> None:
    async with cluster(emu, database_url, tmp_path) as running:
        emu.enforce_rate_limits(global_per_second=BUDGET_CHECK_PER_SECOND, per_group_per_minute=20)
        chats = silent_groups(emu, 200, "律所")
        leader = await running.leader()
        started = time.monotonic()
        await _due_study_morning(db, chats)
        await wait_until(lambda: sum(copies(emu, chats).values()) >= 60, 60, "60 prompts")

        emu.hold()
        await wait_until(lambda: emu.held > 0, 10, "a prompt in flight")
        await asyncio.sleep(0.5)
        await leader.kill()
        await asyncio.sleep(0.3)
        emu.release()
        killed_at = time.monotonic()

        await wait_until(lambda: all(copies(emu, chats).values()), 90, "every group prompted")
        finished = time.monotonic()
        assert set(copies(emu, chats).values()) == {1}
        refused = [c for c in emu.calls("sendMessage") if c.status == 429]
        assert len(refused) <= JITTER_REFUSALS, f"{len(refused)} sends over the budget"

        async def claims() -> dict[str, int]:
            async with db.session() as session:
                rows = await session.execute(
                    select(SlotClaim.status, func.count())
                    .where(SlotClaim.kind == STUDY)
                    .group_by(SlotClaim.status)
                )
                return dict(rows.all())

        # The last prompt arrives a moment before its claim is marked done.
        await settles_to(claims, {"done": 200}, 10, "study claims")
        async with db.session() as session:
            ran = (
                await session.execute(
                    select(SlotClaim.claimed_by, SlotClaim.finished_at).where(
                        SlotClaim.kind == STUDY
                    )
                )
            ).all()
        # The dead leader's claims, then the survivor's.
        assert len(one_at_a_time(ran)) == 2
        print(
            f"\nmorning: 200 prompts, kill after {killed_at - started:.1f} s; "
            f"all done {finished - killed_at:.1f} s later (the claim in flight waits for "
            f"its 10 s lease); busiest second: {busiest_second(emu)} messages"
        )
