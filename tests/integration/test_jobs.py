"""The JobQueue wakes the scheduler; two Applications on one database send each slot once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.clock import FakeClock
from bot.content.loader import Content
from bot.sandbox.driver import BotHarness, GroupChat, harness_config, make_group
from bot.sandbox.emulator import Emulator
from bot.scheduling import SlotRun


def add_probe_action(harness: BotHarness) -> None:
    services = harness.services

    async def job_probe(run: SlotRun) -> None:
        await services.sender.send(run.chat_id, f"probe {run.slot_at:%H:%M}")

    services.scheduler.register("probe", job_probe)


async def schedule_probe(harness: BotHarness, chat_id: int, at: str) -> None:
    s = harness.services
    async with s.db.session() as session:
        await s.scheduler.upsert(
            session,
            chat_id=chat_id,
            kind="probe",
            days="daily",
            time_of_day=at,
            timezone="Asia/Shanghai",
        )


async def test_the_job_queue_ticks_the_scheduler_by_itself(
    emulator: Emulator, database_url: str, clock: FakeClock, content: Content
) -> None:
    config = harness_config(emulator, database_url, scheduling={"tick_seconds": 0.2})
    bot = BotHarness(emulator, config, clock, content=content, jobs=True)
    await bot.start()
    try:
        firm = await make_group(bot, "己律师事务所", ["张三"])
        add_probe_action(bot)
        await schedule_probe(bot, firm.id, "08:30")
        clock.advance(timedelta(minutes=31))  # 08:31: due
        await emulator.wait_for(lambda: firm.last().text == "probe 00:30", timeout=5)
        await asyncio.sleep(0.5)  # several more real ticks at the same fake time
        assert firm.texts().count("probe 00:30") == 1
    finally:
        await bot.stop()


async def test_two_applications_sharing_one_database_send_each_slot_once(
    emulator: Emulator, database_url: str, clock: FakeClock, content: Content, harness: BotHarness
) -> None:
    firm = await make_group(harness, "庚律师事务所", ["张三"])
    other = BotHarness(
        emulator, harness_config(emulator, database_url), clock, content=content, polling=False
    )
    await other.start()
    try:
        for bot in (harness, other):
            add_probe_action(bot)
        await schedule_probe(harness, firm.id, "09:00")
        clock.set(clock.now().replace(hour=1, minute=0, second=1))  # 09:00:01 in Shanghai
        for _ in range(3):
            await asyncio.gather(harness.tick(), other.tick(), harness.tick(), other.tick())
            clock.advance(timedelta(days=1))
        clock.advance(timedelta(days=-1))
        await harness.restart()
        add_probe_action(harness)
        await asyncio.gather(harness.tick(), other.tick())
    finally:
        await other.stop()
    probes = [t for t in firm.texts() if t.startswith("probe")]
    assert probes == ["probe 01:00"] * 3  # slot times are UTC: 09:00 in Shanghai


async def test_greeting_and_help_still_work_after_a_restart(
    harness: BotHarness, firm: GroupChat
) -> None:
    await harness.restart()
    await firm.say("李四", "/help")
    assert "可用命令" in firm.last().text


async def test_groups_registered_before_a_feature_shipped_get_its_schedules(
    harness: BotHarness,
) -> None:
    from sqlalchemy import select

    from bot.db.models import Chat, Schedule

    s = harness.services
    # The start-up sync runs in the background (bot/app.py); on a loaded machine it can
    # still be running when the chats below are added and sync them itself, leaving this
    # test's own call nothing to do. Let it finish first.
    await harness.emulator.wait_for(lambda: "hooks_sync" in s.extras, timeout=10)
    await s.extras["hooks_sync"]
    async with s.db.session() as session:
        session.add(Chat(id=-4242, type="supergroup", title="旧群", settings={}, active=True))
        session.add(Chat(id=-4343, type="group", title="已退出", settings={}, active=False))
    assert await s.sync_chat_hooks() == 1
    async with s.db.session() as session:
        kinds = set(
            (await session.scalars(select(Schedule.kind).where(Schedule.chat_id == -4242))).all()
        )
        chat = await session.get(Chat, -4242)
    assert {"study", "quiz", "weekly_report"} <= kinds
    assert chat is not None and chat.hooks_version == s.hooks_version
    assert await s.sync_chat_hooks() == 0
